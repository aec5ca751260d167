"""The whole analysis of one study on ONNX Runtime: the engine behind `mommi analyze` and both front ends.

Stages (DESIGN.md, plus the single-view map as evidence and last fall-back): load ->
preprocess -> nipple -> single -> bilateral -> ipsilateral -> fusion -> findings -> malignancy,
each batched over the views it applies to and
timed. Sessions are created once per ``Pipeline`` (SHA-256 checked by the zoo
loader) and reused for every study. A zoo that lacks a later model still
analyses: the stage falls back to what is there (fusion missing: the bilateral
map; classifier missing: no malignancy scores) and the result says so in its
warnings. ``progress(stage, fraction)`` is called as stages finish and
``cancel()`` is polled between stages; a cancelled analysis raises
``AnalysisCancelled`` and leaves nothing half-written (outputs are written by
``mommi.runtime.outputs`` from a finished result only).
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from mommi import __version__
from mommi.errors import NoStudyFoundError
from mommi.findings.contours import ellipse_contour, region_contour
from mommi.findings.regions import CANDIDATE_THRESHOLD
from mommi.findings.render import render_detections
from mommi.preprocess.model_input import PreparedView
from mommi.runtime.detection_chain import Branch, DetectionChain, choose_branch, map_regions
from mommi.runtime.malignancy import MalignancyClassifier
from mommi.runtime.result import Evidence, FindingResult, StudyResult, ViewResult
from mommi.runtime.zoo import ModelNotInZooError, ZooError, default_manifest_path, read_manifest
from mommi.study.loader import load_study
from mommi.study.model import MammoImage, Study, View

STAGES = ("load", "preprocess", "nipple", "single", "bilateral", "ipsilateral", "fusion", "findings", "malignancy")
#: the reporting threshold of a zoo that records no operating point (set on real films by
#: `mommi zoo operating-point`, see ``reporting_threshold``); `--min-score` overrides either
DEFAULT_MIN_SCORE = 0.2
#: the same mass in CC and MLO lies at about the same distance from the nipple (METHOD.md's ipsilateral
#: prior): findings of one breast whose nipple distances differ by less than this share are linked
PARTNER_TOLERANCE = 0.15

ProgressCallback = Callable[[str, float], None]
CancelCheck = Callable[[], bool]


class AnalysisCancelled(Exception):
    """The caller's cancel() returned True; no result was produced."""


def reporting_threshold(zoo: Path | None) -> tuple[float, dict | None]:
    """The default reporting score and the zoo's recorded operating point (None: the built-in default).

    The zoo manifest's ``operating_point`` was chosen on real films for a target number
    of false marks per image (``mommi.eval.operating_point``); it travels with the
    models it was measured for.
    """
    point = read_manifest(zoo or default_manifest_path()).get("operating_point")
    if isinstance(point, dict) and isinstance(point.get("min_score"), (int, float)):
        return float(point["min_score"]), point
    return DEFAULT_MIN_SCORE, None


class Pipeline:
    def __init__(
        self,
        zoo: Path | None = None,
        device: str = "auto",
        min_score: float | None = None,
        size: str = "lite",
        decode_processes: int = 1,
    ) -> None:
        """``min_score`` None: the zoo's operating point (``reporting_threshold``)."""
        self.zoo, self.device = zoo, device
        self._cuda_reason: str | None = None
        default, self.operating_point = reporting_threshold(zoo)
        self.min_score = default if min_score is None else float(min_score)
        #: the zoo operating point's cap on marks per view; a caller's own --min-score shows every mark above it
        self.max_marks_per_view: int | None = (
            (self.operating_point or {}).get("max_marks_per_view") if min_score is None else None
        )
        #: processes that decode a study's files (``load_studies``); the command line uses one per core
        self.decode_processes = decode_processes
        self.chain = DetectionChain(zoo, device, size)
        self.missing: dict[str, str] = {}  # task -> why it is not available
        for task in ("single", "bidual", "ipsidual", "fusion"):
            try:
                self.chain.model(task)
            except ModelNotInZooError as exc:  # a tampered or missing file is not a fall-back: it raises
                self.missing[task] = str(exc)
        if "single" in self.missing:
            raise ZooError(f"the zoo has no single-view model, the last fall-back: {self.missing['single']}")
        try:
            self.classifier: MalignancyClassifier | None = MalignancyClassifier(
                zoo, device, f"malignancy-{size}", max_batch=64
            )
        except ModelNotInZooError as exc:
            self.classifier, self.missing["malignancy"] = None, str(exc)
        self.zoo_version = str(read_manifest(zoo or default_manifest_path()).get("zoo_version", "unknown"))

    @property
    def provider(self) -> str:
        return self.chain.model("nipple").provider

    def _loaded(self) -> list:
        return list(self.chain.loaded_models()) + ([self.classifier.model] if self.classifier else [])

    def models(self) -> dict[str, str]:
        return {m.name: m.entry["sha256"] for m in self._loaded()}

    def cuda_fallback(self) -> str | None:
        """With ``auto`` on the GPU build, why the sessions run on the CPU (None: CUDA used, or not expected)."""
        from mommi.runtime.providers import CUDA, cuda_status, detect_flavour

        if self.device != "auto" or detect_flavour().name != "gpu" or all(p == CUDA for p in self.providers().values()):
            return None
        if self._cuda_reason is None:
            self._cuda_reason = cuda_status()[1] or "CUDA is not used by some models (their sessions got the CPU)"
        return self._cuda_reason

    def providers(self) -> dict[str, str]:
        """The execution provider each session really got (a CUDA request can leave some on the CPU)."""
        return {m.name: m.provider for m in self._loaded()}

    def load(self, path: Path | list[Path]) -> tuple[Study, float]:
        """The study at ``path`` (a folder or its files) with pixels, and the seconds it took."""
        start = time.perf_counter()
        study = load_study(path, processes=self.decode_processes)
        return study, time.perf_counter() - start

    def analyze_path(
        self, path: Path | list[Path], progress: ProgressCallback | None = None, cancel: CancelCheck | None = None
    ) -> tuple[Study, StudyResult]:
        """Load and analyse one study.

        Raises:
            StudyInputError: nothing usable at ``path`` (NoStudyFoundError), several patients or studies.
            ZooError: a model of the chain is missing, altered or cannot run.
            AnalysisCancelled: ``cancel`` returned True between stages.
        """
        study, seconds = self.load(path)
        return study, self.analyze(study, progress, cancel, load_seconds=seconds)

    def analyze(
        self,
        study: Study,
        progress: ProgressCallback | None = None,
        cancel: CancelCheck | None = None,
        load_seconds: float | None = None,
    ) -> StudyResult:
        timings: dict[str, float] = {} if load_seconds is None else {"load": load_seconds}
        warnings = _input_warnings(study)
        images = {v: img for v, img in study.images.items() if img.pixels is not None}
        if not images:  # e.g. a lone FOR PROCESSING image: nothing was read, so nothing may be reported
            reasons = "; ".join(f"{s.image.path.name}: {s.reason}" for s in study.set_aside) or "no view has pixels"
            where = study.set_aside[0].image.path.parent if study.set_aside else None
            raise NoStudyFoundError(where, f"study {study.study_uid}: no view could be analysed ({reasons})")
        clock = [time.perf_counter()]

        def done(stage: str) -> None:
            now = time.perf_counter()
            timings[stage] = timings.get(stage, 0.0) + now - clock[0]
            clock[0] = now
            if progress is not None:
                progress(stage, (STAGES.index(stage) + 1) / len(STAGES))
            if cancel is not None and cancel():
                raise AnalysisCancelled(f"analysis of study {study.study_uid} cancelled after {stage}")

        chain = self.chain
        prepared = chain.prepare_views(images)
        done("preprocess")
        nipple_estimates = chain.nipple_estimates(prepared)
        nipples = {v: (e.x, e.y) for v, e in nipple_estimates.items()}
        done("nipple")
        single_maps = chain.single_maps(prepared, list(prepared))  # the last fall-back, and evidence for all
        done("single")
        bi_maps = chain.bilateral_maps(prepared, nipples) if "bidual" not in self.missing else {}
        done("bilateral")
        detections = chain.ipsilateral(prepared, nipples) if "ipsidual" not in self.missing else {}
        ipsi_maps = {v: render_detections(b, s, prepared[v].pixels.shape) for v, (b, s) in detections.items()}
        done("ipsilateral")
        fused = chain.fused_maps(prepared, ipsi_maps, bi_maps) if "fusion" not in self.missing else {}
        done("fusion")
        views, findings, maps = {}, [], {}
        for view, main in prepared.items():
            branch, final = _decide(view, bi_maps, ipsi_maps, fused, single_maps)
            if branch is not Branch.TRI_VIEW:
                warnings.append(_fallback_warning(view, branch, prepared, self.missing))
            regions = _candidates(branch, final, detections.get(view), max(self.min_score, CANDIDATE_THRESHOLD))
            kept = sorted(((box, score) for box, score in regions if score >= self.min_score), key=lambda r: -r[1])
            kept = kept[: self.max_marks_per_view] if self.max_marks_per_view else kept
            evidence_maps = {
                "single": single_maps.get(view),
                "bilateral": bi_maps.get(view),
                "ipsilateral": ipsi_maps.get(view),
                "fused": fused.get(view),
            }
            image = images[view]
            nipple = main.transform.to_original(np.array([nipples[view]]))[0]
            views[view.value] = _view_result(image, branch.value, nipple, nipple_estimates[view].source.value)
            for n, (box, score) in enumerate(kept, start=1):
                contour = ellipse_contour(box) if branch is Branch.IPSILATERAL else region_contour(final, box, score)
                findings.append(
                    _finding(f"{view.value}-{n}", view, main, image, box, contour, score, branch.value, evidence_maps)
                )
            maps[view.value] = (
                main.transform.invert(final.astype(np.float32)),
                main.transform.invert(main.mask.astype(np.uint8)).astype(bool),
            )
        _link_partners(findings, views)
        done("findings")
        if self.classifier is not None:
            self._score_malignancy(findings, images)
            if findings and self.classifier.withheld_reason:
                warnings.append(f"malignancy and BI-RADS not shown: the classifier {self.classifier.withheld_reason}")
        else:
            warnings.append(
                "malignancy classifier not in the model zoo: findings have no malignancy probability "
                "or BI-RADS estimate"
            )
        done("malignancy")
        fallback = self.cuda_fallback()
        if fallback:
            warnings.append(fallback)
        timings["total"] = sum(timings.values())
        return StudyResult(
            study_uid=study.study_uid,
            patient_key=study.patient_key,
            views=views,
            findings=findings,
            warnings=warnings,
            timings_s={k: round(v, 4) for k, v in timings.items()},
            models=self.models(),
            zoo_version=self.zoo_version,
            provider=self.provider,
            providers=self.providers(),
            device_requested=self.device,
            min_score=self.min_score,
            operating_point=self._operating_point_record(),
            created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
            mommi_version=__version__,
            maps={k: m for k, (m, _) in maps.items()},
            masks={k: m for k, (_, m) in maps.items()},
        )

    def _operating_point_record(self) -> dict:
        """What result.json says about the threshold in use: where it comes from and what it measured."""
        if self.operating_point is not None and self.min_score == float(self.operating_point["min_score"]):
            return {"source": "model zoo operating point", **self.operating_point}
        if self.operating_point is None and self.min_score == DEFAULT_MIN_SCORE:
            return {"source": "built-in default (the zoo records no operating point)", "min_score": self.min_score}
        return {
            "source": "set by the caller (--min-score)",
            "min_score": self.min_score,
            "zoo_operating_point": self.operating_point,
        }

    def _score_malignancy(self, findings: list[FindingResult], images: dict[View, MammoImage]) -> None:
        """Every finding's patch of every view in one batch (chunked by the classifier)."""
        assert self.classifier is not None
        from mommi.preprocess.patches import cut_patches

        if not findings:
            return
        patches = np.concatenate(
            [cut_patches(images[View(f.view)].loaded_pixels(), [f.box_px], self.classifier.spec) for f in findings]
        )
        withheld = self.classifier.withheld_reason
        for finding, score in zip(findings, self.classifier.scores(patches)):
            finding.malignancy_logit, finding.birads_value = round(score.logit, 5), round(score.birads_value, 5)
            finding.malignancy_calibrated = score.calibrated
            if withheld:
                finding.malignancy_withheld = withheld
            else:
                finding.malignancy, finding.birads = round(score.probability, 5), score.birads


def _decide(view: View, bi: dict, ipsi: dict, fused: dict, single: dict) -> tuple[Branch, np.ndarray]:
    """The branch that reads ``view`` (the chain's one rule, ``choose_branch``) given what ran, and its map."""
    branch = choose_branch(view, fused, bi, ipsi)
    maps = {Branch.TRI_VIEW: fused, Branch.BILATERAL: bi, Branch.IPSILATERAL: ipsi, Branch.SINGLE_VIEW: single}
    return branch, maps[branch][view]


def _candidates(branch: Branch, final: np.ndarray, detections: tuple | None, threshold: float) -> list:
    """IpsiDualNet's own boxes where it read the view; elsewhere the regions of the final map."""
    if branch is Branch.IPSILATERAL and detections is not None:
        boxes, scores = detections
        return [(tuple(float(v) for v in b), float(s)) for b, s in zip(boxes, scores)]
    return map_regions(final, threshold)


def _fallback_warning(view: View, branch: Branch, prepared: dict[View, PreparedView], missing: dict[str, str]) -> str:
    absent = [v.value for v in (view.bilateral, view.ipsilateral) if v not in prepared]
    if absent:
        return f"{view.value}: {' and '.join(absent)} not in the study; read by the {branch.value} branch"
    model = next((m for m in ("fusion", "bidual", "ipsidual") if m in missing), "a model")
    return f"{view.value}: {model}-lite is not in the model zoo; read by the {branch.value} branch instead"


def _short_path(path: Path, study: Study) -> str:
    """The file relative to the folder holding all of the study's files: datasets such as CBIS-DDSM
    name every file 1-1.dcm, so the name alone does not say which one was set aside."""
    files = [str(i.path.resolve()) for i in study.images.values()] + [
        str(s.image.path.resolve()) for s in study.set_aside
    ]
    try:
        return str(path.resolve().relative_to(os.path.commonpath(files)))
    except ValueError:  # different drives, or a single file: its own name is unambiguous then
        return path.name


def _input_warnings(study: Study) -> list[str]:
    warnings = list(study.warnings)
    warnings += [f"{_short_path(s.image.path, study)} set aside: {s.reason}" for s in study.set_aside]
    warnings += [f"{e}" for e in study.errors]
    for view, image in study.images.items():
        warnings += [f"{view.value}: {w}" for w in image.warnings]
        if image.pixels is None:
            warnings.append(f"{view.value}: pixels not loaded; view not analysed")
    return warnings


def _view_result(image: MammoImage, branch: str, nipple: np.ndarray, nipple_source: str) -> ViewResult:
    spacing = [image.spacing.row_mm, image.spacing.col_mm] if image.spacing else None
    return ViewResult(
        view=image.view.value if image.view else image.label,
        path=str(image.path),
        sop_instance_uid=image.sop_instance_uid,
        rows=image.rows,
        cols=image.cols,
        spacing_mm=spacing,
        branch=branch,
        nipple_px=[round(float(nipple[0]), 2), round(float(nipple[1]), 2)],
        nipple_source=nipple_source,
    )


def _peak(prob: np.ndarray | None, box: tuple[float, float, float, float]) -> float | None:
    if prob is None:
        return None
    x0, y0, x1, y1 = (int(round(v)) for v in box[:4])
    window = prob[max(y0, 0) : max(y1, y0) + 1, max(x0, 0) : max(x1, x0) + 1]
    return round(float(window.max()), 5) if window.size else 0.0


def _finding(
    ident: str,
    view: View,
    main: PreparedView,
    image: MammoImage,
    box: tuple[float, float, float, float],
    contour: np.ndarray,
    score: float,
    branch: str,
    maps: dict[str, np.ndarray | None],
) -> FindingResult:
    to_original = main.transform
    box_px = [round(float(v), 2) for v in to_original.box_to_original(box)]
    contour_px = [[round(float(x), 2), round(float(y), 2)] for x, y in to_original.to_original(contour)]
    finding = FindingResult(
        id=ident,
        view=view.value,
        box_px=box_px,
        contour_px=contour_px,
        score=round(score, 5),
        branch=branch,
        evidence=Evidence(**{k: _peak(m, box) for k, m in maps.items()}),
    )
    if image.spacing:
        sy, sx = image.spacing.row_mm, image.spacing.col_mm
        finding.box_mm = [
            round(box_px[0] * sx, 3),
            round(box_px[1] * sy, 3),
            round(box_px[2] * sx, 3),
            round(box_px[3] * sy, 3),
        ]
        finding.contour_mm = [[round(x * sx, 3), round(y * sy, 3)] for x, y in contour_px]
    return finding


def _link_partners(findings: list[FindingResult], views: dict[str, ViewResult]) -> None:
    """Pair each breast's CC and MLO findings by nipple distance (mm where known), best scores first."""

    def distance(f: FindingResult) -> float:
        v = views[f.view]
        sy, sx = v.spacing_mm or (1.0, 1.0)
        cx, cy = (f.box_px[0] + f.box_px[2]) / 2.0, (f.box_px[1] + f.box_px[3]) / 2.0
        nipple = v.nipple_px or (0.0, 0.0)  # every analysed view has its nipple (the nipple network's output)
        return float(np.hypot((cx - nipple[0]) * sx, (cy - nipple[1]) * sy))

    for side in ("L", "R"):
        cc = [f for f in findings if f.view == f"{side}-CC"]
        mlo = [f for f in findings if f.view == f"{side}-MLO"]
        pairs = []
        for a in cc:
            for b in mlo:
                da, db = distance(a), distance(b)
                gap = abs(da - db) / max(da, db, 1e-6)
                if gap <= PARTNER_TOLERANCE:
                    pairs.append((-(a.score + b.score), gap, a, b))
        used: set[str] = set()
        for _, _, a, b in sorted(pairs, key=lambda p: (p[0], p[1])):
            if a.id not in used and b.id not in used:
                a.ipsilateral_partner, b.ipsilateral_partner = b.id, a.id
                used.update((a.id, b.id))


_shared: dict[tuple[str, str], Pipeline] = {}
_shared_lock = threading.Lock()


def shared_pipeline(zoo: Path | None, device: str) -> Pipeline:
    """One Pipeline per (zoo, device) in this process, created on first use: its ONNX Runtime
    sessions are costly to create, and both front ends analyse study after study with them."""
    from mommi.runtime.zoo import manifest_path_of

    key = (str(zoo or ""), device)
    with _shared_lock:
        if key not in _shared:
            _shared[key] = Pipeline(manifest_path_of(zoo), device)
        return _shared[key]

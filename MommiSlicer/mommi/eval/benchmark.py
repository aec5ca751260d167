"""`mommi benchmark`: a public dataset as downloaded -> the paper-style table, through the product pipeline.

The run is a declared list of stages (``STAGES``), each a small function of one
``BenchmarkRun``:

1. import truth: the dataset's importer -> Manifest of the chosen split; every
   chosen record gets split "test" and only they are written to
   ``DIR/manifest.json``, so ``mommi eval --manifest DIR/manifest.json
   --predictions DIR/predictions.json --split test`` gives the same numbers;
2. exams: records grouped by the dataset's study id, each exam its image files;
3. analyse: every exam through the product ``Pipeline`` in worker processes
   (``mommi.runtime.batch.analyse_jobs``: resumable, a failing exam is recorded),
   keeping candidates down to ``CANDIDATE_THRESHOLD`` because the FROC needs the
   whole curve, not only what the product reports;
4. predictions: each view of each result.json mapped back to its record's
   image_id -> ``DIR/predictions.json`` (mommi-predictions, plus malignancy and
   BI-RADS per box);
5. evaluate: ``mommi.eval.report.evaluate`` on the written files (FROC);
6. malignancy and 7. BI-RADS (``mommi.eval.lesion_metrics``);
8. report: report.json, report.md, froc.png, exams.csv.

Engine code: no torch, no Qt. Every number comes from the files the run writes.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mommi.data.manifest import Manifest, Record
from mommi.eval import lesion_metrics as lm
from mommi.eval.benchmark_datasets import BenchmarkDataset, BenchmarkSetupError, dataset, has_locations, select_records
from mommi.eval.benchmark_report import PAPER_DDSM, PAPER_SOURCE, markdown, write_exams_csv
from mommi.eval.report import PREDICTIONS_SCHEMA, evaluate, load_predictions, plot_froc

REPORT_SCHEMA = "mommi-benchmark"
MANIFEST_FILE, PREDICTIONS_FILE, REPORT_FILE, REPORT_MD, FROC_PNG, EXAMS_CSV = (
    "manifest.json",
    "predictions.json",
    "report.json",
    "report.md",
    "froc.png",
    "exams.csv",
)
EXAMS_DIR = "exams"
EVAL_SPLIT = "test"  # the split name the chosen records carry in DIR/manifest.json


@dataclass
class BenchmarkOptions:
    split: str = "test"
    workers: int = 1
    zoo: Path | None = None
    device: str = "auto"
    min_score: float | None = None  # None: CANDIDATE_THRESHOLD (the whole FROC curve)
    bootstrap: int = 1000
    seed: int = 0
    progress: bool = False


@dataclass
class Exam:
    exam_id: str
    folder: Path
    records: list[Record]


@dataclass
class BenchmarkRun:
    """What the stages share: inputs, and what each stage leaves for the next."""

    spec: BenchmarkDataset
    root: Path
    out: Path
    options: BenchmarkOptions
    manifest: Manifest | None = None
    split_note: str = ""
    exams: list[Exam] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list)  # analysis row per exam
    predictions: dict[str, Any] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    @property
    def min_score(self) -> float:
        from mommi.findings.regions import CANDIDATE_THRESHOLD

        return CANDIDATE_THRESHOLD if self.options.min_score is None else float(self.options.min_score)

    @property
    def report_score(self) -> float:
        """The product's reporting score for this zoo (never below what the run kept)."""
        from mommi.runtime.pipeline import reporting_threshold
        from mommi.runtime.zoo import manifest_path_of

        return max(self.min_score, reporting_threshold(manifest_path_of(self.options.zoo))[0])


@dataclass(frozen=True)
class Stage:
    name: str
    run: Callable[[BenchmarkRun], None]


def safe_id(exam_id: str) -> str:
    """A folder name for an exam id: safe characters, with a short hash when anything had to change."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "_", exam_id).strip("._")[:100]
    if safe != exam_id:
        safe = f"{safe}-{hashlib.sha1(exam_id.encode('utf-8')).hexdigest()[:8]}"
    return safe


def import_truth(run: BenchmarkRun) -> None:
    from mommi.data.importers import importers

    importer = importers().get(run.spec.importer)
    if importer is None:
        raise BenchmarkSetupError(
            f"the {run.spec.title} importer ({run.spec.importer!r}) is not available in this version of MommiSlicer"
        )
    imported = importer(run.root)  # DatasetImportError names the missing or malformed file
    chosen, run.split_note = select_records(run.spec, imported.records, run.options.split)
    if not chosen:
        raise BenchmarkSetupError(f"{run.root}: the imported {run.spec.title} data holds no image of {run.split_note}")
    for record in chosen:
        record.split = EVAL_SPLIT
    run.manifest = Manifest(source=imported.source, root=imported.root, records=chosen, split_seed=imported.split_seed)
    run.manifest.write(run.out / MANIFEST_FILE)


def group_exams(run: BenchmarkRun) -> None:
    assert run.manifest is not None
    grouped: dict[str, list[Record]] = {}
    for record in run.manifest.records:
        grouped.setdefault(record.study_id, []).append(record)
    run.exams = [Exam(exam_id, run.out / EXAMS_DIR / safe_id(exam_id), records) for exam_id, records in grouped.items()]


def analyse(run: BenchmarkRun) -> None:
    from mommi.runtime.batch import Job, analyse_jobs

    assert run.manifest is not None
    jobs = [Job(tuple(str(run.manifest.image_file(r)) for r in exam.records), exam.folder) for exam in run.exams]
    o = run.options
    run.rows = analyse_jobs(
        jobs, o.workers, o.zoo, o.device, run.min_score, dicom=False, overlays=False, progress=o.progress, desc="exams"
    )


def _result(exam: Exam) -> dict[str, Any] | None:
    try:
        return json.loads((exam.folder / "result.json").read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def collect_predictions(run: BenchmarkRun) -> None:
    """Each analysed view back to its record (by resolved path): boxes, malignancy, BI-RADS, nipple."""
    assert run.manifest is not None
    image_of = {run.manifest.image_file(r).resolve(): r.image_id for r in run.manifest.records}
    images: dict[str, Any] = {}
    first: dict[str, Any] | None = None
    for exam in run.exams:
        result = _result(exam)
        if result is None:
            continue
        first = first or result
        for name, view in result["views"].items():
            image_id = image_of.get(Path(view["path"]).resolve())
            if image_id is None:
                run.notes.append(f"exam {exam.exam_id}: view {name} ({view['path']}) is no image of the manifest")
                continue
            findings = sorted((f for f in result["findings"] if f["view"] == name), key=lambda f: -f["score"])
            images[image_id] = {
                "boxes": [[*(round(float(v), 2) for v in f["box_px"]), round(float(f["score"]), 5)] for f in findings],
                "malignancy": [f["malignancy"] for f in findings],
                "birads": [f["birads"] for f in findings],
                "nipple": view.get("nipple_px"),
            }
    run.predictions = {
        "schema": PREDICTIONS_SCHEMA,
        "version": 1,
        "model": f"MommiSlicer pipeline, zoo {first['zoo_version']}" if first else "MommiSlicer pipeline",
        "models": dict(first["models"]) if first else {},
        "provider": first["provider"] if first else None,
        "zoo_version": first["zoo_version"] if first else None,
        "min_score": run.min_score,
        "split": EVAL_SPLIT,
        "manifest_source": run.manifest.source,
        "images": images,
    }
    (run.out / PREDICTIONS_FILE).write_text(json.dumps(run.predictions, indent=1), encoding="utf-8")


def evaluate_detection(run: BenchmarkRun) -> None:
    """FROC through ``mommi eval``'s own function, on the files the run wrote (so both agree exactly)."""
    assert run.manifest is not None
    if not has_locations(run.spec, run.manifest.records):
        run.report["detection"] = {
            "froc": None,
            "reason": f"{run.spec.title} gives no lesion locations, so there is no FROC (breast-level malignancy only)",
        }
        return
    manifest = Manifest.read(run.out / MANIFEST_FILE)
    predictions = load_predictions(run.out / PREDICTIONS_FILE)
    run.report["detection"] = evaluate(manifest, predictions, EVAL_SPLIT, run.options.bootstrap, run.options.seed)


def evaluate_malignancy(run: BenchmarkRun) -> None:
    assert run.manifest is not None
    records, o = run.manifest.records, run.options
    if run.spec.malignancy_truth == "lesion":
        run.report["malignancy"] = lm.lesion_malignancy(records, run.predictions, o.bootstrap, o.seed)
    elif run.spec.malignancy_truth == "breast":
        run.report["malignancy"] = lm.breast_malignancy(records, run.predictions, run.report_score, o.bootstrap, o.seed)
    else:
        run.report["malignancy"] = None


def evaluate_birads(run: BenchmarkRun) -> None:
    assert run.manifest is not None
    records = run.manifest.records
    if run.spec.birads_truth == "finding":
        pairs, unmatched = lm.finding_birads_pairs(records, run.predictions)
        run.report["birads"] = {"level": "finding (matched masses)", "unmatched": unmatched} | lm.birads_agreement(
            pairs
        )
    elif run.spec.birads_truth == "image":
        pairs = lm.image_birads_pairs(records, run.predictions, run.report_score)
        run.report["birads"] = {
            "level": f"image (highest BI-RADS of findings with score >= {run.report_score:g}, '1' when none)"
        } | lm.birads_agreement(pairs)
    else:
        run.report["birads"] = None


def _exam_rows(run: BenchmarkRun) -> list[dict[str, Any]]:
    rows = []
    for exam, analysis in zip(run.exams, run.rows):
        result = _result(exam)
        seconds = result["timings_s"].get("total") if result else analysis.get("seconds")
        rows.append(
            {
                "exam_id": exam.exam_id,
                "images": len(exam.records),
                "seconds": seconds,
                "status": analysis["status"],
                "error": analysis.get("error", ""),
            }
            | lm.exam_counts(exam.records, run.predictions, run.report_score)
        )
    return rows


def write_report(run: BenchmarkRun) -> None:
    assert run.manifest is not None
    records = run.manifest.records
    failed = [exam.exam_id for exam, row in zip(run.exams, run.rows) if row["status"] == "failed"]
    if failed:
        run.notes.append(
            f"{len(failed)} exam(s) failed and count as images without detections: "
            f"{', '.join(failed[:5])}{' ...' if len(failed) > 5 else ''} (errors in {EXAMS_CSV})"
        )
    settings = {
        "min_score": run.min_score,
        "report_score": run.report_score,
        "bootstrap": run.options.bootstrap,
        "seed": run.options.seed,
        "device": run.options.device,
        "models": run.predictions.get("models", {}),
        "zoo_version": run.predictions.get("zoo_version"),
        "provider": run.predictions.get("provider"),
    }
    report = {
        "schema": REPORT_SCHEMA,
        "version": 1,
        "dataset": run.spec.name,
        "dataset_title": run.spec.title,
        "split": run.options.split,
        "split_note": run.split_note,
        "model": run.predictions.get("model"),
        **run.report,
        "counts": {
            "exams": len(run.exams),
            "exams_failed": len(failed),
            "images": len(records),
            "patients": len({r.patient_id for r in records}),
            "masses": sum(1 for r in records for f in r.findings if f.kind == "mass"),
        },
        "settings": settings,
        "paper_ddsm": [{"system": s, "recall_at_fppi": dict(zip(("0.5", "1", "2"), v))} for s, v in PAPER_DDSM],
        "paper_source": PAPER_SOURCE,
        "notes": run.notes,
    }
    if report["detection"].get("froc") is not None:
        try:
            plot_froc(report["detection"], run.out / FROC_PNG)
        except ImportError:
            run.notes.append("matplotlib is not installed: no froc.png")
    write_exams_csv(_exam_rows(run), run.out / EXAMS_CSV)
    (run.out / REPORT_FILE).write_text(json.dumps(report, indent=1), encoding="utf-8")
    (run.out / REPORT_MD).write_text(markdown(report), encoding="utf-8")
    run.report = report


STAGES: tuple[Stage, ...] = (
    Stage("import truth", import_truth),
    Stage("exams", group_exams),
    Stage("analyse", analyse),
    Stage("predictions", collect_predictions),
    Stage("evaluate", evaluate_detection),
    Stage("malignancy", evaluate_malignancy),
    Stage("BI-RADS", evaluate_birads),
    Stage("report", write_report),
)


def run_benchmark(
    name: str,
    root: Path,
    out: Path,
    options: BenchmarkOptions | None = None,
    on_stage: Callable[[str], None] | None = None,
) -> BenchmarkRun:
    """Every stage in order; raises BenchmarkSetupError / DatasetImportError before any analysis."""
    run = BenchmarkRun(dataset(name), Path(root), Path(out), options or BenchmarkOptions())
    run.out.mkdir(parents=True, exist_ok=True)
    for stage in STAGES:
        if on_stage is not None:
            on_stage(stage.name)
        stage.run(run)
    return run

"""`mommi zoo retrain`: readers' feedback batches -> a NEW model zoo of fine-tuned, gated models (#23).

Why a command: the manual loop (model_zoo/README.md, "The loop") left holes. `mommi export` rewrote a zoo
entry without card, checkpoint, metrics or (for the classifier) calibration; nothing recorded the base model,
the batches or the readers' counts; the zoo's checkpoint stayed the old one, so the next round's
``--init-from`` threw this round away; and zoo_version never changed. Here the loop runs as declared stages
(``STAGES``) and ends in a complete new zoo; the base zoo is only read.

Each model's training set: the feedback studies not held out (``mommi.data.importers.feedback``: accepted,
edited and added masses are positives with the reader's geometry, rejected findings hard negatives, every
other region of a reviewed view background) mixed with a replay sample of the model's own training data, so
that it does not forget (``--replay``; default: the manifests its zoo entry lists, where they are on this
machine; with none, ``--no-replay`` must say so). The feedback studies are split by patient, seeded; the
held-out part is never trained on and is one of the gate's sets (``mommi.eval.gate``) with the ``--validation``
manifests.

The new zoo: version ``<base>+r<N>`` (``next_zoo_version``); for each promoted model the ONNX file, the
checkpoint it was exported from (the next round fine-tunes that one), a manifest entry with reference outputs,
the gate's measurements as its metrics, a new calibration (classifier) and its provenance (``retrain``: base
SHA-256s, batches with hashes and readers' counts, replay, training options, date, command, gate), and a
regenerated card. A refused model keeps its base entry; its card says what was refused and why. The round's
training manifests and the gate's full reports stay in ``retrain/r<N>/``. Everything is built beside ``--out``
and moved into place at the end: a failed run leaves nothing at ``--out``.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import shlex
import shutil
import tempfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timezone
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from mommi.data.importers.feedback import import_feedback
from mommi.data.manifest import Manifest, Record
from mommi.data.patches import PatchSamples
from mommi.errors import MommiError
from mommi.eval.gate import (
    GATE_CONFIDENCE,
    GATE_METRICS,
    GateResult,
    GateSet,
    PatchSet,
    SetResult,
    classifier_set,
    decide,
    detector_set,
    patch_set,
)
from mommi.eval.classifier_report import fit_calibration, plot_calibration
from mommi.eval.predict import predict_manifest
from mommi.feedback.export import ExportError, verify_batch
from mommi.findings.calibration import CalibrationError
from mommi.runtime.malignancy import MalignancyClassifier
from mommi.runtime.zoo import (
    CARDS_DIR,
    MANIFEST_NAME,
    chosen_manifest,
    read_manifest,
    sha256_of,
    write_manifest,
    zoo_status,
)
from mommi.train import provenance
from mommi.train.cards import (
    ABLATION_FILE,
    CHECKPOINTS_DIR,
    NOTES_DIR,
    PURPOSE,
    checkpoint_line,
    metrics_from_report,
    render_card,
)
from mommi.train.classifier_card import classifier_metrics, render_classifier_card, replace_card_section
from mommi.train.export import export
from mommi.train.loop import TrainConfig, train

#: tasks whose networks learn from what a feedback batch holds (mass boxes on reviewed views). The fusion network
#: makes the final map of every four-view study, so a loop without it cannot move what a reader sees there (the
#: feedback benchmark measured exactly that: the reviewed studies' own false marks did not fall)
RETRAINABLE = ("single", "bidual", "fusion", "malignancy")
#: tasks whose gate runs the whole detection chain (the others run their own branch alone)
CHAIN_GATED = ("fusion",)
#: tasks whose maps the chain reads: a candidate of one of them changes what readers see beyond its own branch
CHAIN_BRANCHES = ("single", "bidual")
#: why the other networks are not fine-tuned on feedback here
NOT_RETRAINABLE = {
    "nipple": "it learns nipple positions, which feedback batches do not hold",
    "ipsidual": "IpsiDualNet trains on views with nipple positions, which feedback batches do not hold",
}
#: where a round keeps its training manifests and the gate's full reports (inside the new zoo)
RETRAIN_DIR = "retrain"
#: the gate's set made of the held-out feedback studies
HELDOUT = "feedback-heldout"
RETRAINED_VERSION = re.compile(r"(?P<base>.+)\+r(?P<round>[0-9]+)")


class RetrainError(MommiError):
    """A retraining round that cannot run (a bad batch, zoo, target, model choice, replay or validation set);
    the message names the file and the cause. Nothing is written at ``--out``."""


@dataclass(frozen=True)
class RetrainOptions:
    """What `mommi zoo retrain` was asked (the defaults are the command line's)."""

    feedback: tuple[Path, ...]
    zoo: Path
    out: Path
    models: tuple[str, ...] = ()  # empty: every model of RETRAINABLE task that has its checkpoint
    validation: tuple[Path, ...] = ()
    validation_splits: tuple[str, ...] = ("val", "test")
    replay: tuple[Path, ...] = ()  # empty: each model's own training manifests
    no_replay: bool = False
    replay_ratio: float = 1.0  # replay images per feedback training image
    holdout: float = 0.2  # share of the feedback's patients held out for the gate
    epochs: int = 3
    lr: float | None = None  # None: a tenth of the base model's learning rate
    batch_size: int | None = None  # None: the base model's
    tolerance: float = 0.02
    confidence: float = GATE_CONFIDENCE
    force: bool = False
    seed: int = 0
    bootstrap: int = 1000
    device: str = "auto"

    def command(self) -> str:
        """The command line that asks for this round, for the record (rebuilt from the options, so that it is the
        same however the command was started)."""
        words = ["mommi", "zoo", "retrain", "--feedback", *map(str, self.feedback), "--zoo", str(self.zoo)]
        words += ["--out", str(self.out)]
        if self.models:
            words += ["--models", *self.models]
        if self.validation:
            words += [
                "--validation",
                *map(str, self.validation),
                "--validation-splits",
                ",".join(self.validation_splits),
            ]
        words += ["--no-replay"] if self.no_replay else ["--replay", *map(str, self.replay)] if self.replay else []
        words += ["--replay-ratio", f"{self.replay_ratio:g}", "--holdout", f"{self.holdout:g}"]
        words += ["--epochs", str(self.epochs), "--tolerance", f"{self.tolerance:g}"]
        words += ["--confidence", f"{self.confidence:g}", "--seed", str(self.seed)]
        words += ["--lr", f"{self.lr:g}"] if self.lr is not None else []
        words += ["--batch-size", str(self.batch_size)] if self.batch_size is not None else []
        words += ["--bootstrap", str(self.bootstrap), "--device", self.device] + (["--force"] if self.force else [])
        return shlex.join(words)


def next_zoo_version(version: str) -> tuple[str, int]:
    """(new version, round number): ``0.2.0`` -> ``0.2.0+r1``, ``0.2.0+r1`` -> ``0.2.0+r2``."""
    found = RETRAINED_VERSION.fullmatch(version)
    base, number = (found["base"], int(found["round"]) + 1) if found else (version, 1)
    return f"{base}+r{number}", number


@dataclass
class Batch:
    """A verified feedback batch: its record for the provenance and its studies as a training manifest."""

    path: Path
    batch_id: str
    manifest_sha256: str
    version: int
    counts: dict[str, Any]
    readers: list[str]
    reviewed_on: dict[str, str]  # model name -> SHA-256 the readers reviewed
    manifest: Manifest

    def record(self) -> dict[str, Any]:
        findings = self.counts.get("findings", {})
        return {
            "id": self.batch_id,
            "file": self.path.name,
            "manifest_sha256": self.manifest_sha256,
            "version": self.version,
            "studies": self.counts.get("studies", 0),
            "images": self.counts.get("images", 0),
            "decisions": {k: int(findings.get(k, 0)) for k in provenance.DECISIONS},
            "readers": self.readers,
            "reviewed_on": self.reviewed_on,
        }


@dataclass
class ModelRound:
    """One model's way through the round."""

    entry: dict[str, Any]  # the base entry
    checkpoint: Path  # the base checkpoint, verified against the entry
    run_dir: Path
    replay: list[dict[str, Any]] = field(default_factory=list)  # {"manifest", "sha256", "images", "sample"}
    config: TrainConfig | None = None
    candidate: dict[str, Any] | None = None  # the exported candidate's entry
    calibration: dict[str, Any] | None = None
    refusal: str | None = None  # a reason no --force overrides (a classifier that cannot be recalibrated)
    patch_sets: list[PatchSet] = field(default_factory=list)
    candidate_outputs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
    gate: GateResult | None = None
    #: the zoo its gate runs the chain of: the base zoo with this candidate alone in it (chain-gated models)
    gate_zoo: Path | None = None

    @property
    def name(self) -> str:
        return str(self.entry["name"])

    @property
    def task(self) -> str:
        return str(self.entry["task"])


@dataclass
class Round:
    """Everything the stages share; each stage fills in its part."""

    options: RetrainOptions
    work: Path
    log: Callable[[str], None]
    base_path: Path = Path()
    base: dict[str, Any] = field(default_factory=dict)
    version: str = ""
    number: int = 0
    started: str = ""
    models: list[ModelRound] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    feedback_train: Path = Path()
    feedback_heldout: Path | None = None
    split: dict[str, Any] = field(default_factory=dict)  # studies and images trained on / held out
    gate_sets: list[GateSet] = field(default_factory=list)
    #: the whole chain of the zoo this round would write against the base chain (None: no branch was promoted)
    chain_gate: GateResult | None = None

    @property
    def zoo_folder(self) -> Path:
        return self.base_path.parent

    @property
    def candidates(self) -> Path:
        """A copy of the base zoo's models with the candidates exported into it (what the gate reads)."""
        return self.work / "candidates"


# ---------------------------------------------------------------------------------------------------- stages


def _check(run: Round) -> None:
    """The base zoo is readable and healthy, the options make sense, the models exist with their checkpoints:
    refused before any work, so that a typo costs nothing."""
    options = run.options
    run.base_path = chosen_manifest(options.zoo)
    run.base = read_manifest(run.base_path)
    problems = zoo_status(run.base_path).problems
    if problems:
        raise RetrainError(
            f"the base zoo {run.zoo_folder} has problems (`mommi info --zoo {options.zoo}`): {'; '.join(problems)}"
        )
    if not 0 <= options.holdout < 1:
        raise RetrainError(f"--holdout {options.holdout:g} is not a fraction in [0, 1)")
    if not options.no_replay and options.replay_ratio <= 0:
        raise RetrainError(f"--replay-ratio {options.replay_ratio:g}: give a positive ratio, or --no-replay")
    run.version, run.number = next_zoo_version(str(run.base.get("zoo_version", "0.0.0")))
    run.started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    run.models = [_model_round(run, entry) for entry in _chosen_entries(run)]


def _refuse_target(options: RetrainOptions) -> None:
    """--out must be a new folder outside the base zoo: checked before anything is created beside it."""
    out, folder = options.out.resolve(), chosen_manifest(options.zoo).parent.resolve()
    if out.exists():
        raise RetrainError(f"{options.out} already exists; a retrained zoo is always written to a new folder")
    if folder in out.parents:
        raise RetrainError(f"{options.out} is inside the base zoo {folder}; the base zoo is never written")


def _chosen_entries(run: Round) -> list[dict[str, Any]]:
    entries = {e["name"]: e for e in run.base["models"]}
    if not run.options.models:
        chosen = [e for e in entries.values() if e.get("task") in RETRAINABLE and e.get("checkpoint")]
        if not chosen:
            raise RetrainError(
                f"{run.base_path} lists no model that feedback can fine-tune with its checkpoint "
                f"(tasks {', '.join(RETRAINABLE)})"
            )
        return chosen
    for name in run.options.models:
        if name not in entries:
            raise RetrainError(f"--models: {name!r} is not in {run.base_path} (models: {', '.join(entries)})")
        task = entries[name].get("task")
        if task not in RETRAINABLE:
            why = NOT_RETRAINABLE.get(str(task), "its task is unknown")
            raise RetrainError(f"--models: {name} cannot be fine-tuned on feedback: {why}")
    return [entries[name] for name in dict.fromkeys(run.options.models)]


def _model_round(run: Round, entry: dict[str, Any]) -> ModelRound:
    if not entry.get("checkpoint"):
        raise RetrainError(f"{entry['name']}: {run.base_path} lists no training checkpoint to fine-tune it from")
    checkpoint = run.zoo_folder / entry["checkpoint"]
    if not checkpoint.is_file():
        raise RetrainError(f"{entry['name']}: its checkpoint {checkpoint} is missing")
    if sha256_of(checkpoint) != entry.get("checkpoint_sha256"):
        raise RetrainError(
            f"{entry['name']}: {checkpoint} does not match its checkpoint_sha256 in {run.base_path} (modified or "
            "damaged); refusing to fine-tune it"
        )
    return ModelRound(entry, checkpoint, run.work / "runs" / entry["name"])


def _batch_file(path: Path, name: str) -> bytes:
    if path.is_dir():
        return (path / name).read_bytes()
    with zipfile.ZipFile(path) as archive:
        return archive.read(name)


def _read_batch(path: Path) -> Batch:
    """A batch verified against its SHA-256s, with what the provenance records of it."""
    try:
        described = verify_batch(path)
        manifest_bytes = _batch_file(path, "manifest.json")
        annotations = json.loads(_batch_file(path, "annotations.json"))
    except (ExportError, OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise RetrainError(f"{path}: not a valid feedback batch ({exc})") from exc
    training = import_feedback(path)
    if not training.records:
        raise RetrainError(f"{path}: the batch holds no reviewed study")
    readers = sorted(
        {r for a in annotations.get("annotations", []) for r in (a.get("reader") or {}).get("readers", [])}
    )
    return Batch(
        path,
        str(described["batch_id"]),
        hashlib.sha256(manifest_bytes).hexdigest(),
        int(described.get("version", 1)),
        dict(described.get("counts", {})),
        readers,
        dict(described.get("model_versions", {})),
        training,
    )


def _absolute(manifest: Manifest, split: str) -> list[Record]:
    """The manifest's records with absolute image paths (so that records of several batches share one
    manifest), all in ``split``."""
    return [replace(r, image_path=str(manifest.image_file(r).resolve()), split=split) for r in manifest.records]


def _feedback(run: Round) -> None:
    """Verify every batch; hold out a seeded share of the patients for the gate, never trained on."""
    run.batches = [_read_batch(Path(p)) for p in run.options.feedback]
    ids = [b.batch_id for b in run.batches]
    if len(set(ids)) != len(ids):
        twice = sorted({i for i in ids if ids.count(i) > 1})
        raise RetrainError(f"--feedback names batch {', '.join(twice)} twice; each batch trains once")
    patients = sorted({r.patient_id for b in run.batches for r in b.manifest.records})
    # at least one study held out when there are two or more, and at least one left to train on
    wanted = max(1, round(run.options.holdout * len(patients))) if run.options.holdout else 0
    held = min(wanted, len(patients) - 1)
    random.Random(run.options.seed).shuffle(patients)
    held_out = set(patients[:held])
    train_records, heldout_records = [], []
    for batch in run.batches:
        for record in _absolute(batch.manifest, "train"):
            if record.patient_id in held_out:
                heldout_records.append(replace(record, split="test"))
            else:
                train_records.append(record)
    try:  # the records' paths are absolute: the root only says where the batches are
        root = os.path.commonpath([str(b.manifest.root) for b in run.batches])
    except ValueError:  # batches on different drives
        root = str(run.batches[0].manifest.root)
    run.feedback_train = Manifest("feedback", root, train_records).write(run.work / "feedback-train.json")
    if heldout_records:
        run.feedback_heldout = Manifest("feedback", root, heldout_records).write(run.work / f"{HELDOUT}.json")
        run.gate_sets.append(
            GateSet(
                HELDOUT,
                run.feedback_heldout,
                f"{held} feedback studies held out by patient (seed {run.options.seed}), never trained on",
            )
        )
    run.split = {
        "studies_trained": len(patients) - held,
        "images_trained": len(train_records),
        "studies_held_out": held,
        "images_held_out": len(heldout_records),
        "holdout": run.options.holdout,
        "seed": run.options.seed,
    }
    run.log(
        f"  {len(run.batches)} batch(es): {len(patients)} studies, {len(patients) - held} to train on, {held} held out"
    )
    shipped = {e["name"]: e["sha256"] for e in run.base["models"]}
    for batch in run.batches:
        other = sorted(n for n, sha in batch.reviewed_on.items() if shipped.get(n, sha) != sha)
        if other:  # worth knowing: the readers judged another model's findings than the one fine-tuned here
            run.log(f"  note: batch {batch.batch_id} was reviewed on other versions of {', '.join(other)}")


def _replay_sources(run: Round, model: ModelRound) -> list[Path]:
    """--replay, else the manifests the model's entry lists (absolute as recorded, relative ones from the zoo
    folder) that are on this machine."""
    if run.options.replay:
        return list(run.options.replay)
    listed = [Path(p) for p in model.entry.get("training_data") or []]
    found = [p if p.is_absolute() else run.zoo_folder / p for p in listed]
    found = [p for p in found if p.is_file()]
    if not found:
        raise RetrainError(
            f"{model.name}: no replay data: its training manifests ({', '.join(map(str, listed)) or 'none listed'}) "
            "are not on this machine; give --replay MANIFEST (data like its training data, e.g. `mommi synth` + "
            "`mommi data import synthetic`) so that it does not forget, or --no-replay to fine-tune on the feedback "
            "alone"
        )
    return found


def _sample_replay(sources: list[Path], images: int, seed: int, out: Path) -> list[dict[str, Any]]:
    """Whole studies of the sources' train splits, drawn seeded until ``images`` views are reached (whole
    studies keep the pairs the bilateral network needs); one sample manifest per source in ``out``."""
    manifests = [Manifest.read(p) for p in sources]
    studies: list[tuple[int, str]] = []
    sizes: dict[tuple[int, str], int] = {}
    for index, manifest in enumerate(manifests):
        for record in manifest.records:
            if record.split == "train":
                key = (index, record.study_id)
                if key not in sizes:
                    studies.append(key)
                sizes[key] = sizes.get(key, 0) + 1
    if not studies:
        raise RetrainError(f"the replay manifests {', '.join(map(str, sources))} have no train-split images")
    random.Random(seed).shuffle(studies)
    chosen: dict[int, set[str]] = {}
    count = 0
    for index, study in studies:
        if count >= images:
            break
        chosen.setdefault(index, set()).add(study)
        count += sizes[(index, study)]
    samples = []
    for index, manifest in enumerate(manifests):
        if index not in chosen:
            continue
        records = [r for r in manifest.records if r.split == "train" and r.study_id in chosen[index]]
        path = Manifest(manifest.source, manifest.root, records, manifest.split_seed).write(
            out / f"replay-{index}-{sources[index].stem}.json"
        )
        samples.append(
            {
                "manifest": str(sources[index]),
                "sha256": sha256_of(sources[index]),
                "images": len(records),
                "sample": path,
            }
        )
    return samples


def _image_files(manifest: Manifest) -> set[Path]:
    return {manifest.image_file(r).resolve() for r in manifest.records}


def _replay_and_validation(run: Round) -> None:
    """Draw each model's replay sample; cut the validation manifests to their held-out splits and make sure the
    training never saw one of their images (a gate on seen images proves nothing)."""
    images = len(Manifest.read(run.feedback_train).records)
    for model in run.models:
        if run.options.no_replay:
            continue
        target = math.ceil(run.options.replay_ratio * images)
        model.replay = _sample_replay(_replay_sources(run, model), target, run.options.seed, run.work / model.name)
        run.log(f"  {model.name}: {sum(r['images'] for r in model.replay)} replay images")
    trained = _image_files(Manifest.read(run.feedback_train))
    for model in run.models:
        for replay in model.replay:
            trained |= _image_files(Manifest.read(replay["sample"]))
    names = {s.name for s in run.gate_sets}
    for path in run.options.validation:
        manifest = Manifest.read(path)
        records = [r for r in manifest.records if r.split in run.options.validation_splits]
        if not records:
            raise RetrainError(
                f"{path}: no images in the validation split(s) {','.join(run.options.validation_splits)}"
            )
        subset = replace(manifest, records=records)
        seen = _image_files(subset) & trained
        if seen:
            raise RetrainError(
                f"{path}: {len(seen)} of its validation images are in the training data (e.g. {sorted(seen)[0]}); "
                "the gate needs images the training never saw"
            )
        # "gate-": never one of the names whose cards carry fixed descriptions (synth-test, mias-cv, ...)
        name = f"gate-{path.stem}" if f"gate-{path.stem}" not in names else f"gate-{path.stem}-{len(names)}"
        names.add(name)
        written = subset.write(run.work / "validation" / f"{name}.json")
        run.gate_sets.append(
            GateSet(
                name,
                written,
                f"{len(records)} images of {path.name} (splits {','.join(run.options.validation_splits)})",
            )
        )
    if not run.gate_sets and not run.options.force:  # the gate would refuse every candidate: do not train them
        raise RetrainError(
            "nothing to gate the candidates on: no --validation manifest and no held-out feedback study (--holdout "
            f"{run.options.holdout:g} of {run.split['studies_trained']} studies); give --validation MANIFEST, or "
            "--force to promote unmeasured candidates"
        )


def _detections(run: Round, manifests: list[Path], folder: Path) -> list[Path]:
    """`mommi predict fusion` files of the training manifests with the BASE zoo's chain: the detected patches
    the classifier learns from, as `mommi train malignancy --detections` wants them."""
    paths = []
    for index, path in enumerate(manifests):
        found = predict_manifest("fusion", Manifest.read(path), "train", run.base_path, run.options.device)
        target = folder / f"detections-{index}-{path.stem}.json"
        target.write_text(json.dumps(found), encoding="utf-8")
        paths.append(target)
    return paths


def _ipsidual_checkpoint(run: Round) -> str:
    """The base zoo's IpsiDualNet checkpoint (the fusion network's encoder)."""
    entry = next((e for e in run.base["models"] if e.get("task") == "ipsidual" and e.get("checkpoint")), None)
    path = run.zoo_folder / str(entry["checkpoint"]) if entry else None
    if path is None or not path.is_file():
        raise RetrainError(f"{run.base_path}: the fusion network needs the IpsiDualNet checkpoint, which is not there")
    return str(path)


def _train(run: Round) -> None:
    """Fine-tune every model from the base checkpoint: the base's own configuration, a few epochs, the last
    kept (the gate, not a validation split, decides whether it is any good)."""
    for model in run.models:
        saved = torch.load(model.checkpoint, map_location="cpu", weights_only=False)  # its SHA-256 was checked
        base = TrainConfig(**saved["config"])
        manifests = [run.feedback_train, *(Path(r["sample"]) for r in model.replay)]
        model.run_dir.mkdir(parents=True, exist_ok=True)
        detections = _detections(run, manifests, model.run_dir) if model.task == "malignancy" else None
        model.config = replace(
            base,
            epochs=run.options.epochs,
            lr=run.options.lr if run.options.lr is not None else base.lr / 10,
            batch_size=run.options.batch_size or base.batch_size,
            seed=run.options.seed,
            keep="last",
            init_from=str(model.checkpoint),
            detections=[str(p) for p in detections] if detections else None,
            cache=None,
            max_train=None,
            max_val=None,
            # fusion: the base zoo's BiDualNet and IpsiDualNet make its input maps (the candidates' maps differ
            # from theirs by a fine-tuning at a tenth of the learning rate); the encoder is IpsiDualNet's trunk,
            # which --init-from then overwrites with the fusion checkpoint's own copy
            encoder=_ipsidual_checkpoint(run) if model.task == "fusion" else None,
            zoo=str(run.base_path) if model.task == "fusion" else None,
            device=run.options.device,
        )
        run.log(f"  {model.name}: {run.options.epochs} epoch(s) on {len(manifests)} manifest(s)")
        try:
            train(model.config, manifests, model.run_dir, progress=False)
        except ValueError as exc:
            raise RetrainError(f"{model.name}: fine-tuning failed: {exc}") from exc


def _export(run: Round) -> None:
    """Each candidate to ONNX (parity-checked, reference outputs recorded) in a copy of the base zoo's models,
    where the product's chain can read it next to the models it did not replace."""
    run.candidates.mkdir(parents=True)
    for entry in run.base["models"]:
        shutil.copy2(run.zoo_folder / entry["file"], run.candidates / entry["file"])
    write_manifest(run.candidates / MANIFEST_NAME, run.base)
    for model in run.models:
        try:
            model.candidate = export(model.task, model.run_dir / "best.pt", run.candidates, model.name)
        except RuntimeError as exc:
            raise RetrainError(f"{model.name}: export failed: {exc}") from exc
    for model in run.models:
        if model.task in CHAIN_GATED:
            # alone: the fusion network's gate must not read the other candidates (a bilateral candidate the
            # gate refuses would otherwise decide the fusion network's fate)
            model.gate_zoo = _base_with(run, [model], f"gate-zoo-{model.name}")


def _base_with(run: Round, models: list[ModelRound], folder_name: str) -> Path:
    """A copy of the base zoo with ``models``' candidates in it (the others as they were): the zoo a chain-gated
    comparison reads."""
    folder = run.work / folder_name
    shutil.copytree(run.zoo_folder, folder, ignore=shutil.ignore_patterns("checkpoints", "cards", RETRAIN_DIR))
    manifest = read_manifest(folder / MANIFEST_NAME)
    for model in models:
        assert model.candidate is not None
        shutil.copy2(run.candidates / model.candidate["file"], folder / model.candidate["file"])
        manifest["models"] = [model.candidate if m["name"] == model.name else m for m in manifest["models"]]
    write_manifest(folder / MANIFEST_NAME, manifest)
    return folder / MANIFEST_NAME


def _calibrate(run: Round) -> None:
    """Fit the candidate classifier's temperature on the gate's patches (those the base chain detects in the
    validation sets and the held-out feedback): data it was not trained on. The gate's AUC does not depend on
    the temperature, so fitting it there biases no decision; the ECE on the same patches is in-sample, and the
    card says where it was fitted. A classifier that cannot be recalibrated is never promoted."""
    for model in run.models:
        if model.task != "malignancy":
            continue
        base = MalignancyClassifier(run.base_path, run.options.device, model.name)
        candidate = MalignancyClassifier(run.candidates / MANIFEST_NAME, run.options.device, model.name)
        model.patch_sets = [patch_set(s, run.base_path, base, run.options.device) for s in run.gate_sets]
        model.candidate_outputs = [
            candidate.raw(p.samples.patches[:, None].astype(np.float32)) for p in model.patch_sets
        ]
        if not model.patch_sets:
            model.refusal = "it cannot be recalibrated: no validation set and no held-out feedback to fit it on"
            continue
        samples = PatchSamples(
            *(
                np.concatenate([getattr(p.samples, k) for p in model.patch_sets])
                for k in PatchSamples.__dataclass_fields__
            )
        )
        logits = np.concatenate([logit for logit, _ in model.candidate_outputs])
        try:
            calibration = fit_calibration(samples, logits)
        except CalibrationError as exc:
            model.refusal = f"it cannot be recalibrated on the validation patches ({exc})"
            continue
        calibration["fitted_on"] = {"manifests": [s.name for s in run.gate_sets], "split": "validation"}
        plot = run.work / f"{model.name}-reliability-r{run.number}.png"
        title = f"{model.name} (zoo {run.version}): calibration on the validation patches"
        if plot_calibration(samples, logits, calibration["temperature"], plot, title):
            calibration["plot"] = f"{CARDS_DIR}/{plot.name}"
        model.calibration = calibration
        run.log(
            f"  {model.name}: temperature {calibration['temperature']:.3f} from {calibration['patches']} patches, "
            f"ECE {calibration['ece_before']:.3f} -> {calibration['ece_after']:.3f}"
        )


def _gate(run: Round) -> None:
    """Base and candidate on every gate set; promote or refuse each candidate (``mommi.eval.gate.decide``)."""
    options = run.options
    for model in run.models:
        if model.task == "malignancy":
            base_temperature = float((model.entry.get("calibration") or {}).get("temperature", 1.0))
            candidate_temperature = float((model.calibration or {}).get("temperature", 1.0))
            sets = [
                classifier_set(
                    patches, logits, values, (base_temperature, candidate_temperature), options.bootstrap, options.seed
                )
                for patches, (logits, values) in zip(model.patch_sets, model.candidate_outputs)
            ]
        else:
            sets = _detector_sets(run, model.task, model.gate_zoo or run.candidates / MANIFEST_NAME)
        decision = decide(GATE_METRICS[model.task], sets, options.tolerance, options.force, options.confidence)
        if model.refusal:  # --force promotes a worse model on purpose, never an uncalibrated one
            decision = replace(decision, promoted=False, forced=False, reason=model.refusal)
        model.gate = decision
        run.log(f"  {model.name}: {'promoted' if decision.promoted else 'NOT promoted'}: {decision.reason}")


def _detector_sets(run: Round, task: str, candidate_zoo: Path) -> list[SetResult]:
    """``task``'s branch (the whole chain for "fusion") of the base zoo and of ``candidate_zoo`` on every gate set,
    with recall at the base zoo's operating point."""
    options = run.options
    return [
        detector_set(
            task,
            s,
            run.base_path,
            candidate_zoo,
            options.device,
            options.bootstrap,
            options.seed,
            run.base.get("operating_point"),
        )
        for s in run.gate_sets
    ]


def _chain(run: Round) -> None:
    """Gate the zoo this round would write as a whole: its chain against the base chain, on the same sets and by
    the same rule. Why: each candidate was measured alone, the branches on their own maps; but the fusion network
    learned the base branches' maps, and a branch that finds more masses alone can still feed it maps that make
    the final marks worse, and two candidates that pass alone can fail together. When the chain loses, the
    promoted branches are refused (a promoted fusion network stays: its own gate ran the chain on the base
    branches). Nothing to do when no branch was promoted."""
    promoted = [m for m in run.models if m.gate is not None and m.gate.promoted and m.task != "malignancy"]
    branches = [m for m in promoted if m.task in CHAIN_BRANCHES]
    if not branches:
        return
    options = run.options
    names = ", ".join(m.name for m in promoted)
    sets = _detector_sets(run, "fusion", _base_with(run, promoted, "gate-zoo-chain"))
    run.chain_gate = decide(GATE_METRICS["fusion"], sets, options.tolerance, options.force, options.confidence)
    verdict = "promoted" if run.chain_gate.promoted else "NOT promoted"
    run.log(f"  the chain with {names}: {verdict}: {run.chain_gate.reason}")
    if run.chain_gate.promoted:
        return
    for model in branches:
        assert model.gate is not None
        model.gate = replace(
            model.gate,
            promoted=False,
            reason=f"passed alone, but the whole chain with {names} is worse than the base chain: "
            f"{run.chain_gate.reason}",
        )
        run.log(f"  {model.name}: NOT promoted: the chain with it is worse")


def _gate_summary(run: Round, model: ModelRound) -> dict[str, Any]:
    """The model's gate as the manifest, the cards and gate.json keep it; a branch's with the chain's gate."""
    assert model.gate is not None
    summary = model.gate.summary()
    if run.chain_gate is not None and model.task in CHAIN_BRANCHES:
        summary["chain"] = run.chain_gate.summary()
    return summary


def _write(run: Round) -> None:
    """The new zoo: a copy of the base with the promoted models, their provenance and cards, the refusals in the
    kept models' cards, a new version; checked like `mommi info --zoo` does, then moved to --out."""
    staging = run.work / "zoo"
    shutil.copytree(run.zoo_folder, staging)  # plain files only: nothing in the new zoo links into the old one
    record_dir = staging / RETRAIN_DIR / f"r{run.number}"
    record_dir.mkdir(parents=True)
    kept = {path: _keep(path, run.work, record_dir) for path in _round_manifests(run)}
    manifest = read_manifest(staging / MANIFEST_NAME)
    batches = [b.record() for b in run.batches]
    for model in run.models:
        assert model.gate is not None  # the gate stage decided every model
        if model.gate.promoted:
            entry = _promoted_entry(run, model, staging, kept, batches)
            manifest["models"] = [entry if m["name"] == model.name else m for m in manifest["models"]]
    manifest["zoo_version"] = run.version
    manifest["updated"] = date.today().isoformat()
    manifest.setdefault("retrain_rounds", []).append(
        {
            "round": run.number,
            "zoo_version": run.version,
            "base_zoo_version": run.base.get("zoo_version"),
            "date": run.started,
            "command": run.options.command(),
            "batches": batches,
            "models": {
                m.name: {"promoted": m.gate.promoted, "forced": m.gate.forced, "reason": m.gate.reason}
                for m in run.models
                if m.gate is not None
            },
            **({"chain": run.chain_gate.summary()} if run.chain_gate is not None else {}),
            "record": f"{RETRAIN_DIR}/r{run.number}/gate.json",
        }
    )
    write_manifest(staging / MANIFEST_NAME, manifest)
    _write_cards(run, manifest, staging, batches)
    _note_ablation(staging, run)
    (record_dir / "gate.json").write_text(json.dumps(_gate_record(run), indent=1), encoding="utf-8")
    problems = zoo_status(staging / MANIFEST_NAME).problems
    if problems:
        raise RetrainError(f"the new zoo fails its own check, so it is not written: {'; '.join(problems)}")
    if run.options.out.exists():
        raise RetrainError(f"{run.options.out} appeared while retraining; the new zoo is not written over it")
    os.replace(staging, run.options.out)


def _round_manifests(run: Round) -> list[Path]:
    paths = [run.feedback_train, *([run.feedback_heldout] if run.feedback_heldout else [])]
    paths += [Path(r["sample"]) for m in run.models for r in m.replay]
    return paths + [s.manifest for s in run.gate_sets if s.name != HELDOUT]


def _keep(path: Path, work: Path, record_dir: Path) -> str:
    """Copy a manifest of the round from the work folder into the new zoo's record; its path there, relative to
    the zoo (what the entries' training_data name)."""
    target = record_dir / path.relative_to(work)
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(path, target)
    return target.relative_to(record_dir.parents[1]).as_posix()


def _metrics(model: ModelRound) -> dict[str, Any]:
    """The candidate's metrics as the cards state them: its side of the gate, per set."""
    assert model.gate is not None
    if model.task == "malignancy":
        return {s.name: classifier_metrics(s.candidate_report) for s in model.gate.sets}
    return {s.name: metrics_from_report(s.candidate_report) for s in model.gate.sets}


def _promoted_entry(
    run: Round, model: ModelRound, staging: Path, kept: dict[Path, str], batches: list[dict[str, Any]]
) -> dict[str, Any]:
    """The promoted candidate's files copied into the new zoo and its complete manifest entry."""
    assert model.candidate is not None and model.gate is not None and model.config is not None
    entry = dict(model.candidate)
    shutil.copy2(run.candidates / entry["file"], staging / entry["file"])
    checkpoint = f"{CHECKPOINTS_DIR}/{model.name}.pt"
    (staging / CHECKPOINTS_DIR).mkdir(exist_ok=True)
    shutil.copy2(model.run_dir / "best.pt", staging / checkpoint)
    entry["checkpoint"] = checkpoint
    entry["card"] = f"{CARDS_DIR}/{model.name}.md"
    entry["made_by"] = run.options.command()
    entry["training_data"] = [kept[run.feedback_train], *(kept[Path(r["sample"])] for r in model.replay)]
    entry["metrics"] = _metrics(model)
    if model.calibration is not None:
        calibration = dict(model.calibration)
        if calibration.get("plot"):
            shutil.copy2(run.work / Path(calibration["plot"]).name, staging / calibration["plot"])
        old_plot = (model.entry.get("calibration") or {}).get("plot")
        if old_plot and old_plot != calibration.get("plot"):  # the base model's picture, of another model now
            (staging / old_plot).unlink(missing_ok=True)
        entry["calibration"] = calibration
    entry["retrain"] = {
        "round": run.number,
        "zoo_version": run.version,
        "date": run.started,
        "command": run.options.command(),
        "base": {
            "name": model.name,
            "zoo_version": run.base.get("zoo_version"),
            "sha256": model.entry["sha256"],
            "checkpoint_sha256": model.entry["checkpoint_sha256"],
        },
        "batches": batches,
        "feedback": run.split,
        "replay": [{k: r[k] for k in ("manifest", "sha256", "images")} for r in model.replay],
        "training": {
            "epochs": model.config.epochs,
            "lr": model.config.lr,
            "batch_size": model.config.batch_size,
            "seed": model.config.seed,
        },
        "gate": _gate_summary(run, model),
    }
    return entry


def _write_cards(run: Round, manifest: dict[str, Any], staging: Path, batches: list[dict[str, Any]]) -> None:
    """Regenerated cards of the promoted models; the refusal in the card of every model kept as it was."""
    by_task = {m.get("task"): m for m in manifest["models"]}
    comparisons = {"single": "bidual", "bidual": "single", "fusion": "single"}
    for model in run.models:
        assert model.gate is not None
        entry = next(m for m in manifest["models"] if m["name"] == model.name)
        card = staging / str(entry.get("card") or f"{CARDS_DIR}/{model.name}.md")
        if not model.gate.promoted:
            if card.is_file():
                section = provenance.refused_section(run.number, run.version, _gate_summary(run, model), batches)
                replace_card_section(card, section[0], section)
            continue
        notes_path = staging / NOTES_DIR / f"{model.task}.md"
        notes = notes_path.read_text(encoding="utf-8") if notes_path.is_file() else ""
        if model.task == "malignancy":
            text = render_classifier_card(entry, [], notes, PURPOSE["malignancy"], checkpoint_line(entry))
        else:
            text = render_card(entry, _comparison(entry, by_task.get(comparisons[model.task])), notes, "", None)
        card.parent.mkdir(exist_ok=True)
        card.write_text(text, encoding="utf-8")


def _comparison(entry: dict[str, Any], other: dict[str, Any] | None) -> dict[str, Any] | None:
    """The other detector on the same sets only: its card compares the two "on the same images", and the other
    model's metrics on other data (its base's synth-test, mias-cv) are not that."""
    common = {k: v for k, v in ((other or {}).get("metrics") or {}).items() if k in entry["metrics"]}
    return {**other, "metrics": common} if other and common else None


def _note_ablation(staging: Path, run: Round) -> None:
    """ablation.md's rows were measured on the base zoo's models: say which of them this round replaced."""
    path = staging / ABLATION_FILE
    promoted = [m.name for m in run.models if m.gate is not None and m.gate.promoted and m.task != "malignancy"]
    if not promoted or not path.is_file():
        return
    title, _, rest = path.read_text(encoding="utf-8").partition("\n")
    note = (
        f"> Zoo {run.version}: `mommi zoo retrain` round {run.number} replaced {', '.join(promoted)} after these "
        f"rows were measured; their rows describe the models of zoo {run.base.get('zoo_version')}. Their cards "
        "hold their own numbers."
    )
    path.write_text(f"{title}\n\n{note}\n{rest}", encoding="utf-8")


def _gate_record(run: Round) -> dict[str, Any]:
    """The round's full record: every gate set's base and candidate reports (FROC curves, AUC CIs), the whole
    chain's too where it was gated."""

    def reports(gate: GateResult | None) -> dict[str, Any]:
        return {s.name: {"base": s.base_report, "candidate": s.candidate_report} for s in gate.sets} if gate else {}

    record: dict[str, Any] = {
        "round": run.number,
        "zoo_version": run.version,
        "command": run.options.command(),
        "models": {
            m.name: {**(_gate_summary(run, m) if m.gate else {}), "reports": reports(m.gate)} for m in run.models
        },
    }
    if run.chain_gate is not None:
        record["chain"] = {**run.chain_gate.summary(), "reports": reports(run.chain_gate)}
    return record


class Stage(NamedTuple):
    name: str
    what: str
    run: Callable[[Round], None]


#: the round, in order; each stage reads what the ones before it filled in
STAGES = (
    Stage("check", "check the base zoo, the target and the models", _check),
    Stage("feedback", "verify the feedback batches and hold out studies by patient", _feedback),
    Stage("replay", "sample the replay data and check the validation sets", _replay_and_validation),
    Stage("train", "fine-tune each model from the zoo's checkpoint", _train),
    Stage("export", "export the candidates to ONNX", _export),
    Stage("calibrate", "recalibrate the malignancy classifier", _calibrate),
    Stage("gate", "measure base and candidate on the validation sets", _gate),
    Stage("chain", "measure the new zoo's whole chain against the base chain", _chain),
    Stage("write", "write the new zoo", _write),
)


@dataclass(frozen=True)
class RetrainResult:
    out: Path
    zoo_version: str
    gates: dict[str, GateResult]  # model name -> its gate
    chain: GateResult | None = None  # the new zoo's whole chain against the base chain, where a branch was promoted

    @property
    def refused(self) -> list[str]:
        return [name for name, result in self.gates.items() if not result.promoted]


def retrain(options: RetrainOptions, log: Callable[[str], None] = print) -> RetrainResult:
    """Run one retraining round (``STAGES``) and write the new zoo at ``options.out``.

    Raises:
        RetrainError: see the class; ZooError: the base zoo cannot be read; DatasetImportError: a batch cannot be
            imported; ManifestError: a replay or validation manifest cannot be read.
    """
    _refuse_target(options)
    options.out.parent.mkdir(parents=True, exist_ok=True)  # the work folder beside it: the final move is a rename
    work = Path(tempfile.mkdtemp(prefix=f".{options.out.name}.retrain-", dir=options.out.parent))
    try:
        run = Round(options, work, log)
        for number, stage in enumerate(STAGES, 1):
            log(f"[{number}/{len(STAGES)}] {stage.name}: {stage.what}")
            stage.run(run)
        gates = {m.name: m.gate for m in run.models if m.gate is not None}
        return RetrainResult(options.out, run.version, gates, run.chain_gate)
    finally:
        shutil.rmtree(work, ignore_errors=True)

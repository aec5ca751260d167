"""Model cards and measured metrics in the zoo manifest (`mommi zoo record-metrics`)."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path
from typing import Any

from mommi.errors import MommiError
from mommi.runtime.card_metrics import DETECTION_DATASETS as DATASETS
from mommi.runtime.card_metrics import COMPARISON_START, MEASURED_TITLE, measured_lines, recall_table_rows
from mommi.runtime.zoo import CARDS_DIR, MANIFEST_NAME, read_manifest, sha256_of, write_manifest
from mommi.train.classifier_card import classifier_metrics, comparison_rows, render_classifier_card
from mommi.train import provenance
from mommi.train.provenance import TRAINING_DATA, built_by_script, how_it_was_made, retrain_section, trained_on

#: hand-written findings per task (model_zoo/notes/<task>.md), copied into the generated cards
NOTES_DIR = "notes"
#: training checkpoints of the shipped models (`mommi train ... --init-from` fine-tunes them)
CHECKPOINTS_DIR = "checkpoints"
#: what a branch does on real MIAS films (MLO views of both breasts, no CC views)
REAL_FILM_READING = {
    "single": "reads each film alone",
    "bidual": "reads each film with the other breast's film",
    "ipsidual": "cannot run: MIAS has no CC views, so no film has its ipsilateral partner",
    "fusion": "cannot run: the chain falls back to the bilateral branch on every MIAS film (no CC views), "
    "whose cross-validation is in the bidual-lite card",
}
PURPOSE = {
    "nipple": "Nipple keypoint detector: a heatmap whose peak is the nipple, used to align MLO pairs "
    "before bilateral registration and for the RoI-to-nipple geometry of IpsiDualNet.",
    "single": "Single-view baseline: the same HRNet trunk and probability head as BiDualNet-v2 without "
    "the auxiliary input, for the ablation single-view vs bilateral.",
    "bidual": "BiDualNet-v2 (bilateral branch of MommiNet-v2): Siamese HRNet reading the main view and the "
    "registered contralateral view, fused after stage 3, giving a per-pixel mass probability map.",
    "ipsidual": "IpsiDualNet-v2 (ipsilateral branch of MommiNet-v2): Faster R-CNN on a Siamese HRNet + FPN "
    "reading the main view and the other view of the same breast; two relation blocks let every "
    "main RoI attend to the auxiliary RoIs with appearance and RoI-to-nipple geometry. Gives mass "
    "boxes with scores (rendered into the Ipsi-prob map for the fusion network).",
    "fusion": "Fusion network (v2) of MommiNet-v2: U-Net on the frozen IpsiDualNet trunk reading the main view, "
    "the Ipsi-prob map and the Bi-prob map; its map gives the final findings. Evaluated as the whole "
    "tri-view chain (nipple, BiDualNet, IpsiDualNet, fusion) through ONNX Runtime.",
    "malignancy": "Malignancy classifier of MommiNet-v2: a DenseNet trunk shared by a benign-vs-malignant head and "
    "a normalised BI-RADS regression head (multi-task loss with learned uncertainty weights, Kendall "
    "et al. 2018), applied to a patch around every finding; its probability is calibrated by "
    "temperature scaling.",
}
#: rows of the ablation table: eval folder prefix -> what it is
ABLATION_ROWS = {
    "single": "single view (baseline)",
    "bidual": "bilateral: BiDualNet",
    "ipsidual": "ipsilateral: IpsiDualNet, RoI-to-nipple geometry",
    "ablation-ipsidual-dummy": "ipsilateral: IpsiDualNet, dummy nipple (image centre)",
    "ablation-ipsidual-shape": "ipsilateral: IpsiDualNet, box shape and position",
    "fusion": "tri-view: MommiNet-v2 (fusion)",
}


def metrics_from_report(report: dict[str, Any]) -> dict[str, Any]:
    """A detector's manifest metrics from a `mommi eval` report (the retraining gate records them the same way)."""
    froc = report["froc"]
    metrics: dict[str, Any] = {
        "split": report["split"],
        "images": froc["images"],
        "patients": froc["patients"],
        "masses": froc["masses"],
        "recall_at_fppi": froc["recall_at_fppi"],
        "bootstrap": froc["protocol"]["bootstrap_samples"],
    }
    curve = froc.get("curve", {}).get("recall")
    if curve:  # where the FROC curve ends: the best-case recall over every candidate
        best = max(range(len(curve)), key=curve.__getitem__)
        metrics["max_recall"] = {"recall": curve[best], "fppi": froc["curve"]["fppi"][best]}
    if "nipple" in report:
        metrics["nipple"] = report["nipple"]
    return metrics


def _recall_table(metrics: dict[str, dict[str, Any]]) -> list[str]:
    return [
        "| data | images | masses | recall @0.5 FPPI | recall @1 FPPI | recall @2 FPPI |",
        "|---|---|---|---|---|---|",
        *recall_table_rows(metrics).values(),
    ]


def _verdicts(entry: dict[str, Any], comparison: dict[str, Any]) -> list[str]:
    """One plain sentence per dataset: is this model above or below the other at 1 FPPI?"""
    out = []
    for dataset, m in entry.get("metrics", {}).items():
        other = comparison.get("metrics", {}).get(dataset)
        if not other or not m.get("masses"):
            continue
        mine, theirs = m["recall_at_fppi"]["1"]["recall"], other["recall_at_fppi"]["1"]["recall"]
        word = "above" if mine > theirs else "below" if mine < theirs else "equal to"
        out.append(
            f"- {DATASETS.get(dataset, dataset)}: recall at 1 FPPI {mine:.3f}, {word} "
            f"{comparison['name']} ({theirs:.3f})."
        )
    return out


def checkpoint_line(entry: dict[str, Any]) -> str:
    if not entry.get("checkpoint"):
        return "- Training checkpoint: not shipped"
    return (
        f"- Training checkpoint: `{entry['checkpoint']}` (SHA-256 `{entry['checkpoint_sha256']}`), the file this "
        f"ONNX model was exported from; `mommi train {entry['task']} ... --init-from model_zoo/{entry['checkpoint']}` "
        "fine-tunes it (e.g. on feedback batches)"
    )


def _ci_text(value: float, ci: list[float | None]) -> str:
    return f"{value:.2f}" + (f" (95% CI {ci[0]:.2f}-{ci[1]:.2f})" if None not in ci else "")


def real_film_section(entry: dict[str, Any], operating_point: dict[str, Any] | None) -> list[str]:
    """What the card leads with: the model on real films, and the operating point set on them."""
    task = entry["task"]
    lines = ["## Real films first"]
    if task == "nipple":
        return lines + [
            "- Not measured on real films: mini-MIAS has no nipple annotations. The pipeline reads this heatmap only "
            "on the breast's front skin line and falls back to the skin line's apex where it is not confident "
            "(`mommi.findings.nipple.locate_nipple`); on mini-MIAS that decoding is checked by anatomy (left and "
            "right nipples at the same height, none at the film's edge): see the notes below.",
            "",
        ]
    cv = entry.get("metrics", {}).get("mias-cv")
    heldout = entry.get("metrics", {}).get("mias-heldout")
    if cv and cv.get("masses"):
        recall = " / ".join(f"{v['recall']:.2f}" for v in cv["recall_at_fppi"].values())
        one = cv["recall_at_fppi"]["1"]
        lines.append(
            f"- {DATASETS['mias-cv']}: {cv['images']} films, {cv['masses']} masses; recall at 0.5 / 1 / 2 "
            f"false marks per image {recall} (at 1: 95% CI {one['ci95'][0]:.2f}-{one['ci95'][1]:.2f})"
            + (
                f"; best-case recall over all candidates {cv['max_recall']['recall']:.2f}"
                if cv.get("max_recall")
                else ""
            )
            + f"; the branch {REAL_FILM_READING[task]}."
        )
    elif heldout and heldout.get("masses"):
        lines.append(
            "- No cross-validation by woman on real films for this model; the numbers below are the real "
            "films it was not trained on, a small sample."
        )
        recall = " / ".join(f"{v['recall']:.2f}" for v in heldout["recall_at_fppi"].values())
        one = heldout["recall_at_fppi"]["1"]
        lines.append(
            f"- {DATASETS['mias-heldout']}: {heldout['images']} films, {heldout['masses']} masses; recall "
            f"at 0.5 / 1 / 2 false marks per image {recall} (at 1: 95% CI {one['ci95'][0]:.2f}-"
            f"{one['ci95'][1]:.2f}); the branch {REAL_FILM_READING[task]}."
        )
    else:
        lines.append(f"- Not cross-validated on real films; on mini-MIAS the branch {REAL_FILM_READING[task]}.")
    if operating_point:
        lines.append(
            f"- Default operating point of the zoo (`mommi zoo operating-point`): detection score "
            f"{operating_point['min_score']:.3f}, set on {operating_point['images']} real films "
            f"({operating_point.get('set_on', 'see the zoo manifest')}) for <= "
            f"{operating_point['target_false_marks_per_image']:g} false marks per image"
            + (
                f", at most {operating_point['max_marks_per_view']} marks per view"
                if operating_point.get("max_marks_per_view")
                else ""
            )
            + ": measured "
            f"{_ci_text(operating_point['false_marks_per_image'], operating_point['false_marks_per_image_ci95'])} "
            f"false marks per image, sensitivity "
            f"{_ci_text(operating_point['sensitivity'], operating_point['sensitivity_ci95'])} "
            f"({operating_point['masses']} masses)."
        )
    return lines + ["- Synthetic numbers (below) alone decide nothing.", ""]


def render_card(
    entry: dict[str, Any],
    comparison: dict[str, Any] | None,
    notes: str = "",
    ablation: str = "",
    operating_point: dict[str, Any] | None = None,
) -> str:
    """The card's text, leading with the real films (``real_film_section``); ``notes`` (hand-written Markdown:
    what was tried and found) goes in as is, and the tri-view ``ablation`` tables go into the cards of the
    ipsilateral and fusion networks."""
    task = entry["task"]
    lines = [
        f"# Model card: {entry['name']}",
        "",
        f"> **Research model, not for clinical use.** {trained_on(entry)}; it has not been validated on "
        "clinical data and must not be used to diagnose, screen or treat anyone.",
        "",
        *real_film_section(entry, operating_point),
        "## What it is",
        PURPOSE[task],
        "",
        f"- File: `{entry['file']}` ({entry['size_bytes'] / 1e6:.2f} MB), SHA-256 `{entry['sha256']}`",
        "- Inputs: "
        + ", ".join(f"`{i['name']}` {i['shape']}" for i in entry["inputs"])
        + f"; normalisation (x - {entry['normalisation']['mean']}) / {entry['normalisation']['std']} of "
        f"{entry['normalisation']['pixels']}",
        "- Outputs: " + "; ".join(f"`{o['name']}` {o['shape']}: {o['meaning']}" for o in entry["outputs"]),
        f"- Configuration: {entry['config']['configuration']} (HRNet topology, narrow widths), "
        f"{'last' if entry['config'].get('kept_epoch') == 'last' else 'best'} epoch {entry['config']['epochs_run']} "
        f"(shipped), seed {entry['config']['seed']}"
        + (f", relation geometry {entry['config']['geometry']}" if entry["config"].get("geometry") else ""),
        f"- Exported {entry['exported']} with the legacy ONNX exporter (opset 17); ONNX Runtime vs PyTorch "
        f"max |difference| {entry['parity_max_abs_diff']:.2g}",
        checkpoint_line(entry),
        "",
        "## Training data",
        "Training manifests: " + ", ".join(f"`{Path(p).name}`" for p in entry.get("training_data", [])) + ".",
    ]
    lines += [
        f"- `{Path(p).name}`: {TRAINING_DATA[Path(p).name]}"
        for p in entry.get("training_data", [])
        if built_by_script(entry) and Path(p).name in TRAINING_DATA
    ]
    if entry["config"].get("initialised_from"):
        lines.append(
            f"- Initialised from `{entry['config']['initialised_from']}`; "
            + (
                f"trained {entry['config']['epochs_run']} epochs, the last kept."
                if entry["config"].get("kept_epoch") == "last"
                else f"the best epoch kept (epoch {entry['config']['epochs_run']}; early stopping on validation)."
            )
        )
    lines += [
        "",
        *retrain_section(entry),
        *how_it_was_made(
            entry,
            f"runs, in order: data generation and import, `mommi train {task} ...`, `mommi export {task} "
            f".../best.pt --zoo model_zoo`, `mommi predict {task} ...` and `mommi eval ...` (see the script for "
            "every argument).",
        ),
        "",
        f"{MEASURED_TITLE} (evaluated with the exported ONNX file through ONNX Runtime)",
    ]
    metrics = entry.get("metrics", {})
    if task == "nipple":
        lines += measured_lines(entry).values()
    else:
        first: dict[str, Any] = next(iter(metrics.values()), {})
        lines += [
            "FROC per METHOD.md (IoU > 0.2; all images incl. normal; 95% CI by patient bootstrap, "
            f"{first.get('bootstrap', '-')} resamples):",
            "",
        ]
        lines += _recall_table(metrics)
        if "mias-cv" in metrics:
            lines += [
                "",
                "The cross-validation row comes from the five fold networks in PyTorch (same recipe, each "
                "trained without the women it reads); the shipped ONNX file is the same recipe trained on "
                "every film, so it has no real-film test of its own.",
            ]
        if comparison:
            lines += ["", f"{COMPARISON_START} {comparison['name']} on the same images:", ""]
            lines += _recall_table(comparison.get("metrics", {}))
            lines += [""] + _verdicts(entry, comparison)
    lines += [
        "",
        "## Limits",
        "- Synthetic phantom studies are far simpler than clinical mammograms; mini-MIAS is small (39 masses) "
        "and digitised film. Numbers on these sets say nothing about clinical performance.",
        "- Lite configuration: a narrow HRNet at 256 x 160 input, so masses under about 5 mm are hard to see.",
        "- MIAS has only MLO views and no nipple annotations; bilateral registration of MIAS pairs uses the "
        "breast contours (and the nipple detector at inference).",
    ]
    if ablation and task in ("ipsidual", "fusion"):
        body = ablation.split("\n## ", 1)[1] if "\n## " in ablation else ""
        lines += [
            "",
            "## Tri-view ablation (same test sets and protocol)",
            "",
            "### " + body.replace("\n## ", "\n### "),
        ]
    if notes.strip():
        lines += ["", "## Development notes (what was tried)", notes.strip()]
    return "\n".join(lines) + "\n"


ABLATION_FILE = "ablation.md"
#: the zoo's version, raised whenever its models change (0.2.0: single, bidual and fusion retrained on real films;
#: 0.3.0: single and bidual pre-trained on the realistic phantom v3, fusion retrained on it; 0.3.1: nipple
#: fine-tuned on the phantom v3)
ZOO_VERSION = "0.3.1"


def _previous_rows(text: str) -> dict[str, dict[str, str]]:
    """Table rows of an earlier ablation.md: section title -> row label -> the row's Markdown line."""
    rows: dict[str, dict[str, str]] = {}
    title = ""
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:].strip()
        elif line.startswith("| ") and not line.startswith("| system"):
            rows.setdefault(title, {})[line.split("|")[1].strip()] = line
    return rows


def ablation_table(eval_dir: Path, previous: str = "", carried: tuple[str, ...] = ()) -> str:
    """The tri-view ablation (METHOD.md protocol) from every evaluation report, one table per dataset.

    Rows of the ``carried`` prefixes with no report here are copied from the ``previous`` ablation.md, in
    the tables of datasets with no report here too: the networks behind them were not retrained, only their
    reports are not on this machine."""
    reports: dict[str, dict[str, dict[str, Any]]] = {}
    for prefix in ABLATION_ROWS:
        for path in sorted(eval_dir.glob(f"{prefix}-*/report.json")):
            dataset = path.parent.name[len(prefix) + 1 :]
            reports.setdefault(dataset, {})[prefix] = metrics_from_report(json.loads(path.read_text()))
    old_rows = _previous_rows(previous)
    if not reports:
        return ""
    lines = [
        "# Tri-view ablation (lite models)",
        "",
        "Written by `mommi zoo record-metrics` from the models' evaluation reports (each card says how its model "
        "was made; `bash model_zoo/build_lite_zoo.sh` makes and evaluates the shipped ones). "
        "FROC per METHOD.md: IoU > 0.2, recall at 0.5 / 1 / 2 false positives per image over all images "
        "(normal ones included), 95% CI from 1000 patient-level bootstrap resamples. Every row is the "
        "exported ONNX model(s) through ONNX Runtime and the product's detection chain. Research models "
        "trained on synthetic phantom studies and mini-MIAS: these numbers say nothing about clinical "
        "performance.",
        "",
    ]
    fresh = {DATASETS.get(dataset, dataset): rows for dataset, rows in reports.items()}
    # the tables in their previous order (a reader compares the files), new datasets after them
    tables = {
        title: fresh.get(title, {})
        for title, kept in old_rows.items()
        if title in fresh or any(ABLATION_ROWS[prefix] in kept for prefix in carried)
    }
    tables |= {title: rows for title, rows in fresh.items() if title not in tables}
    for title, rows in tables.items():
        lines += [
            f"## {title}",
            "",
            "| system | images | masses | recall @0.5 FPPI | recall @1 FPPI | recall @2 FPPI |",
            "|---|---|---|---|---|---|",
        ]
        kept = old_rows.get(title, {})
        for prefix in ABLATION_ROWS:
            if prefix in rows:
                m = rows[prefix]
                cells = [
                    f"{v['recall']:.3f} ({v['ci95'][0]:.3f}-{v['ci95'][1]:.3f})" for v in m["recall_at_fppi"].values()
                ]
                lines.append(f"| {ABLATION_ROWS[prefix]} | {m['images']} | {m['masses']} | " + " | ".join(cells) + " |")
            elif prefix in carried and ABLATION_ROWS[prefix] in kept:
                lines.append(kept[ABLATION_ROWS[prefix]])
        lines.append("")
    return "\n".join(lines)


class RecordMetricsError(MommiError):
    """`mommi zoo record-metrics` cannot tell which model's metrics to record (no report for a model asked
    about, or two models of one task); nothing is written then."""


def _reports(eval_dir: Path, task: str) -> list[Path]:
    return sorted(eval_dir.glob(f"{task}-*/report.json"))


def _models_to_record(
    manifest: dict[str, Any], manifest_path: Path, eval_dir: Path, tasks: tuple[str, ...] | None
) -> list[dict[str, Any]]:
    """The entries whose metrics the reports in ``eval_dir`` replace: those of ``tasks``, else those with a
    report. Every other entry, and its card, stays as it is: a report for one model says nothing about the
    others (#23: recording a fine-tuned model's metrics wiped the other five).

    Raises:
        RecordMetricsError: a task asked about has no model or no report, two models share a task whose
            reports are to be recorded (EVAL/<task>-<dataset> cannot say whose they are), or nothing is
            to be recorded at all.
    """
    models = manifest["models"]
    reported = [m["task"] for m in models if m.get("task") and _reports(eval_dir, m["task"])]
    wanted = tasks if tasks is not None else tuple(dict.fromkeys(reported))
    if not wanted:
        raise RecordMetricsError(f"{eval_dir} has no <task>-<dataset>/report.json for any model of {manifest_path}")
    for task in wanted:
        named = [m["name"] for m in models if m.get("task") == task]
        if not named:
            raise RecordMetricsError(f"{manifest_path} has no {task} model to record metrics for")
        if len(named) > 1:
            raise RecordMetricsError(
                f"{manifest_path} has {len(named)} {task} models ({', '.join(named)}); the reports in {eval_dir} "
                f"are named by task ({task}-<dataset>), so they cannot be recorded for one of them: record them "
                "in a zoo holding one"
            )
        if not _reports(eval_dir, task):
            raise RecordMetricsError(
                f"{eval_dir} has no {task}-<dataset>/report.json; the {task} model's metrics are left as they are"
            )
    return [m for m in models if m.get("task") in wanted]


def record_metrics(
    zoo: Path, eval_dir: Path, tasks: tuple[str, ...] | None = None, made_by: str | None = None
) -> list[Path]:
    """Metrics from the reports in ``eval_dir`` into the manifest, the cards and ablation.md.

    Only the models of ``tasks`` (default: the models with a report in ``eval_dir``) are recorded; the
    other entries and cards stay as they are, and ablation.md keeps their rows from before. ``made_by``:
    the commands that made the recorded models, stored in their entries for their cards; without it an
    entry keeps what it records, else says "unknown" (a card never claims the build script by default).

    Raises:
        RecordMetricsError: see ``_models_to_record``; ZooError: the manifest cannot be read.
    """
    manifest_path = zoo / MANIFEST_NAME
    manifest = read_manifest(manifest_path)
    recorded = _models_to_record(manifest, manifest_path, eval_dir, tasks)
    for entry in recorded:
        entry["metrics"] = {}
        metrics_of = classifier_metrics if entry["task"] == "malignancy" else metrics_from_report
        for report_path in _reports(eval_dir, entry["task"]):
            dataset = report_path.parent.name[len(entry["task"]) + 1 :]
            entry["metrics"][dataset] = metrics_of(json.loads(report_path.read_text()))
        entry["card"] = f"{CARDS_DIR}/{entry['name']}.md"
        entry["made_by"] = made_by.strip() if made_by and made_by.strip() else provenance.made_by(entry)
        checkpoint = zoo / CHECKPOINTS_DIR / f"{entry['name']}.pt"
        # the training checkpoint travels with the zoo so that feedback can fine-tune the shipped model;
        # it is listed only when it is the very file the ONNX model was exported from
        if checkpoint.is_file() and sha256_of(checkpoint) == entry.get("checkpoint_sha256"):
            entry["checkpoint"] = f"{CHECKPOINTS_DIR}/{checkpoint.name}"
        else:
            entry.pop("checkpoint", None)
    by_task = {m.get("task"): m for m in manifest["models"]}
    previous = (zoo / ABLATION_FILE).read_text(encoding="utf-8") if (zoo / ABLATION_FILE).exists() else ""
    carried = tuple(p for p in ABLATION_ROWS if p not in {m["task"] for m in recorded})
    ablation = ablation_table(eval_dir, previous, carried)
    written = []
    (zoo / CARDS_DIR).mkdir(exist_ok=True)
    for entry in recorded:
        comparison = (
            by_task.get("bidual")
            if entry["task"] == "single"
            else by_task.get("single")
            if entry["task"] in ("bidual", "ipsidual", "fusion")
            else None
        )
        notes_path = zoo / NOTES_DIR / f"{entry['task']}.md"
        notes = notes_path.read_text(encoding="utf-8") if notes_path.exists() else ""
        path = zoo / entry["card"]
        if entry["task"] == "malignancy":
            text = render_classifier_card(
                entry, comparison_rows(eval_dir), notes, PURPOSE["malignancy"], checkpoint_line(entry)
            )
        else:
            text = render_card(entry, comparison, notes, ablation, manifest.get("operating_point"))
        path.write_text(text, encoding="utf-8")
        written.append(path)
    if ablation:
        reading = zoo / NOTES_DIR / ABLATION_FILE  # hand-written reading and reproduction commands
        if reading.exists():
            ablation = ablation.rstrip("\n") + "\n\n" + reading.read_text(encoding="utf-8")
        (zoo / ABLATION_FILE).write_text(ablation, encoding="utf-8")
        written.append(zoo / ABLATION_FILE)
    # a zoo `mommi zoo retrain` made keeps its version (<ZOO_VERSION>+r<N>): recording metrics changes no model
    if not str(manifest.get("zoo_version", "")).startswith(f"{ZOO_VERSION}+r"):
        manifest["zoo_version"] = ZOO_VERSION
    manifest["updated"] = date.today().isoformat()
    write_manifest(manifest_path, manifest)
    return written

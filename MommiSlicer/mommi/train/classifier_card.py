"""The malignancy classifier's metrics and model card (called by `mommi zoo record-metrics`).

Separate from ``cards`` because the classifier is measured differently from the
detectors: ROC AUC on detected patches, BI-RADS agreement and calibration, plus the
loss-weighting comparison the issue asks for (learned vs fixed vs binary-only),
read from ``EVAL/comparison-malignancy-<variant>-<dataset>/report.json``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mommi.runtime.card_metrics import CLASSIFIER_DATASETS as DATASETS
from mommi.runtime.card_metrics import MEASURED_TITLE, auc_cell, measured_lines
from mommi.train.provenance import built_by_script, how_it_was_made, retrain_section, trained_on

COMPARISON_PREFIX = "comparison-malignancy-"


def classifier_metrics(report: dict[str, Any]) -> dict[str, Any]:
    keys = ("split", "patches", "matched_masses", "auc", "auc_masses", "birads", "calibration")
    return {k: report[k] for k in keys if k in report}


def _variant(report: dict[str, Any]) -> str:
    config = report.get("config") or {}
    weighting = config.get("loss_weighting")
    if weighting == "fixed":
        return (
            f"fixed weighting, {config['classification_weight']:.1f} classification / "
            f"{1 - config['classification_weight']:.1f} BI-RADS"
        )
    return {"learned": "multi-task, learned uncertainty weights", "binary": "binary loss only"}.get(str(weighting), "?")


def comparison_rows(eval_dir: Path, dataset: str = "synth-test") -> list[dict[str, Any]]:
    """One row per loss-weighting variant evaluated on ``dataset``, the best fixed weighting (by
    validation AUC, never by test AUC) marked."""
    rows = []
    for path in sorted(eval_dir.glob(f"{COMPARISON_PREFIX}*-{dataset}/report.json")):
        report = json.loads(path.read_text())
        rows.append(
            {
                "variant": _variant(report),
                "weighting": (report.get("config") or {}).get("loss_weighting"),
                "validation_auc": report.get("validation_metric"),
                "auc": report.get("auc"),
                "auc_masses": report.get("auc_masses"),
                "best_fixed": False,
            }
        )
    fixed = [r for r in rows if r["weighting"] == "fixed" and r["validation_auc"] is not None]
    if fixed:
        max(fixed, key=lambda r: r["validation_auc"])["best_fixed"] = True
    order = {"learned": 0, "fixed": 1, "binary": 2}
    return sorted(rows, key=lambda r: (order.get(r["weighting"], 3), r["variant"]))


def comparison_table(rows: list[dict[str, Any]]) -> list[str]:
    lines = [
        "| loss | validation AUC | test AUC, all detected patches (95% CI) | test AUC, detected masses only |",
        "|---|---|---|---|",
    ]
    for r in rows:
        name = r["variant"] + (" **(best fixed, chosen on validation)**" if r["best_fixed"] else "")
        val = f"{r['validation_auc']:.3f}" if r["validation_auc"] is not None else "-"
        lines.append(f"| {name} | {val} | {auc_cell(r['auc'])} | {auc_cell(r['auc_masses'])} |")
    return lines


REAL_MASSES_TITLE = "## Real masses first"


def real_masses_section(entry: dict[str, Any]) -> list[str]:
    """What the card leads with: does the classifier separate real benign from malignant masses, and so,
    does the product show its probability (``mommi zoo real-masses``)?"""
    from mommi.runtime.malignancy import withheld_reason

    check = entry.get("real_masses")
    lines = [REAL_MASSES_TITLE]
    if not isinstance(check, dict):
        return lines + [
            "- Not measured on real masses (`mommi zoo real-masses`): the product withholds its "
            "probability and BI-RADS estimate.",
            "",
        ]
    if check.get("auc") is not None:
        lines.append(
            f"- {check['masses']} biopsy-labelled real masses ({check['malignant']} malignant) of "
            f"{check['patients']} women it was not trained on ({check.get('manifest_source')}, splits "
            f"{', '.join(check.get('splits', []))}): AUC {check['auc']:.2f} (95% patient-bootstrap CI "
            f"{check['ci95'][0]:.2f}-{check['ci95'][1]:.2f})."
        )
    reason = withheld_reason(check)
    lines.append(
        "- The whole CI lies above 0.5: the product shows its probability."
        if reason is None
        else f"- The product withholds its probability and BI-RADS estimate: it {reason}."
    )
    return lines + [""]


def replace_card_section(card: Path, title: str, lines: list[str]) -> None:
    """Put ``lines`` (starting with ``title``) into a card: replacing the section of that title, else
    before the first other section."""
    text = card.read_text(encoding="utf-8")
    block = "\n".join(lines).rstrip("\n") + "\n\n"
    if title in text:
        start = text.index(title)
        following = text.find("\n## ", start + len(title))
        end = following + 1 if following != -1 else len(text)
        text = text[:start] + block + text[end:]
    else:
        first = text.find("\n## ")
        at = first + 1 if first != -1 else len(text)
        text = text[:at] + block + text[at:]
    card.write_text(text, encoding="utf-8")


#: the patches the build script's recipe trained the classifier on (said only of a model it made)
BUILD_RECIPE_PATCHES = [
    "- Gold patches: every annotated mass of the train splits (synthetic: pathology and BI-RADS; "
    "mini-MIAS: pathology only, so its masses train the binary head alone).",
    "- Detected patches: the boxes the shipped detection chain finds in the same images (score >= 0.05, "
    "at most 4 per image); IoU >= 0.5 with a mass takes its labels, any other is not malignant "
    "(BI-RADS 1). Validation and test use detected patches only.",
]


def render_classifier_card(
    entry: dict[str, Any],
    rows: list[dict[str, Any]],
    notes: str,
    purpose: str,
    checkpoint_line: str = "",
) -> str:
    config = entry["config"]
    patch = entry["normalisation"].get("patch", {})
    lines = [
        f"# Model card: {entry['name']}",
        "",
        f"> **Research model, not for clinical use.** {trained_on(entry)}; its malignancy probability and "
        "BI-RADS estimate have not been validated on clinical data and must not be used to diagnose, screen or "
        "treat anyone.",
        "",
        *real_masses_section(entry),
        "## What it is",
        purpose,
        "",
        f"- File: `{entry['file']}` ({entry['size_bytes'] / 1e6:.2f} MB), SHA-256 `{entry['sha256']}`",
        "- Input: `patches` [batch, 1, S, S], S = {size}: a square window of (1 + {context}) x the finding's "
        "longer side (at least {min_side} px) around the box, cut from the original image and resized "
        "(`mommi.preprocess.patches`), normalised (x - 0.5) / 0.5.".format(
            size=patch.get("size"), context=patch.get("context"), min_side=patch.get("min_side")
        ),
        "- Outputs: " + "; ".join(f"`{o['name']}` {o['shape']}: {o['meaning']}" for o in entry["outputs"]),
        f"- Configuration: {config['configuration']}, loss weighting {config.get('loss_weighting')}, "
        f"{'last' if config.get('kept_epoch') == 'last' else 'best'} epoch {config['epochs_run']} (shipped), "
        f"seed {config['seed']}, batch {config['batch_size']}, lr {config['lr']}",
        f"- Exported {entry['exported']} with the legacy ONNX exporter (opset 17); ONNX Runtime vs PyTorch "
        f"max |difference| {entry['parity_max_abs_diff']:.2g}",
        checkpoint_line,
        "",
        "## Training data",
        "Training manifests: " + ", ".join(f"`{Path(p).name}`" for p in entry.get("training_data", [])) + ".",
        *(BUILD_RECIPE_PATCHES if built_by_script(entry) else []),
        "",
        *retrain_section(entry),
        *how_it_was_made(
            entry,
            "(step 8) runs `mommi predict fusion` over the training manifests, `mommi train malignancy ... "
            "--detections ...` for each loss weighting, `mommi export malignancy`, `mommi zoo calibrate` on the "
            "validation patches and `mommi eval-malignancy` on the test sets.",
        ),
        "",
        f"{MEASURED_TITLE} (the exported ONNX file through ONNX Runtime, detected patches only)",
        "",
        "| data | detected patches | on masses | AUC, all detected patches (95% CI) | AUC, detected masses only "
        "| BI-RADS exact / within one |",
        "|---|---|---|---|---|---|",
    ]
    lines += measured_lines(entry).values()
    if rows:
        lines += [
            "",
            "## Loss weighting: learned vs fixed vs binary only (synthetic test set)",
            "",
            "Same data, epochs and seed; each variant exported and evaluated like the shipped model. The paper "
            "found learned > best fixed > binary only (AUC 0.914 / 0.898 / 0.886 on its in-house data).",
            "",
        ]
        lines += comparison_table(rows)
    calibration = entry.get("calibration")
    if calibration:
        lines += [
            "",
            "## Calibration",
            f"Temperature scaling fitted on {calibration['patches']} detected {calibration['fitted_on']['split']} "
            f"patches of {', '.join(calibration['fitted_on'].get('manifests') or ['-'])}: "
            f"T = {calibration['temperature']:.3f}; expected calibration error on them "
            f"{calibration['ece_before']:.3f} before, {calibration['ece_after']:.3f} after.",
        ]
        for dataset, m in entry.get("metrics", {}).items():
            c = m.get("calibration", {})
            if c.get("ece_raw") is not None:
                lines.append(
                    f"- {DATASETS.get(dataset, dataset)}: ECE {c['ece_raw']:.3f} raw, "
                    f"{c['ece_calibrated']:.3f} calibrated."
                )
        if calibration.get("plot"):
            lines += ["", f"![reliability diagram](../{calibration['plot']})"]
    lines += [
        "",
        "## Limits",
        "- The phantom's malignant masses are irregular or spiculated and its benign ones smooth, by "
        "construction; real lesions overlap far more. mini-MIAS adds 14 malignant and 25 benign masses.",
        "- AUC over all detected patches mixes two questions (mass or not, malignant or not); the "
        "masses-only AUC is the second question alone.",
    ]
    if notes.strip():
        lines += ["", "## Development notes", notes.strip()]
    return "\n".join(lines) + "\n"

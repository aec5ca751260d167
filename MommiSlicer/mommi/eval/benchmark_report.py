"""The benchmark's paper-style table (report.md) and its per-exam table (exams.csv).

The published rows are the DDSM column of METHOD.md's "Headline results to beat"
(Yang et al., MommiNet-v2, Medical Image Analysis 2021). They are quoted, not
measured here: they are what a reader compares our numbers with, on a different
data set and with different (full-size) models, and the report says so.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

#: (system, recall at 0.5, 1, 2 FPPI) on DDSM as published (METHOD.md)
PAPER_DDSM: tuple[tuple[str, tuple[float, float, float]], ...] = (
    ("single-view Faster-RCNN (HRNet-48)+FPN+FL+DIoU", (0.76, 0.82, 0.88)),
    ("BiDualNet-v2 (bilateral images)", (0.801, 0.853, 0.891)),
    ("IpsiDualNet-v2 (ipsilateral images)", (0.811, 0.843, 0.889)),
    ("MommiNet-v2 (tri-view)", (0.831, 0.850, 0.898)),
)
PAPER_SOURCE = "Yang, Cao et al., MommiNet-v2, Medical Image Analysis 2021 (DDSM column; METHOD.md)"
EXAM_COLUMNS = (
    "exam_id",
    "images",
    "masses",
    "findings",
    "true_positives",
    "false_positives",
    "max_malignancy",
    "seconds",
    "status",
    "error",
)


def _ci(value: float | None, ci: list[float] | None) -> str:
    if value is None:
        return "-"
    if not ci or any(v != v for v in ci):  # nan: no CI
        return f"{value:.3f}"
    return f"{value:.3f} ({ci[0]:.3f}-{ci[1]:.3f})"


def _detection_lines(report: dict[str, Any]) -> list[str]:
    detection = report["detection"]
    if detection.get("froc") is None:
        return [f"Detection (FROC): not computed: {detection['reason']}.", ""]
    froc = detection["froc"]
    points = froc["recall_at_fppi"]
    lines = ["| system | data | recall @0.5 FPPI | recall @1 FPPI | recall @2 FPPI |", "|---|---|---|---|---|"]
    ours = " | ".join(_ci(points[k]["recall"], points[k]["ci95"]) for k in ("0.5", "1", "2"))
    lines.append(
        f"| **ours: {report['model']}** | {report['dataset_title']}, {froc['images']} images, "
        f"{froc['masses']} masses | {ours} |"
    )
    for system, values in PAPER_DDSM:
        lines.append(f"| paper: {system} | DDSM (published) | " + " | ".join(f"{v:.3f}" for v in values) + " |")
    lines += [
        "",
        f"Recall with 95% patient-bootstrap CI ({froc['protocol']['bootstrap_samples']} resamples); a "
        f"prediction is a true positive when IoU > {froc['protocol']['iou_threshold']} with a mass. "
        f"Published rows: {PAPER_SOURCE}.",
        "**Ours are research models measured on this data**: the paper's numbers are full-size models on "
        "DDSM; the comparison shows scale, not a like-for-like result.",
        "",
    ]
    if detection.get("images_without_predictions"):
        lines += [
            f"{detection['images_without_predictions']} evaluated image(s) have no predictions (their exam "
            "failed or the image was set aside); they count as images without detections.",
            "",
        ]
    return lines


def _malignancy_lines(section: dict[str, Any] | None) -> list[str]:
    if section is None:
        return ["Malignancy: not computed: the dataset has no benign/malignant truth.", ""]
    head = f"Malignancy ROC AUC, {section['level']}: "
    if section.get("auc") is None:
        body = f"not computed: {section['reason']}."
    else:
        body = (
            f"{_ci(section['auc'], section['ci95'])} over {section['n']} samples "
            f"({section['positives']} malignant, {section['negatives']} benign; 95% patient bootstrap)."
        )
    extra = []
    if "unmatched" in section:
        extra.append(
            f"{section['masses_with_pathology']} masses with pathology: {section['matched']} matched by a "
            f"detection (IoU > 0.2), {section['unmatched']} unmatched (not scored)"
            + (
                f", {section['matched_without_malignancy']} matched without a malignancy score"
                if section["matched_without_malignancy"]
                else ""
            )
            + "."
        )
    if "breasts" in section:
        extra.append(f"{section['breasts']} breasts, {section['breasts_without_findings']} without findings.")
    return [head + body, *extra, ""]


def _birads_lines(section: dict[str, Any] | None) -> list[str]:
    if section is None:
        return ["BI-RADS agreement: not computed: the dataset has no BI-RADS truth.", ""]
    if not section["pairs"]:
        return [f"BI-RADS agreement ({section['level']}): not computed: no pair to compare.", ""]
    line = (
        f"BI-RADS agreement ({section['level']}): exact {section['exact']:.3f}, within one category "
        f"{section['within_one']:.3f} over {section['pairs']} pairs"
    )
    if section.get("unmatched"):
        line += f"; {section['unmatched']} masses with a BI-RADS were not matched"
    return [line + ". A plain '4' in the truth matches 4A, 4B and 4C.", ""]


def markdown(report: dict[str, Any]) -> str:
    """report.md: the table, the malignancy and BI-RADS lines, the counts and how they were made."""
    counts = report["counts"]
    settings = report["settings"]
    lines = [f"# mommi benchmark: {report['dataset_title']}", "", f"Evaluated: {report['split_note']}.", ""]
    lines += _detection_lines(report) + _malignancy_lines(report["malignancy"]) + _birads_lines(report["birads"])
    lines += [
        "## Counts",
        "",
        f"- exams: {counts['exams']} ({counts['exams_failed']} failed), images: {counts['images']}, "
        f"patients: {counts['patients']}, masses: {counts['masses']}",
        f"- detections kept for the FROC from score {settings['min_score']:g}; findings, BI-RADS of images "
        f"and exams.csv use the reporting score {settings['report_score']:g}",
        f"- models: {', '.join(f'{k} {v[:12]}' for k, v in sorted(settings['models'].items())) or '-'} "
        f"(zoo {settings['zoo_version']}, provider {settings['provider']})",
        *[f"- note: {note}" for note in report["notes"]],
        "",
    ]
    return "\n".join(lines)


def write_exams_csv(rows: list[dict[str, Any]], path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=EXAM_COLUMNS, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: "" if row.get(k) is None else row.get(k) for k in EXAM_COLUMNS})
    return path

"""The metric lines a model card states, from its manifest entry: written into the card by
``mommi zoo record-metrics`` (``mommi.train.cards``) and checked against the card by ``mommi info``.

One function makes the lines for both, so that a card whose numbers are not the manifest's (a model
evaluated again, or a card edited by hand) is found by comparing text, not by parsing Markdown back into
numbers. It lives in the runtime, not beside the card writer, because ``mommi info`` and the Slicer
extension (which ships no training code) check the zoo.
"""

from __future__ import annotations

from typing import Any

#: the card's section of measured metrics (both card kinds start it with this)
MEASURED_TITLE = "## Measured"
#: in a detector's card, where its own numbers end and another model's begin
COMPARISON_START = "For comparison,"
#: evaluation dataset (the EVAL/<task>-<dataset> folder) -> how a detector's card names it
DETECTION_DATASETS = {
    "synth-test": "200 synthetic studies (seed 200) never seen in training, all 800 views",
    "synth-v3-test": "100 studies of the realistic phantom v3 (seed 200) never seen in training, all 400 views",
    "mias": "mini-MIAS validation split (patient-level, seed 0)",
    "mias-heldout": "real mini-MIAS films of the 22 held-out women (val + test splits), never trained on",
    "mias-cv": "real mini-MIAS films, 5-fold cross-validation by woman: every film read by the fold's network that "
    "never saw its woman",
    "mias-phantom-only": "real mini-MIAS films, all 216, read by the phantom-pretrained network before any real film",
}
#: the same for the malignancy classifier, measured on the patches the detection chain found
CLASSIFIER_DATASETS = {
    "synth-test": "200 synthetic studies (seed 200), patches the tri-view chain detected",
    "mias": "mini-MIAS test split, patches the chain (bilateral fall-back) detected",
}


def recall_table_rows(metrics: dict[str, dict[str, Any]]) -> dict[str, str]:
    """Dataset -> the FROC table row of a detector's card (datasets without masses have none)."""
    rows = {}
    for dataset, m in metrics.items():
        if not m.get("masses"):
            continue
        cells = [f"{v['recall']:.3f} ({v['ci95'][0]:.3f}-{v['ci95'][1]:.3f})" for v in m["recall_at_fppi"].values()]
        rows[dataset] = (
            f"| {DETECTION_DATASETS.get(dataset, dataset)} | {m['images']} | {m['masses']} | "
            + " | ".join(cells)
            + " |"
        )
    return rows


def auc_cell(auc: dict[str, Any] | None) -> str:
    if not auc or auc.get("auc") is None:
        return "not measurable" if auc else "-"
    return f"{auc['auc']:.3f} ({auc['ci95'][0]:.3f}-{auc['ci95'][1]:.3f}), n={auc['n']}"


def _classifier_row(dataset: str, m: dict[str, Any]) -> str:
    b = m.get("birads", {})
    birads = f"{b['exact']:.2f} / {b['within_one']:.2f} (n={b['n']})" if b.get("n") else "no BI-RADS labels"
    return (
        f"| {CLASSIFIER_DATASETS.get(dataset, dataset)} | {m.get('patches')} | {m.get('matched_masses')} | "
        f"{auc_cell(m.get('auc'))} | {auc_cell(m.get('auc_masses'))} | {birads} |"
    )


def _nipple_line(dataset: str, n: dict[str, Any]) -> str:
    return (
        f"- {DETECTION_DATASETS.get(dataset, dataset)}: {n['images']} images, nipple error median "
        f"{n['median_mm']:.2f} mm, mean {n['mean_mm']:.2f} mm, 95th percentile {n['p95_mm']:.2f} mm, max "
        f"{n['max_mm']:.2f} mm; {n['wrong']} wrong (> {n['wrong_threshold_mm']:g} mm)"
    )


def measured_lines(entry: dict[str, Any]) -> dict[str, str]:
    """Dataset -> the line of the card's Measured section that states the entry's ``metrics`` for it."""
    metrics: dict[str, dict[str, Any]] = entry.get("metrics") or {}
    if entry.get("task") == "malignancy":
        return {dataset: _classifier_row(dataset, m) for dataset, m in metrics.items()}
    if entry.get("task") == "nipple":
        return {dataset: _nipple_line(dataset, m["nipple"]) for dataset, m in metrics.items() if m.get("nipple")}
    return recall_table_rows(metrics)


def _stated_lines(card_text: str) -> list[str]:
    """The metric lines of a card's own Measured section: table rows (not the header) and list items, up to
    the next section or the comparison with another model."""
    start = card_text.find("\n" + MEASURED_TITLE)
    if start == -1:
        return []
    section = card_text[start + 1 :].split("\n## ", 1)[0].split(COMPARISON_START, 1)[0]
    return [
        line
        for line in section.splitlines()[1:]
        if (line.startswith("| ") and not line.startswith("| data |")) or line.startswith("- ")
    ]


def metrics_problem(entry: dict[str, Any], card_name: str, card_text: str) -> str | None:
    """Whether the card states the metrics the manifest records for this model, in one sentence (None: it
    does). A dataset whose line is missing, different or extra in the card is named."""
    expected = measured_lines(entry)
    stated = _stated_lines(card_text)
    differing = [dataset for dataset, line in expected.items() if line not in stated]
    extra = [line for line in stated if line not in expected.values()]
    if not differing and not extra:
        return None
    labels = CLASSIFIER_DATASETS if entry.get("task") == "malignancy" else DETECTION_DATASETS
    for line in extra:
        found = next((d for d, label in labels.items() if line.startswith((f"| {label} |", f"- {label}:"))), None)
        differing.append(found or line[:60])
    which = ", ".join(dict.fromkeys(differing))
    return (
        f"model {entry['name']}: its card {card_name} states other metrics than the manifest records for it "
        f"({which}); regenerate the card (mommi zoo record-metrics)"
    )

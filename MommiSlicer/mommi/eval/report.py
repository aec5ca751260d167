"""`mommi eval`: predictions + training manifest -> FROC / nipple report (JSON and PNG).

Predictions file (written by the models' inference, or by any other detector)::

    {"schema": "mommi-predictions", "version": 1, "model": "bidual-lite",
     "images": {"<image_id>": {"boxes": [[x0, y0, x1, y1, score], ...], "nipple": [x, y]}}}

Boxes and nipples are in the ORIGINAL pixel coordinates of the manifest's images.
An image of the evaluated split with no entry has no predictions (counted, reported).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mommi.errors import MommiError
from mommi.data.manifest import Manifest
from mommi.eval.froc import ImageResult, evaluate_froc
from mommi.eval.nipple import nipple_errors

PREDICTIONS_SCHEMA = "mommi-predictions"


class PredictionsError(MommiError, ValueError):
    """A predictions file that does not follow the schema; names the file."""


def load_predictions(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise PredictionsError(f"{path}: cannot read predictions ({exc})") from exc
    if data.get("schema") != PREDICTIONS_SCHEMA or not isinstance(data.get("images"), dict):
        raise PredictionsError(f"{path}: not a {PREDICTIONS_SCHEMA} file (schema {data.get('schema')!r})")
    return data


def evaluate(
    manifest: Manifest, predictions: dict[str, Any], split: str | None = "test", bootstrap: int = 1000, seed: int = 0
) -> dict[str, Any]:
    """FROC (and nipple error) on the images of ``split``: one split, several joined by commas
    ("val,test": the women a model was not trained on), or None for every image."""
    wanted = None if split is None else {s.strip() for s in split.split(",") if s.strip()}
    records = [r for r in manifest.records if wanted is None or r.split in wanted]
    if not records:
        raise PredictionsError(f"the manifest has no images in split {split!r}")
    images, missing = [], 0
    nipple_pred, nipple_true, nipple_spacing = [], [], []
    for record in records:
        entry = predictions["images"].get(record.image_id)
        missing += entry is None
        entry = entry or {}
        images.append(
            ImageResult(
                record.image_id,
                record.patient_id,
                truth=[f.box for f in record.findings if f.kind == "mass"],
                predictions=[(box[:4], float(box[4])) for box in entry.get("boxes", [])],
            )
        )
        if entry.get("nipple") is not None and record.nipple is not None and record.spacing_mm is not None:
            nipple_pred.append(entry["nipple"])
            nipple_true.append(record.nipple)
            nipple_spacing.append(record.spacing_mm)
    froc = evaluate_froc(images, bootstrap=bootstrap, seed=seed)
    report: dict[str, Any] = {
        "model": predictions.get("model"),
        "manifest_source": manifest.source,
        "split": split,
        "images_without_predictions": missing,
        "froc": froc.to_dict(),
    }
    if nipple_pred:
        report["nipple"] = nipple_errors(nipple_pred, nipple_true, nipple_spacing).to_dict()
    return report


def plot_froc(report: dict[str, Any], path: Path) -> Path:
    """FROC curve with the three operating points and their CIs, as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    froc = report["froc"]
    fig, ax = plt.subplots(figsize=(5, 4), dpi=120)
    ax.step(froc["curve"]["fppi"], froc["curve"]["recall"], where="post", label=report.get("model") or "model")
    for fppi, value in froc["recall_at_fppi"].items():
        lo, hi = value["ci95"]
        ax.errorbar(
            [float(fppi)],
            [value["recall"]],
            yerr=[[value["recall"] - lo], [hi - value["recall"]]],
            fmt="o",
            color="black",
            capsize=3,
        )
    ax.set_xlim(0, max(3.0, float(max(froc["recall_at_fppi"], key=float)) + 1))
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("false positives per image")
    ax.set_ylabel("recall (sensitivity)")
    ax.set_title(f"FROC, {froc['images']} images, {froc['masses']} masses (95% patient CI)")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path

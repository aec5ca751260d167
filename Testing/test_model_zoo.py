"""The shipped model zoo: every model loads through ONNX Runtime with its hash checked,
reproduces its recorded outputs on the fixed reference input, and has an honest card."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from mommi.runtime.sessions import load_model

ZOO = Path(__file__).resolve().parents[1] / "model_zoo"
MODELS = json.loads((ZOO / "manifest.json").read_text())["models"]


def _reference_inputs(entry: dict) -> dict[str, np.ndarray]:
    """Rebuilt here without torch, exactly as mommi.train.export.reference_inputs makes them."""
    rng = np.random.default_rng(0)
    image = next(i["shape"] for i in entry["inputs"] if len(i["shape"]) == 4)
    batch, height, width = (1 if image[0] == 1 else 2), image[2], image[3]
    inputs = {}
    for i in entry["inputs"]:
        if i["name"].endswith("_nipple"):
            inputs[i["name"]] = np.array([[0.75 * width, 0.5 * height]] * batch, np.float32)
        elif i["name"].endswith("_map"):
            inputs[i["name"]] = rng.random((batch, 1, height, width)).astype(np.float32)
        else:
            inputs[i["name"]] = rng.standard_normal((batch, 1, height, width)).astype(np.float32)
    return inputs


def test_zoo_manifest_lists_the_lite_models() -> None:
    if not MODELS:
        pytest.skip("the model zoo is empty (no trained model shipped yet)")
    assert {m["task"] for m in MODELS} >= {"nipple", "single", "bidual"}


@pytest.mark.parametrize("entry", MODELS, ids=lambda m: m["name"])
def test_shipped_model_reproduces_its_recorded_outputs(entry: dict) -> None:
    model = load_model(entry["name"], ZOO / "manifest.json", device="cpu")
    outputs = model.run_all(**_reference_inputs(entry))
    references = entry["reference"]["outputs"]
    assert len(outputs) == len(references) == len(entry["outputs"])
    for output, (name, reference) in zip(outputs, references.items()):
        assert list(output.shape) == reference["shape"], name
        flat = output.astype(np.float64).ravel()
        if flat.size == 0:
            continue
        assert flat.mean() == pytest.approx(reference["mean"], abs=1e-4), name
        assert flat.std() == pytest.approx(reference["std"], rel=1e-4, abs=1e-6), name
        sample = flat[:: max(flat.size // 8, 1)][:8]
        assert np.allclose(sample, reference["sample"], atol=1e-3), name


@pytest.mark.parametrize("entry", MODELS, ids=lambda m: m["name"])
def test_shipped_model_is_small_and_has_a_card_with_numbers(entry: dict) -> None:
    assert (ZOO / entry["file"]).stat().st_size < 8 * 2**20  # lite models: a few MB
    card = (ZOO / entry["card"]).read_text()
    assert "not for clinical use" in card and entry["sha256"] in card
    assert entry["metrics"], "metrics must be recorded from the evaluation"
    if entry["task"] == "nipple":
        assert "nipple error median" in card
    else:
        recall = next(iter(entry["metrics"].values()))["recall_at_fppi"]["1"]["recall"]
        assert f"{recall:.3f}" in card

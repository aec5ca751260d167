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
    return {i["name"]: rng.standard_normal((2, 1, *i["shape"][2:])).astype(np.float32) for i in entry["inputs"]}


def test_zoo_manifest_lists_the_lite_models() -> None:
    if not MODELS:
        pytest.skip("the model zoo is empty (no trained model shipped yet)")
    assert {m["task"] for m in MODELS} >= {"nipple", "single", "bidual"}


@pytest.mark.parametrize("entry", MODELS, ids=lambda m: m["name"])
def test_shipped_model_reproduces_its_recorded_outputs(entry: dict) -> None:
    model = load_model(entry["name"], ZOO / "manifest.json", device="cpu")
    output = model.run(**_reference_inputs(entry))
    reference = entry["reference"]
    assert list(output.shape) == reference["shape"]
    flat = output.astype(np.float64).ravel()
    assert flat.mean() == pytest.approx(reference["mean"], abs=1e-4)
    assert flat.std() == pytest.approx(reference["std"], rel=1e-4)
    sample = flat[:: max(flat.size // 8, 1)][:8]
    assert np.allclose(sample, reference["sample"], atol=1e-3)


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

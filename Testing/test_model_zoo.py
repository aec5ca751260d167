"""The shipped model zoo: every model loads through ONNX Runtime with its hash checked,
reproduces its recorded outputs on the fixed reference input, and has an honest card; the
shipped detection chain and classifier run together on a synthetic study with views missing."""

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
    elif entry["task"] == "malignancy":
        aucs = [m["auc"]["auc"] for m in entry["metrics"].values() if m["auc"].get("auc") is not None]
        assert aucs and all(f"{auc:.3f}" in card for auc in aucs) and "Loss weighting" in card
        assert entry["calibration"]["temperature"] > 0 and "## Calibration" in card
    else:
        recall = next(iter(entry["metrics"].values()))["recall_at_fppi"]["1"]["recall"]
        assert f"{recall:.3f}" in card


SHIPPED = {m["name"] for m in MODELS}


@pytest.fixture(scope="module")
def synthetic_study(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from mommi.data.importers.synthetic import import_synthetic
    from mommi.data.records import load_record_image
    from mommi.data.synth import synthesize
    from mommi.study.model import View

    root = tmp_path_factory.mktemp("shipped")
    synthesize(root / "s", 1, seed=5, normal_fraction=0.0)
    manifest = import_synthetic(root / "s")
    return {View(f"{r.laterality}-{r.view}"): load_record_image(manifest, r) for r in manifest.records}


@pytest.mark.skipif(
    not {"nipple-lite", "bidual-lite", "ipsidual-lite", "fusion-lite", "single-lite"} <= SHIPPED,
    reason="the zoo does not ship the whole detection chain yet",
)
def test_shipped_chain_runs_on_four_three_and_two_views(synthetic_study: dict) -> None:
    from mommi.runtime.detection_chain import DetectionChain
    from mommi.study.model import View

    chain = DetectionChain(ZOO / "manifest.json", device="cpu")
    full = chain.run(synthetic_study)
    assert {r.branch for r in full.values()} == {"tri-view"}
    three = chain.run({v: synthetic_study[v] for v in (View.L_CC, View.L_MLO, View.R_CC)})
    assert [three[v].branch for v in (View.L_CC, View.L_MLO, View.R_CC)] == ["tri-view", "ipsilateral", "bilateral"]
    two = chain.run({v: synthetic_study[v] for v in (View.L_CC, View.R_MLO)})
    assert {r.branch for r in two.values()} == {"single-view"}
    assert sorted(m.name for m in chain.loaded_models()) == [
        "bidual-lite",
        "fusion-lite",
        "ipsidual-lite",
        "nipple-lite",
        "single-lite",
    ]


@pytest.mark.skipif("malignancy-lite" not in SHIPPED, reason="the zoo does not ship the malignancy classifier yet")
def test_shipped_classifier_scores_the_chains_findings_in_any_batch(synthetic_study: dict) -> None:
    from mommi.runtime.detection_chain import DetectionChain
    from mommi.runtime.malignancy import MalignancyClassifier

    chain = DetectionChain(ZOO / "manifest.json", device="cpu")
    classifier = MalignancyClassifier(ZOO / "manifest.json", device="cpu", max_batch=3)
    assert classifier.calibrated
    for view, result in chain.run(synthetic_study).items():
        boxes = [box for box, _ in result.boxes_in_original()]
        pixels = synthetic_study[view].pixels
        scores = classifier.classify(pixels, boxes)
        assert len(scores) == len(boxes)
        single = [classifier.classify(pixels, [b])[0].probability for b in boxes]
        assert [s.probability for s in scores] == pytest.approx(single, abs=1e-5)


@pytest.mark.parametrize("entry", MODELS, ids=lambda m: m["name"])
def test_shipped_checkpoint_is_the_one_the_model_was_exported_from(entry: dict) -> None:
    """Feedback fine-tunes the shipped models from these files (`mommi train ... --init-from`)."""
    from mommi.runtime.zoo import sha256_of

    path = ZOO / entry["checkpoint"]
    assert sha256_of(path) == entry["checkpoint_sha256"] and path.stat().st_size < 8 * 2**20
    assert entry["checkpoint"] in (ZOO / entry["card"]).read_text()
    torch = pytest.importorskip("torch", reason="loading a checkpoint into its network needs the train extra")
    from mommi.train.loop import TrainConfig, build_model

    saved = torch.load(path, map_location="cpu", weights_only=False)
    cfg = TrainConfig(**saved["config"])
    model = build_model(entry["task"], cfg.config, cfg.fuse_stage, cfg.geometry)
    model.load_state_dict(saved["model"])  # strict: every weight of the network, nothing else


def test_every_manifest_is_checked_against_its_schema(tmp_path: Path) -> None:
    """The shipped manifest follows zoo_manifest.schema.json (it names it); a manifest that does not is refused
    by every reader with the place and the cause."""
    from mommi.runtime.zoo import SCHEMA_PATH, ZooEntry, ZooError, default_manifest_path, read_manifest

    shipped = read_manifest(default_manifest_path())
    assert (default_manifest_path().parent / shipped["$schema"]).resolve() == SCHEMA_PATH.resolve()
    single = ZooEntry.of(next(m for m in shipped["models"] if m["name"] == "single-lite"))
    assert single.task == "single" and single.input(0).shape[2:] == (256, 160)
    for change, says in (
        (lambda d: d.update(schema_version=2), "manifest schema 2 is not supported"),
        (lambda d: d["models"][0].update(task="segment-everything"), "is not one of"),
        (lambda d: d["models"][0]["inputs"][0].pop("dtype"), "'dtype' is a required property"),
        (lambda d: d.update(operating_point={"min_score": 7}), "greater than the maximum"),
    ):
        data = json.loads(default_manifest_path().read_text())
        change(data)
        broken = tmp_path / "manifest.json"
        broken.write_text(json.dumps(data))
        with pytest.raises(ZooError, match=says):
            read_manifest(broken)

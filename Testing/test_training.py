"""Training code: model topology, losses, a short training run, resume, torchrun (gloo),
ONNX export with parity, zoo loading, prediction and evaluation end to end."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is in the train extra; training tests need it")

from mommi.cli import exit_codes  # noqa: E402
from mommi.cli.main import main  # noqa: E402
from mommi.data.importers.synthetic import import_synthetic  # noqa: E402
from mommi.data.split import assign_splits  # noqa: E402
from mommi.data.synth import synthesize  # noqa: E402
from mommi.runtime.sessions import load_model  # noqa: E402
from mommi.runtime.zoo import ZooError, verified_model_path  # noqa: E402
from mommi.train.losses import pixel_focal_loss  # noqa: E402
from mommi.train.models.bidual import BiDualNet, SingleViewNet  # noqa: E402
from mommi.train.models.nipple import NippleNet  # noqa: E402


@pytest.mark.parametrize("stage", [1, 2, 3])
def test_bidual_fuses_at_the_chosen_stage_with_shared_weights(stage: int) -> None:
    model = BiDualNet("lite", fuse_stage=stage)
    x = torch.randn(2, 1, 64, 96)  # HRNet needs sides divisible by 32
    assert model(x, x).shape == (2, 1, 64, 96)
    assert [m[0].in_channels for m in model.fuse] == [2 * c for c in model.trunk.channels[stage - 1]]
    model.eval()
    # the residual fusion starts at zero: untrained, the auxiliary image changes nothing
    assert torch.allclose(model(x, x), model(x, torch.zeros_like(x)))
    # once the fusion has weight, the auxiliary image (through the shared trunk) does
    for fuse in model.fuse:
        torch.nn.init.ones_(fuse[1].weight)
    assert not torch.allclose(model(x, x), model(x, torch.zeros_like(x)))


def test_single_view_and_nipple_networks() -> None:
    x = torch.randn(1, 1, 64, 96)
    assert SingleViewNet("lite")(x).shape == (1, 1, 64, 96)
    assert NippleNet("lite")(x).shape == (1, 1, 16, 24)


def test_full_configuration_is_the_papers_hrnet48() -> None:
    trunk = BiDualNet("full").trunk
    assert trunk.channels[3] == [48, 96, 192, 384]


def test_focal_loss_prefers_the_right_answer() -> None:
    target = torch.zeros(1, 1, 8, 8)
    target[..., 2:4, 2:4] = 1
    good = torch.where(target > 0, 5.0, -5.0)
    assert pixel_focal_loss(good, target) < pixel_focal_loss(-good, target)


@pytest.fixture(scope="module")
def tiny_manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tiny")
    synthesize(root / "s", 6, seed=9, normal_fraction=0.2)
    manifest = assign_splits(import_synthetic(root / "s"), seed=0, fractions=(0.5, 0.5, 0.0))
    return manifest.write(root / "m.json")


def _train(task: str, manifest: Path, out: Path, epochs: int) -> int:
    return main(
        [
            "train",
            task,
            "--manifest",
            str(manifest),
            "--out",
            str(out),
            "--epochs",
            str(epochs),
            "--batch-size",
            "4",
            "--max-train",
            "8",
            "--max-val",
            "8",
        ]
    )


def test_training_runs_logs_and_resumes(tiny_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "single"
    assert _train("single", tiny_manifest, out, 1) == exit_codes.OK
    assert len((out / "log.csv").read_text().splitlines()) == 2
    assert (out / "best.pt").exists() and (out / "checkpoint.pt").exists()
    assert _train("single", tiny_manifest, out, 2) == exit_codes.OK  # continues at epoch 2
    rows = (out / "log.csv").read_text().splitlines()
    assert [r.split(",")[0] for r in rows[1:]] == ["1", "2"]


def test_cuda_requested_without_a_gpu_is_an_error_not_a_cpu_run(
    tiny_manifest: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import torch

    if torch.cuda.is_available():
        pytest.skip("PyTorch sees a GPU here: --device cuda would train on it")
    code = main(
        [
            "train",
            "single",
            "--manifest",
            str(tiny_manifest),
            "--out",
            str(tmp_path / "run"),
            "--epochs",
            "1",
            "--device",
            "cuda",
        ]
    )
    assert code == exit_codes.PROBLEMS
    assert "--device cuda: PyTorch sees no CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.fixture(scope="module")
def trained(tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    runs = tmp_path_factory.mktemp("runs")
    for task in ("nipple", "single", "bidual", "ipsidual"):
        assert _train(task, tiny_manifest, runs / task, 1) == exit_codes.OK
    return {task: runs / task / "best.pt" for task in ("nipple", "single", "bidual", "ipsidual")}


@pytest.fixture(scope="module")
def tiny_zoo(trained: dict[str, Path], tiny_manifest: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The paper's order: the branches are exported, then the fusion network learns on their maps."""
    zoo = tmp_path_factory.mktemp("zoo")
    for task, checkpoint in trained.items():
        assert main(["export", task, str(checkpoint), "--zoo", str(zoo)]) == exit_codes.OK
    fusion = zoo.parent / "fusion-run"
    assert (
        main(
            [
                "train",
                "fusion",
                "--manifest",
                str(tiny_manifest),
                "--out",
                str(fusion),
                "--epochs",
                "1",
                "--batch-size",
                "4",
                "--max-train",
                "8",
                "--max-val",
                "8",
                "--zoo",
                str(zoo),
                "--encoder",
                str(trained["ipsidual"]),
            ]
        )
        == exit_codes.OK
    )
    assert main(["export", "fusion", str(fusion / "best.pt"), "--zoo", str(zoo)]) == exit_codes.OK
    return zoo


def test_fusion_needs_an_ipsidual_encoder(
    tiny_manifest: Path, trained: dict[str, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["train", "fusion", "--manifest", str(tiny_manifest), "--out", str(tmp_path / "f"), "--epochs", "1"]
    assert main(args) == exit_codes.PROBLEMS
    assert "--encoder" in capsys.readouterr().err
    assert main([*args, "--encoder", str(trained["single"])]) == exit_codes.PROBLEMS
    assert "not an IpsiDualNet checkpoint" in capsys.readouterr().err


def test_export_predict_and_eval_end_to_end(tiny_zoo: Path, tiny_manifest: Path, tmp_path: Path) -> None:
    zoo = tiny_zoo
    manifest = json.loads((zoo / "manifest.json").read_text())
    names = ["bidual-lite", "fusion-lite", "ipsidual-lite", "nipple-lite", "single-lite"]
    assert sorted(m["name"] for m in manifest["models"]) == names
    for entry in manifest["models"]:
        assert entry["parity_max_abs_diff"] < 1e-3
        assert entry["size_bytes"] < 8e6  # lite: a few MB at most
        model = load_model(entry["name"], zoo / "manifest.json", device="cpu")
        assert model.provider == "CPUExecutionProvider"
    evals = tmp_path / "evals"
    for task in ("nipple", "bidual", "ipsidual", "fusion"):
        preds = tmp_path / f"{task}.json"
        assert (
            main(
                [
                    "predict",
                    task,
                    "--manifest",
                    str(tiny_manifest),
                    "--split",
                    "val",
                    "--out",
                    str(preds),
                    "--zoo",
                    str(zoo),
                ]
            )
            == exit_codes.OK
        )
        data = json.loads(preds.read_text())
        assert data["model"] == f"{task}-lite" and len(data["images"]) == 12
        if task == "fusion":  # every validation study has four views: all read tri-view
            assert {i["branch"] for i in data["images"].values()} == {"tri-view"}
            assert set(data["models"]) == set(names) - {"single-lite"}
        out = evals / f"{task}-synth-test"
        assert (
            main(
                [
                    "eval",
                    "--manifest",
                    str(tiny_manifest),
                    "--split",
                    "val",
                    "--predictions",
                    str(preds),
                    "--out",
                    str(out),
                    "--bootstrap",
                    "20",
                ]
            )
            == exit_codes.OK
        )
        report = json.loads((out / "report.json").read_text())
        assert ("nipple" in report) == (task == "nipple")
    assert main(["zoo", "record-metrics", "--zoo", str(zoo), "--eval", str(evals)]) == exit_codes.OK
    card = (zoo / "cards" / "bidual-lite.md").read_text()
    assert "Research model, not for clinical use" in card and "recall @0.5 FPPI" in card
    assert "relation geometry nipple" in (zoo / "cards" / "ipsidual-lite.md").read_text()
    assert "tri-view: MommiNet-v2 (fusion)" in (zoo / "ablation.md").read_text()


def test_missing_views_fall_back_to_the_branch_that_can_run(tiny_zoo: Path, tiny_manifest: Path) -> None:
    from mommi.data.manifest import Manifest
    from mommi.data.records import load_record_image
    from mommi.runtime.detection_chain import DetectionChain
    from mommi.study.model import View

    data = Manifest.read(tiny_manifest)
    study = next(r.study_id for r in data.records if r.split == "val")
    images = {View(f"{r.laterality}-{r.view}"): load_record_image(data, r) for r in data.records if r.study_id == study}
    chain = DetectionChain(tiny_zoo / "manifest.json", device="cpu")
    full = chain.run(images)
    assert {r.branch for r in full.values()} == {"tri-view"}
    three = chain.run({v: images[v] for v in (View.L_CC, View.L_MLO, View.R_CC)})
    assert three[View.L_CC].branch == "tri-view" and three[View.R_CC].branch == "bilateral"
    assert three[View.L_MLO].branch == "ipsilateral"
    two = chain.run({v: images[v] for v in (View.L_CC, View.R_MLO)})
    assert {r.branch for r in two.values()} == {"single-view"}
    for result in [*three.values(), *two.values()]:
        assert result.prepared.pixels.shape == (256, 160)
        assert all(0.0 <= s <= 1.0 for _, s in result.regions)
        if result.branch != "ipsilateral":
            assert result.final_map is not None and result.final_map.shape == (256, 160)


def test_tampered_model_is_refused(trained: dict[str, Path], tmp_path: Path) -> None:
    zoo = tmp_path / "zoo"
    assert main(["export", "single", str(trained["single"]), "--zoo", str(zoo)]) == exit_codes.OK
    path, _ = verified_model_path("single-lite", zoo / "manifest.json")
    path.write_bytes(path.read_bytes() + b"\0")
    with pytest.raises(ZooError, match="does not match its SHA-256"):
        load_model("single-lite", zoo / "manifest.json")
    with pytest.raises(ZooError, match="not in the zoo"):
        load_model("fusion-lite", zoo / "manifest.json")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_torchrun_two_cpu_processes_on_gloo(tiny_manifest: Path, tmp_path: Path) -> None:
    out = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--nproc_per_node",
            "2",
            "--master_addr",
            "127.0.0.1",
            "--master_port",
            str(_free_port()),
            "-m",
            "mommi.cli.main",
            "train",
            "single",
            "--manifest",
            str(tiny_manifest),
            "--out",
            str(out),
            "--epochs",
            "1",
            "--batch-size",
            "2",
            "--max-train",
            "8",
            "--max-val",
            "4",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads((out / "config.json").read_text())["world_size"] == 2
    assert len((out / "log.csv").read_text().splitlines()) == 2  # rank 0 alone writes


def test_nipple_heatmap_decoding_is_subpixel() -> None:
    from mommi.findings.nipple import nipple_from_heatmap
    from mommi.train.datasets import gaussian_heatmap

    x, y, _ = nipple_from_heatmap(gaussian_heatmap((64, 40), (21.0, 30.0)))
    assert abs(x - 21.0) < 1.0 and abs(y - 30.0) < 1.0
    assert np.isfinite(x)


def test_bidual_initialised_from_single_view_starts_as_that_network(trained: dict[str, Path]) -> None:
    from mommi.train.loop import _initialise_from

    single = SingleViewNet("lite")
    single.load_state_dict(torch.load(trained["single"], weights_only=False)["model"])
    bidual = BiDualNet("lite")
    left = _initialise_from(bidual, trained["single"])
    assert left and all(name.startswith("fuse.") for name in left)
    single.eval(), bidual.eval()
    x, other = torch.randn(1, 1, 64, 96), torch.randn(1, 1, 64, 96)
    with torch.no_grad():
        assert torch.allclose(bidual(x, other), single(x), atol=1e-5)
    with pytest.raises(ValueError, match="no weights match"):
        _initialise_from(torch.nn.Linear(2, 2), trained["single"])


def test_detection_parity_tolerates_one_flipped_nms_decision_but_not_a_different_answer() -> None:
    from mommi.train.export import detection_parity

    rng = np.random.default_rng(0)
    boxes = np.sort(rng.uniform(0, 100, (20, 4)), axis=1).astype(np.float32)
    scores = np.linspace(0.9, 0.1, 20).astype(np.float32)
    assert detection_parity(Path("m.onnx"), (boxes, scores), (boxes + 1e-5, scores)) < 1e-3
    flipped = (np.insert(boxes, 3, boxes[3] + 5, axis=0), np.insert(scores, 3, scores[3] - 1e-4))  # one extra box
    assert detection_parity(Path("m.onnx"), (boxes, scores), flipped) < 1e-3
    with pytest.raises(RuntimeError, match="agree"):
        detection_parity(Path("m.onnx"), (boxes, scores), (boxes + 3.0, scores))
    with pytest.raises(RuntimeError, match="finds 0 boxes"):
        detection_parity(Path("m.onnx"), (boxes, scores), (np.zeros((0, 4), np.float32), np.zeros(0, np.float32)))

"""`mommi train nipple|single|bidual|ipsidual|fusion|malignancy`: train a network from training manifests."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mommi.cli import exit_codes
from mommi.errors import DatasetImportError


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "train",
        help="train the nipple detector, the single-view baseline, BiDualNet, IpsiDualNet, the fusion network or "
        "the malignancy classifier (needs the train extra)",
        description="Train one network on the train split of one or more manifests, early-stopping on "
        "the val split. Seeded and resumable: run the same command again to continue. Multi-GPU: "
        "torchrun --nproc_per_node N -m mommi.cli.main train ... Order as in the paper: nipple, single, "
        "bidual and ipsidual first; export them to the zoo; then fusion with --zoo and --encoder; last the "
        "malignancy classifier on gold patches plus the patches the exported chain detects (--detections).",
        epilog="exit codes: 0 trained; 1 no usable data; 2 usage error (or PyTorch missing)",
    )
    parser.add_argument("task", choices=("nipple", "single", "bidual", "ipsidual", "fusion", "malignancy"))
    parser.add_argument(
        "--manifest",
        type=Path,
        action="append",
        default=[],
        help="training manifest (repeat to combine datasets; at least one --manifest or --feedback)",
    )
    parser.add_argument(
        "--feedback",
        type=Path,
        action="append",
        default=None,
        metavar="BATCH",
        help="feedback export batch (folder or zip; repeat for several): readers' accepted, edited "
        "and added masses join the training split, rejected findings are hard negatives; use with "
        "--init-from to fine-tune a model",
    )
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="checkpoints and logs")
    parser.add_argument("--config", choices=("lite", "full"), default="lite")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--patience", type=int, default=4, help="epochs without improvement before stopping")
    parser.add_argument("--fuse-stage", type=int, choices=(1, 2, 3), default=3, help="BiDualNet fusion stage")
    parser.add_argument(
        "--geometry",
        choices=("nipple", "dummy", "shape"),
        default="nipple",
        help="IpsiDualNet relation geometry: RoI-to-nipple distance (default), the image centre as "
        "a dummy nipple, or plain box shape and position (the paper's ablation)",
    )
    parser.add_argument(
        "--encoder",
        type=Path,
        default=None,
        help="fusion: IpsiDualNet checkpoint (best.pt) whose HRNet trunk becomes the frozen encoder",
    )
    parser.add_argument(
        "--zoo",
        type=Path,
        default=None,
        help="fusion: zoo manifest whose bidual and ipsidual models make the training maps (default: the shipped zoo)",
    )
    parser.add_argument(
        "--init-from",
        type=Path,
        default=None,
        metavar="CHECKPOINT",
        help="start from the matching weights of another run (e.g. BiDualNet from single-view)",
    )
    parser.add_argument(
        "--detections",
        type=Path,
        action="append",
        default=None,
        metavar="PREDICTIONS",
        help="malignancy: `mommi predict` file of the training manifests' images (repeat per file); "
        "its boxes are the detected patches",
    )
    parser.add_argument(
        "--loss-weighting",
        choices=("learned", "fixed", "binary"),
        default="learned",
        help="malignancy: learned uncertainty weights (default), a fixed weighting, or the binary loss alone",
    )
    parser.add_argument(
        "--classification-weight",
        type=float,
        default=0.7,
        help="malignancy, --loss-weighting fixed: share of the binary loss (the rest: BI-RADS)",
    )
    parser.add_argument(
        "--cache",
        type=Path,
        default=None,
        metavar="DIR",
        help="malignancy: keep the cut patches here and reuse them (a weighting sweep decodes once)",
    )
    parser.add_argument(
        "--keep",
        choices=("best", "last"),
        default="best",
        help="best: the epoch with the best validation metric, with early stopping (default); "
        "last: every epoch runs and the last is kept, no validation split needed (a final model "
        "trained on all the real films)",
    )
    parser.add_argument(
        "--cv",
        type=int,
        default=None,
        metavar="K",
        help="single / bidual: K-fold cross-validation by woman on the FIRST --manifest (real films); "
        "further manifests are mixed into every fold's training (their train split only). Each fold "
        "trains for --epochs and keeps the last epoch; writes predictions.json (every film read by "
        "the fold that never saw its woman), report.json (FROC, patient-bootstrap CIs) and cv.json "
        "(folds, recipe, best-case recall, operating point) to --out",
    )
    parser.add_argument("--cv-seed", type=int, default=0, help="seed of the fold assignment (default 0)")
    parser.add_argument(
        "--max-fppi",
        type=float,
        default=0.5,
        help="with --cv: false marks per image of the operating point (default 0.5)",
    )
    parser.add_argument("--max-train", type=int, default=None, help="use only the first N training images")
    parser.add_argument("--max-val", type=int, default=None, help="use only the first N validation images")
    parser.add_argument("--threads", type=int, default=None, help="CPU threads for PyTorch")
    parser.add_argument(
        "--device",
        choices=("auto", "cuda", "cpu"),
        default="auto",
        help="auto: CUDA when PyTorch sees a GPU (default); cuda: required (an error without one)",
    )
    parser.add_argument(
        "--no-amp",
        action="store_true",
        help="full float32 on CUDA (default: mixed precision, bfloat16 where the GPU has it)",
    )
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    if not args.manifest and not args.feedback:
        print("mommi train: give at least one --manifest or --feedback batch to train on", file=sys.stderr)
        return exit_codes.USAGE
    try:
        import torch

        from mommi.train.loop import TrainConfig, train
    except ImportError as exc:
        print(
            f"mommi train: PyTorch training code needs the train extra (pip install 'mommislicer[train]'): {exc}",
            file=sys.stderr,
        )
        return exit_codes.USAGE
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = TrainConfig(
        args.task,
        args.config,
        args.epochs,
        args.batch_size,
        args.lr,
        args.seed,
        args.patience,
        args.fuse_stage,
        args.max_train,
        args.max_val,
        args.geometry,
        str(args.encoder) if args.encoder else None,
        str(args.zoo) if args.zoo else None,
        str(args.init_from) if args.init_from else None,
        [str(p) for p in args.detections] if args.detections else None,
        args.loss_weighting,
        args.classification_weight,
        str(args.cache) if args.cache else None,
        args.keep,
        args.device,
        not args.no_amp,
    )
    try:
        manifests = list(args.manifest) + _feedback_manifests(args.feedback or [], args.out)
        if args.cv is not None:
            from mommi.train.cross_validation import cross_validate

            summary = cross_validate(
                cfg,
                manifests[0],
                args.out,
                args.cv,
                args.cv_seed,
                manifests[1:],
                args.max_fppi,
                progress=sys.stderr.isatty(),
            )
            print(json.dumps({k: summary[k] for k in ("froc", "max_recall", "operating_point")}))
            return exit_codes.OK
        result = train(cfg, manifests, args.out, progress=sys.stderr.isatty())
    except (ValueError, DatasetImportError) as exc:
        print(f"mommi train: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    print(json.dumps(result))
    return exit_codes.OK


def _feedback_manifests(batches: list[Path], out: Path) -> list[Path]:
    """Each feedback batch as a manifest file in the run folder (the loop reads manifests by path)."""
    from mommi.data.importers.feedback import import_feedback

    paths = []
    for batch in batches:
        manifest = import_feedback(batch)
        batch_id = manifest.records[0].extra["batch_id"] if manifest.records else batch.stem
        out.mkdir(parents=True, exist_ok=True)
        paths.append(manifest.write(out / f"feedback-{batch_id}.json"))
    return paths

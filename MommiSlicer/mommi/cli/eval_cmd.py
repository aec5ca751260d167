"""`mommi eval`: FROC with patient bootstrap CIs and nipple error, as JSON and a PNG plot."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mommi.cli import exit_codes


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval",
        help="FROC (recall at 0.5/1/2 FPPI, 95%% patient bootstrap CI) and nipple error",
        description="Evaluate a predictions file against a training manifest with the protocol of "
        "METHOD.md: a prediction is a true positive when IoU > 0.2 with a mass; recall at 0.5, 1 "
        "and 2 false positives per image over all images of the split; 95%% CI from a bootstrap over "
        "patients. Writes report.json and froc.png to --out.",
        epilog="exit codes: 0 report written; 1 unreadable input; 2 usage error",
    )
    parser.add_argument("--manifest", type=Path, required=True, help="training manifest with the ground truth")
    parser.add_argument("--predictions", type=Path, required=True, help="mommi-predictions JSON")
    parser.add_argument(
        "--split",
        default="test",
        help="split to evaluate: train, val, test, several joined by commas (val,test) or all (default test)",
    )
    parser.add_argument("--bootstrap", type=int, default=1000, help="bootstrap resamples (default 1000)")
    parser.add_argument("--seed", type=int, default=0, help="bootstrap seed (default 0)")
    parser.add_argument("--out", type=Path, required=True, metavar="DIR", help="folder for report.json and froc.png")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from mommi.data.manifest import Manifest, ManifestError
    from mommi.eval.report import PredictionsError, evaluate, load_predictions, plot_froc

    try:
        manifest = Manifest.read(args.manifest)
        predictions = load_predictions(args.predictions)
        report = evaluate(manifest, predictions, None if args.split == "all" else args.split, args.bootstrap, args.seed)
    except (ManifestError, PredictionsError) as exc:
        print(f"mommi eval: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    try:
        plot_froc(report, args.out / "froc.png")
    except ImportError:
        print(
            "mommi eval: matplotlib is not installed (pip install 'mommislicer[train]'); no plot written",
            file=sys.stderr,
        )
    if args.json:
        print(json.dumps(report, indent=2))
        return exit_codes.OK
    froc = report["froc"]
    print(
        f"{report.get('model') or 'predictions'} on {report['split'] or 'all images'}: {froc['images']} images, "
        f"{froc['patients']} patients, {froc['masses']} masses"
    )
    for fppi, value in froc["recall_at_fppi"].items():
        lo, hi = value["ci95"]
        print(f"  recall at {fppi:>3} FPPI: {value['recall']:.3f}  (95% CI {lo:.3f}-{hi:.3f})")
    if "nipple" in report:
        n = report["nipple"]
        print(
            f"  nipple error: median {n['median_mm']:.2f} mm, mean {n['mean_mm']:.2f} mm, "
            f"{n['wrong']} of {n['images']} wrong (> {n['wrong_threshold_mm']:g} mm)"
        )
    print(f"  wrote {args.out / 'report.json'} and {args.out / 'froc.png'}")
    return exit_codes.OK

"""`mommi eval-malignancy` and `mommi zoo calibrate`: the classifier measured and calibrated on detected patches."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np

from mommi.cli import exit_codes


def _add_inputs(parser: argparse.ArgumentParser, split: str) -> None:
    parser.add_argument(
        "--manifest",
        type=Path,
        action="append",
        required=True,
        help="manifest with the ground truth (repeat to combine datasets)",
    )
    parser.add_argument(
        "--detections",
        type=Path,
        action="append",
        required=True,
        metavar="PREDICTIONS",
        help="`mommi predict` file(s) of the same images: their boxes are the patches",
    )
    parser.add_argument("--split", default=split, help=f"train, val, test or all (default {split})")
    parser.add_argument("--zoo", type=Path, default=None, help="zoo folder or manifest (default: the checkout's)")
    parser.add_argument("--model", default="malignancy-lite", help="zoo model name (default malignancy-lite)")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")


def register(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "eval-malignancy",
        help="malignancy AUC (95%% patient bootstrap CI), BI-RADS agreement and calibration",
        description="Run the zoo's malignancy classifier on the patches the detector found in a split and "
        "measure it as METHOD.md says: ROC AUC of benign vs malignant on detected patches (IoU >= 0.5 to a "
        "mass takes its labels, other detections are not malignant), 95%% CI from a patient bootstrap; "
        "also the AUC on detected masses only, BI-RADS agreement, and the calibration error before and "
        "after the zoo's temperature. Writes report.json, roc.png and reliability.png to --out.",
        epilog="exit codes: 0 report written; 1 unreadable input or no model; 2 usage error",
    )
    _add_inputs(parser, "test")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True, metavar="DIR")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(handler=run_eval)


def register_calibrate(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "calibrate",
        help="fit the malignancy classifier's temperature on validation patches",
        description="Fit temperature scaling of the classifier's logit on the detected patches of a "
        "validation split and store it in the model's manifest entry (the ONNX file is unchanged), with the "
        "expected calibration error before and after and a reliability plot next to the model card.",
        epilog="exit codes: 0 stored; 1 unreadable input or no model; 2 usage error",
    )
    _add_inputs(parser, "val")
    parser.set_defaults(handler=run_calibrate)


def _classify(args: argparse.Namespace) -> tuple[Any, Any, Any, Any]:
    from mommi.data.manifest import Manifest
    from mommi.data.patches import read_detections
    from mommi.eval.classifier_report import classify_split
    from mommi.runtime.malignancy import MalignancyClassifier
    from mommi.runtime.zoo import manifest_path_of

    classifier = MalignancyClassifier(manifest_path_of(args.zoo), args.device, args.model)
    manifests = [Manifest.read(p) for p in args.manifest]
    samples, logits, values = classify_split(
        manifests, None if args.split == "all" else args.split, read_detections(args.detections), classifier
    )
    return classifier, samples, logits, values


def _problem(command: str, exc: Exception) -> int:
    print(f"mommi {command}: {exc}", file=sys.stderr)
    return exit_codes.PROBLEMS


def run_eval(args: argparse.Namespace) -> int:
    from mommi.data.manifest import ManifestError
    from mommi.eval.classifier_report import classifier_report, plot_roc, roc_curves
    from mommi.findings.calibration import apply_temperature, plot_reliability
    from mommi.runtime.zoo import ZooError

    try:
        classifier, samples, logits, values = _classify(args)
    except (ManifestError, ZooError, ValueError, RuntimeError) as exc:
        return _problem("eval-malignancy", exc)
    report = classifier_report(samples, logits, values, classifier.temperature, args.bootstrap, args.seed)
    entry = classifier.model.entry
    report = {
        "schema": "mommi-malignancy-report",
        "version": 1,
        "model": entry["name"],
        "model_sha256": entry["sha256"],
        "config": entry.get("config"),
        "validation_metric": entry.get("validation_metric"),
        "split": args.split,
        "manifests": [str(p) for p in args.manifest],
        "provider": classifier.provider,
    } | report
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "report.json").write_text(json.dumps(report, indent=1), encoding="utf-8")
    known = ~np.isnan(samples.malignant)
    try:
        plot_roc(roc_curves(samples, logits), args.out / "roc.png", f"{entry['name']} on {args.split}")
        if known.any():
            plot_reliability(
                apply_temperature(logits[known], 1.0),
                apply_temperature(logits[known], classifier.temperature),
                samples.malignant[known],
                args.out / "reliability.png",
                f"{entry['name']} on {args.split}: calibration",
            )
    except ImportError:
        print("mommi eval-malignancy: matplotlib is not installed; no plots written", file=sys.stderr)
    if args.json:
        print(json.dumps(report, indent=2))
        return exit_codes.OK
    print(
        f"{entry['name']} on {args.split}: {report['patches']} detected patches, {report['matched_masses']} on masses"
    )
    for key, label in (("auc", "AUC, all detected patches"), ("auc_masses", "AUC, detected masses only")):
        auc = report[key]
        if auc["auc"] is None:
            print(f"  {label}: not measurable ({auc['reason']})")
        else:
            print(f"  {label}: {auc['auc']:.3f} (95% CI {auc['ci95'][0]:.3f}-{auc['ci95'][1]:.3f}, n={auc['n']})")
    if report["birads"]["n"]:
        b = report["birads"]
        print(f"  BI-RADS on {b['n']} masses: exact {b['exact']:.2f}, within one category {b['within_one']:.2f}")
    c = report["calibration"]
    if c["ece_raw"] is not None:
        print(f"  ECE raw {c['ece_raw']:.3f}, calibrated (T={c['temperature']:.2f}) {c['ece_calibrated']:.3f}")
    print(f"  wrote {args.out / 'report.json'}")
    return exit_codes.OK


def run_calibrate(args: argparse.Namespace) -> int:
    from mommi.data.manifest import ManifestError
    from mommi.eval.classifier_report import fit_calibration, plot_calibration
    from mommi.findings.calibration import CalibrationError
    from mommi.runtime.zoo import ZooError, default_manifest_path, manifest_path_of, read_manifest, write_manifest

    try:
        classifier, samples, logits, _ = _classify(args)
        calibration = fit_calibration(samples, logits)
    except (ManifestError, ZooError, CalibrationError, ValueError, RuntimeError) as exc:
        return _problem("zoo calibrate", exc)
    manifest_path = manifest_path_of(args.zoo) or default_manifest_path()
    calibration["fitted_on"] = {"manifests": [p.name for p in args.manifest], "split": args.split}
    plot = manifest_path.parent / "cards" / f"{args.model}-reliability-{args.split}.png"
    if plot_calibration(
        samples, logits, calibration["temperature"], plot, f"{args.model}: calibration on {args.split}"
    ):
        calibration["plot"] = str(plot.relative_to(manifest_path.parent))
    manifest = read_manifest(manifest_path)
    for entry in manifest["models"]:
        if entry["name"] == args.model:
            entry["calibration"] = calibration
    write_manifest(manifest_path, manifest)
    print(
        f"{args.model}: temperature {calibration['temperature']:.3f} from {calibration['patches']} {args.split} "
        f"patches; ECE {calibration['ece_before']:.3f} -> {calibration['ece_after']:.3f}"
    )
    return exit_codes.OK

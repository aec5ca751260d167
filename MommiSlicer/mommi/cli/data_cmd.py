"""`mommi synth` and `mommi data import`: making and importing training data."""

from __future__ import annotations

import argparse
import json
import sys
from collections import Counter
from pathlib import Path
from typing import Any

from mommi.cli import exit_codes
from mommi.data.phantom.config import PHANTOMS, SIZES, SYNTH_DEFAULT_PHANTOM
from mommi.data.phantom.dicom_out import VARIANTS
from mommi.errors import DatasetImportError, StudyInputError


def register(commands: argparse._SubParsersAction) -> None:
    synth = commands.add_parser(
        "synth",
        help="write synthetic four-view studies (3D phantom) as DICOM with ground truth",
        description="Render N synthetic patients from a 3D breast phantom into four-view studies "
        "(MG, FOR PRESENTATION DICOM) with ground truth (mass boxes and masks, pathology, "
        "BI-RADS, nipples, 3D mass positions). Deterministic for a given seed.",
        epilog="With --realism-report REAL_DIR it instead measures how close the phantom is to real films: "
        "N studies per size are written to DIR/synthetic-<size>-<phantom>/ (reused when there), read back as the "
        "product reads them, and compared with REAL_DIR (a mini-MIAS folder with Info.txt, or any folder of studies): "
        "power-spectrum slope, intensity and texture statistics, mass sizes and contrasts, real-vs-synthetic "
        "discriminators; written to DIR/realism.md and DIR/realism.json. "
        "exit codes: 0 written; 1 the real images could not be read; 2 usage error",
    )
    synth.add_argument(
        "--studies",
        type=int,
        default=None,
        metavar="N",
        help="number of patients (required; with --realism-report per size, default 20)",
    )
    synth.add_argument("--out", type=Path, required=True, metavar="DIR", help="output folder")
    synth.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    synth.add_argument(
        "--size",
        choices=(*sorted(SIZES), "both"),
        default=None,
        help="lite: anatomy on a 0.5 mm grid (fast training, the default; 480x600 pixels for v1/v2, 1200x1500 "
        "on a 0.2 mm detector for v3); clinical: 0.1 mm, 2400x3000; "
        "both: only with --realism-report (its default)",
    )
    synth.add_argument(
        "--normal-fraction",
        type=float,
        default=0.3,
        metavar="F",
        help="fraction of patients without masses (default 0.3)",
    )
    synth.add_argument(
        "--variant",
        choices=("mixed", *VARIANTS),
        default="standard",
        help="DICOM header variant; 'mixed' cycles through all of them",
    )
    synth.add_argument(
        "--phantom",
        choices=sorted(PHANTOMS),
        default=SYNTH_DEFAULT_PHANTOM,
        help=f"phantom version (default {SYNTH_DEFAULT_PHANTOM}, the most realistic: v2's masses in a structured "
        "breast (fat lobules, Cooper's ligaments, strands, ducts, vessels, lymph nodes, cysts) shown as digitised "
        "film or GE-/Hologic-like FFDM, drawn per study, its lite views on a 0.2 mm detector; v1: the one the "
        "shipped zoo learned; v2: v1 with masses matched to real films in size and contrast)",
    )
    synth.add_argument(
        "--realism-report",
        type=Path,
        default=None,
        metavar="REAL_DIR",
        help="compare synthetic studies with the real images in REAL_DIR and write "
        "DIR/realism.md and DIR/realism.json (see below)",
    )
    synth.add_argument("--json", action="store_true", help="print a JSON summary")
    synth.set_defaults(handler=run_synth)

    data = commands.add_parser(
        "data", help="training data: import public datasets into a manifest", description="Training-data commands."
    )
    sub = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    sub.required = True
    imp = sub.add_parser(
        "import",
        help="convert a dataset folder into a training manifest with a patient-level split",
        description="Read a public dataset in its documented layout and write one training "
        "manifest (JSON) with a seeded patient-level train/val/test split.",
        epilog="formats: mias (PGM + Info.txt), cbis-ddsm (DICOM tree + description CSVs), "
        "vindr-mammo (DICOM + CSVs), inbreast (DICOM + XML + INbreast.csv), cmmd (DICOM + clinical .xlsx, "
        "no lesion locations), cdd-cesm (low-energy JPEGs + VIA segmentation CSV + annotation .xlsx), "
        "synthetic (mommi synth output). exit codes: 0 written; 1 the dataset could not be imported; 2 usage error",
    )
    imp.add_argument(
        "format", choices=("mias", "cbis-ddsm", "vindr-mammo", "inbreast", "cmmd", "cdd-cesm", "synthetic")
    )
    imp.add_argument("source", type=Path, metavar="SRC", help="the dataset folder")
    imp.add_argument("--out", type=Path, required=True, metavar="MANIFEST", help="manifest JSON to write")
    imp.add_argument("--seed", type=int, default=0, help="seed of the patient-level split (default 0)")
    imp.add_argument(
        "--fractions", default="0.8,0.1,0.1", metavar="T,V,T", help="train,val,test fractions (default 0.8,0.1,0.1)"
    )
    imp.add_argument("--json", action="store_true", help="print a JSON summary")
    imp.set_defaults(handler=run_import)


def run_synth(args: argparse.Namespace) -> int:
    from mommi.data.synth import synthesize

    if args.realism_report is not None:
        return run_realism_report(args)
    if args.studies is None:
        print("mommi synth: --studies N is required", file=sys.stderr)
        return exit_codes.USAGE
    if args.size == "both":
        print("mommi synth: --size both is only for --realism-report; choose lite or clinical", file=sys.stderr)
        return exit_codes.USAGE
    args.size = args.size or "lite"
    if args.studies < 1:
        print("mommi synth: --studies must be at least 1", file=sys.stderr)
        return exit_codes.USAGE

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty() and not args.json:
            print(f"\rwriting study {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    try:
        folders = synthesize(
            args.out,
            args.studies,
            args.seed,
            args.size,
            args.normal_fraction,
            args.variant,
            progress=progress,
            phantom=args.phantom,
        )
    except ValueError as exc:
        print(f"mommi synth: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    truths = [json.loads((f / "truth.json").read_text()) for f in folders]
    masses = sum(len(t["masses_3d"]) for t in truths)
    summary: dict[str, Any] = {
        "out": str(args.out),
        "studies": len(folders),
        "normal_studies": sum(t["normal"] for t in truths),
        "masses": masses,
        "seed": args.seed,
        "size": args.size,
        "phantom": args.phantom,
    }
    styles = Counter(t["style"]["style"] for t in truths if "style" in t)
    if styles:
        summary["styles"] = dict(sorted(styles.items()))
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        noun = "study" if summary["studies"] == 1 else "studies"
        looks = f"; styles {', '.join(f'{k} {v}' for k, v in summary['styles'].items())}" if styles else ""
        print(
            f"wrote {summary['studies']} {noun} ({summary['normal_studies']} normal, {masses} masses{looks}) "
            f"to {args.out}; ground truth in each study's truth.json"
        )
    return exit_codes.OK


def run_realism_report(args: argparse.Namespace) -> int:
    """``mommi synth --realism-report REAL_DIR --out DIR``: measure the phantom against real films."""
    from mommi.data.realism.report import SIZES_BOTH, RealismSettings, build_report

    studies = 20 if args.studies is None else args.studies
    if studies < 1:
        print("mommi synth: --studies must be at least 1", file=sys.stderr)
        return exit_codes.USAGE
    if not args.realism_report.is_dir():
        print(f"mommi synth: --realism-report {args.realism_report}: not a folder", file=sys.stderr)
        return exit_codes.USAGE
    sizes = SIZES_BOTH if args.size in (None, "both") else (args.size,)
    settings = RealismSettings(studies=studies, sizes=sizes, seed=args.seed, phantom=args.phantom)

    def log(message: str) -> None:
        if not args.json:
            print(message, file=sys.stderr)

    try:
        report = build_report(args.realism_report, args.out, settings, log=log)
    except (DatasetImportError, StudyInputError) as exc:
        print(f"mommi synth: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    if report["real"]["images"] == 0:
        print(f"mommi synth: no readable real image in {args.realism_report}", file=sys.stderr)
        return exit_codes.PROBLEMS
    figures, disc = report["figures"], report["discriminators"]
    summary: dict[str, Any] = {
        "report": str(args.out / "realism.md"),
        "json": str(args.out / "realism.json"),
        "beta": {side: figures[side]["spectrum_beta"]["value"] for side in ("real", *sizes)},
        "cnn_auc": {side: disc[side]["cnn"].get("auc") for side in (*sizes, "real_vs_real")},
        "texture_auc": {side: disc[side]["texture"].get("auc") for side in (*sizes, "real_vs_real")},
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:

        def fmt(value: float | None) -> str:
            return "n/a" if value is None else f"{value:.3f}"

        print(f"wrote {summary['report']} and {summary['json']}")
        print("beta: " + ", ".join(f"{k} {fmt(v)}" for k, v in summary["beta"].items()))
        print("discriminator AUC (CNN): " + ", ".join(f"{k} {fmt(v)}" for k, v in summary["cnn_auc"].items()))
        print(
            "discriminator AUC (texture statistics): "
            + ", ".join(f"{k} {fmt(v)}" for k, v in summary["texture_auc"].items())
        )
    return exit_codes.OK


def run_import(args: argparse.Namespace) -> int:
    from mommi.data.importers import importers
    from mommi.data.split import assign_splits

    try:
        fractions = tuple(float(v) for v in args.fractions.split(","))
        if len(fractions) != 3:
            raise ValueError("three numbers are needed")
    except ValueError as exc:
        print(f"mommi data import: --fractions {args.fractions!r}: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    try:
        manifest = importers()[args.format](args.source)
        assign_splits(manifest, seed=args.seed, fractions=fractions)
        manifest.write(args.out)
    except DatasetImportError as exc:
        print(f"mommi data import: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    except ValueError as exc:
        print(f"mommi data import: {exc}", file=sys.stderr)
        return exit_codes.USAGE
    splits = Counter(r.split for r in manifest.records)
    summary: dict[str, Any] = {
        "manifest": str(args.out),
        "format": args.format,
        "images": len(manifest.records),
        "patients": len({r.patient_id for r in manifest.records}),
        "masses": sum(len(r.findings) for r in manifest.records),
        "split": {k: splits.get(k, 0) for k in ("train", "val", "test")},
    }
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(
            f"wrote {args.out}: {summary['images']} images of {summary['patients']} patients, "
            f"{summary['masses']} masses; split (images) train {summary['split']['train']}, "
            f"val {summary['split']['val']}, test {summary['split']['test']}"
        )
    return exit_codes.OK

"""`mommi analyze`, `mommi demo` and `mommi analyze-batch`: the product's main job on the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from mommi.cli import exit_codes
from mommi.cli.arg_types import capped_workers, positive_int, probability

DEMO_SEED = 7


def _add_runtime_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--zoo", type=Path, default=None, help="zoo folder or manifest (default: the checkout's)")
    parser.add_argument(
        "--device",
        choices=("auto", "cuda", "cpu"),
        default="auto",
        help="auto: CUDA when ONNX Runtime really gets it, else CPU (default)",
    )
    parser.add_argument(
        "--min-score",
        type=probability,
        default=None,
        help="report findings from this detection score (default: the model zoo's operating "
        "point, set on real films for <= 0.5 false marks per image; result.json records it)",
    )
    parser.add_argument("--no-dicom", action="store_true", help="skip the DICOM Segmentation and SR outputs")


def register(commands: argparse._SubParsersAction) -> None:
    analyze = commands.add_parser(
        "analyze",
        help="analyse one four-view study: findings, probability maps, malignancy, DICOM SEG/SR",
        description="Run the whole MommiNet-v2 pipeline (nipple, bilateral, ipsilateral and fusion networks, "
        "findings, malignancy classifier) on one study through ONNX Runtime and write result.json, maps.npz, "
        "an overlay PNG per view, a four-view sheet and DICOM Segmentation + Structured Report files to --out. "
        "Research software: not for clinical use.",
        epilog=exit_codes.EPILOG,
    )
    analyze.add_argument(
        "study",
        help="folder or files of one study (DICOM, PNG/PGM/JPEG with sidecars, or a public "
        "dataset's files as distributed: CBIS-DDSM, INbreast, VinDr-Mammo, CMMD, CDD-CESM), or a study on a "
        "PACS: <DICOMweb base URL>/studies/<StudyInstanceUID> (retrieved with WADO-RS into the cache) or "
        "dimse://AET@host:port/studies/<StudyInstanceUID> (C-GET; with ?move=PORT at the end C-MOVE to our AE title "
        "MOMMI_PACS_AET, default MOMMISLICER, listening on PORT at MOMMI_PACS_LISTEN, default 0.0.0.0: the PACS "
        "must list it as a modality)",
    )
    analyze.add_argument("--out", type=Path, required=True, metavar="DIR")
    analyze.add_argument(
        "--send",
        action="store_true",
        help="with a PACS study: store the DICOM SEG and SR back into it (STOW-RS, or C-STORE); the same result "
        "sent again replaces its own objects",
    )
    analyze.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="where PACS studies are retrieved to (default: MOMMI_PACS_CACHE or ~/.cache/mommislicer/pacs)",
    )
    analyze.add_argument("--json", action="store_true", help="print result.json instead of the summary")
    _add_runtime_options(analyze)
    analyze.set_defaults(handler=run_analyze)

    demo = commands.add_parser(
        "demo",
        help="make a synthetic four-view study, analyse it and show where the outputs are",
        description="Writes one synthetic four-view DICOM study (3D phantom, seed 7) into DIR/study, analyses "
        "it with the model zoo and writes every output of `mommi analyze` into DIR/result.",
        epilog=exit_codes.EPILOG,
    )
    demo.add_argument(
        "--out",
        type=Path,
        default=Path("mommi-demo"),
        metavar="DIR",
        help="where to put the study and the results (default ./mommi-demo)",
    )
    _add_runtime_options(demo)
    demo.set_defaults(handler=run_demo)

    batch = commands.add_parser(
        "analyze-batch",
        help="analyse every study under a folder (resumable, one bad study never stops it)",
        description="Find every study under ROOT and analyse each into OUT/<study>/; studies whose result.json "
        "exists are skipped, so an interrupted batch continues where it stopped. A study that fails is "
        "recorded with its error and the batch goes on. Writes OUT/summary.csv.",
        epilog="exit codes: 0 every study analysed or skipped; 1 a study or file failed; 3 no study found",
    )
    batch.add_argument("root", type=Path)
    batch.add_argument("--out", type=Path, required=True, metavar="DIR")
    batch.add_argument(
        "--workers",
        type=positive_int,
        default=1,
        help="studies analysed in parallel (processes; at most one per CPU core)",
    )
    batch.add_argument(
        "--scheduler",
        default=None,
        metavar="tcp://HOST:PORT",
        help="run the studies on an existing Dask distributed cluster instead of local processes (--workers is "
        "then the cluster's); ROOT and --out must be reachable from its workers under the same paths",
    )
    _add_runtime_options(batch)
    batch.set_defaults(handler=run_batch)


def _pipeline(args: argparse.Namespace) -> Any:
    from mommi.runtime.pipeline import Pipeline
    from mommi.runtime.zoo import manifest_path_of

    cores = min(len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1, 4)
    return Pipeline(manifest_path_of(args.zoo), args.device, args.min_score, decode_processes=cores)


def _progress(stage: str, fraction: float) -> None:
    if sys.stderr.isatty():
        print(f"\r{stage:<12} {fraction:4.0%}", end="\n" if fraction >= 1 else "", file=sys.stderr)


def summary_table(document: dict[str, Any]) -> str:
    lines = [
        f"study {document['study_uid']} ({document['patient_key']}): {len(document['findings'])} findings "
        f"with score >= {document['min_score']:g}"
    ]
    for name, view in document["views"].items():
        lines.append(f"  {name:<6} {view['branch']}")
    if document["findings"]:
        lines.append(f"  {'finding':<9} {'score':>6} {'malig.':>8} {'BI-RADS':>7}  partner   box (px)")
        for f in document["findings"]:
            malignancy = (
                "withheld"
                if f.get("malignancy_withheld")
                else "-"
                if f["malignancy"] is None
                else f"{f['malignancy']:.2f}"
            )
            box = ", ".join(f"{v:.0f}" for v in f["box_px"])
            lines.append(
                f"  {f['id']:<9} {f['score']:>6.2f} {malignancy:>8} {f['birads'] or '-':>7}  "
                f"{f['ipsilateral_partner'] or '-':<9} [{box}]"
            )
    timings = document["timings_s"]
    lines.append(
        f"  time {timings.get('total', 0):.2f} s on {document['provider']} ("
        + ", ".join(f"{k} {v:.2f}" for k, v in timings.items() if k != "total")
        + ")"
    )
    lines += [f"  warning: {w}" for w in document["warnings"]]
    return "\n".join(lines)


def _analyze_into(pipeline: Any, study: Any, seconds: float, out: Path, dicom: bool) -> dict[str, Any]:
    from mommi.runtime.outputs import RESULT_FILE, write_outputs

    result = pipeline.analyze(study, progress=_progress, load_seconds=seconds)
    write_outputs(result, study, out, dicom=dicom)
    return json.loads((out / RESULT_FILE).read_text(encoding="utf-8"))


def _retrieved(url: str, cache: Path | None) -> Path:
    """A PACS study retrieved into the cache (WADO-RS, C-GET or C-MOVE); its folder."""
    from mommi.pacs import source

    def progress(count: int) -> None:
        if sys.stderr.isatty():
            print(f"\rretrieving {url}: {count} instances", end="", file=sys.stderr)

    folder = source.retrieve(url, cache, progress)
    if sys.stderr.isatty():
        print(file=sys.stderr)
    return folder


def _send(url: str, out: Path, document: dict[str, Any]) -> int:
    """The analysis's SEG and SR back into the study they were made from (STOW-RS, or C-STORE)."""
    from mommi.pacs import source

    files = [out / name for role, name in sorted(document["files"].items()) if role.startswith("seg_") or role == "sr"]
    return source.send(url, files)


def output_folder_problem(out: Path) -> str | None:
    """Why ``--out`` cannot be a results folder (a file, or a path under a file): a usage error found
    before any model is loaded, instead of an OS error after the analysis."""
    if out.exists():
        return None if out.is_dir() else f"--out {out} is a file, not a folder"
    for parent in out.parents:
        if parent.exists():
            return None if parent.is_dir() else f"--out {out} lies under {parent}, which is a file, not a folder"
    return None


def run_analyze(args: argparse.Namespace) -> int:
    from mommi.errors import NoStudyFoundError, RuntimeSetupError, StudyInputError
    from mommi.runtime.zoo import ZooError

    from mommi.pacs.dicomweb import PacsError
    from mommi.pacs.source import is_server_url

    problem = output_folder_problem(args.out)
    if problem:
        print(f"mommi analyze: {problem}", file=sys.stderr)
        return exit_codes.USAGE
    from_pacs = is_server_url(args.study)
    if args.send and (not from_pacs or args.no_dicom):
        print(
            "mommi analyze: --send stores the DICOM SEG and SR back into a PACS study: give the study as "
            "URL/studies/UID, without --no-dicom",
            file=sys.stderr,
        )
        return exit_codes.USAGE
    try:
        source = _retrieved(args.study, args.cache) if from_pacs else Path(args.study)
    except PacsError as exc:
        print(f"mommi analyze: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    try:
        pipeline = _pipeline(args)
        study, seconds = pipeline.load(source)
    except NoStudyFoundError as exc:  # nothing under the path is a mammogram
        print(f"mommi analyze: {exc}", file=sys.stderr)
        return exit_codes.NOTHING_FOUND
    except (StudyInputError, ZooError, RuntimeSetupError, ValueError, OSError) as exc:
        print(f"mommi analyze: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    try:
        document = _analyze_into(pipeline, study, seconds, args.out, not args.no_dicom)
    except OSError as exc:
        print(
            f"mommi analyze: cannot write the results to {args.out}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else ""),
            file=sys.stderr,
        )
        return exit_codes.PROBLEMS
    except (StudyInputError, ZooError, RuntimeSetupError, ValueError) as exc:
        print(f"mommi analyze: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    print(json.dumps(document, indent=1) if args.json else summary_table(document) + f"\n  outputs in {args.out}")
    if args.send:
        try:
            sent = _send(args.study, args.out, document)
        except PacsError as exc:
            print(f"mommi analyze: the analysis is in {args.out}, but sending it failed: {exc}", file=sys.stderr)
            return exit_codes.PROBLEMS
        print(f"  sent {sent} DICOM objects (SEG, SR) to {args.study}", file=sys.stderr if args.json else sys.stdout)
    if study.errors:  # analysed without them: the result is complete for what could be read, but say so
        print(
            f"mommi analyze: {len(study.errors)} file(s) of the study could not be read and were left out "
            "(see the warnings above)",
            file=sys.stderr,
        )
        return exit_codes.PROBLEMS
    return exit_codes.OK


def run_demo(args: argparse.Namespace) -> int:
    from mommi.data.synth import synthesize
    from mommi.errors import RuntimeSetupError
    from mommi.runtime.zoo import ZooError

    study_root = args.out / "study"
    if not any(study_root.rglob("*.dcm")):
        print(f"writing a synthetic four-view study (seed {DEMO_SEED}) to {study_root} ...", file=sys.stderr)
        synthesize(study_root, 1, seed=DEMO_SEED, normal_fraction=0.0)
    try:
        pipeline = _pipeline(args)
        study, seconds = pipeline.load(study_root)
        document = _analyze_into(pipeline, study, seconds, args.out / "result", not args.no_dicom)
    except (ZooError, RuntimeSetupError, ValueError, OSError) as exc:
        print(f"mommi demo: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    print(summary_table(document))
    print(f"\noutputs in {args.out / 'result'}:")
    for role, name in sorted(document["files"].items()):
        print(f"  {role:<16} {args.out / 'result' / name}")
    print(f"  {'result':<16} {args.out / 'result' / 'result.json'}")
    return exit_codes.OK


def run_batch(args: argparse.Namespace) -> int:
    from mommi.errors import RuntimeSetupError
    from mommi.runtime.batch import SchedulerError
    from mommi.runtime.batch import run_batch as batch
    from mommi.runtime.zoo import ZooError

    problem = output_folder_problem(args.out)
    if problem:
        print(f"mommi analyze-batch: {problem}", file=sys.stderr)
        return exit_codes.USAGE
    if args.device == "cuda":  # said once, before any worker starts, rather than once per study
        from mommi.runtime.providers import cuda_status

        usable, reason = cuda_status()
        if not usable:
            print(f"mommi analyze-batch: {reason}", file=sys.stderr)
            return exit_codes.PROBLEMS
    workers, note = capped_workers(args.workers) if args.scheduler is None else (1, None)
    if note:
        print(f"mommi analyze-batch: {note}", file=sys.stderr)
    try:
        summary = batch(
            args.root,
            args.out,
            workers,
            zoo=args.zoo,
            device=args.device,
            min_score=args.min_score,
            dicom=not args.no_dicom,
            progress=sys.stderr.isatty(),
            scheduler=args.scheduler,
        )
    except (ZooError, RuntimeSetupError, SchedulerError) as exc:  # the set-up: nothing can be analysed
        print(f"mommi analyze-batch: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    except OSError as exc:  # the output folder cannot be created or written (read-only, full disk)
        print(
            f"mommi analyze-batch: cannot write the results to {args.out}: {exc.strerror or exc}"
            + (f" ({exc.filename})" if exc.filename else ""),
            file=sys.stderr,
        )
        return exit_codes.PROBLEMS
    if summary.studies == 0 and summary.failed == 0:
        print(f"mommi analyze-batch: no study found under {args.root}", file=sys.stderr)
        return exit_codes.NOTHING_FOUND
    print(
        f"{summary.studies} studies: {summary.done} analysed, {summary.skipped} already done; "
        f"{summary.failed} failures (studies or unreadable files); summary in {summary.csv_path}"
    )
    return exit_codes.PROBLEMS if summary.failed else exit_codes.OK

"""`mommi export`, `mommi predict` and `mommi zoo record-metrics|calibrate`: from checkpoints to the zoo."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from mommi.cli import exit_codes, malignancy_cmd
from mommi.cli.arg_types import positive_int, positive_share

TASKS = ("nipple", "single", "bidual", "ipsidual", "fusion")  # detection models `mommi predict` runs
EXPORT_TASKS = (*TASKS, "malignancy")


def register(commands: argparse._SubParsersAction) -> None:
    exp = commands.add_parser(
        "export",
        help="export a trained checkpoint to ONNX into the model zoo (needs the train extra)",
        description="Export best.pt to <zoo>/<task>-<config>.onnx with the legacy exporter (opset 17), "
        "check ONNX Runtime against PyTorch, record reference outputs and write the manifest entry.",
        epilog="exit codes: 0 exported; 1 parity check failed; 2 usage error",
    )
    exp.add_argument("task", choices=EXPORT_TASKS)
    exp.add_argument("checkpoint", type=Path)
    exp.add_argument("--zoo", type=Path, default=Path("model_zoo"))
    exp.add_argument("--name", default=None, help="model name (default <task>-<config>)")
    exp.set_defaults(handler=run_export)

    pred = commands.add_parser(
        "predict",
        help="run a zoo model (ONNX Runtime) over a manifest split -> predictions JSON",
        description="Run the zoo model of TASK over the images of a manifest split through the detection "
        "chain the product uses (pre-processing, predicted nipples, bilateral registration). bidual and "
        "ipsidual run one branch alone, on views that have its partner; fusion runs the whole tri-view "
        "chain with its fall-backs for missing views. The output is what `mommi eval` reads.",
        epilog="exit codes: 0 written; 1 a model or input problem; 2 usage error",
    )
    pred.add_argument("task", choices=TASKS)
    pred.add_argument("--manifest", type=Path, required=True)
    pred.add_argument("--split", default="test", help="train, val, test or all (default test)")
    pred.add_argument("--out", type=Path, required=True, help="predictions JSON to write")
    pred.add_argument(
        "--zoo", type=Path, default=None, help="zoo folder or manifest (default: MOMMI_MODEL_ZOO or the checkout's)"
    )
    pred.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    pred.set_defaults(handler=run_predict)

    zoo = commands.add_parser("zoo", help="model zoo maintenance", description="Model zoo maintenance.")
    sub = zoo.add_subparsers(dest="zoo_command", metavar="SUBCOMMAND")
    sub.required = True
    rec = sub.add_parser(
        "record-metrics",
        help="copy evaluation reports into the zoo manifest and the model cards",
        description="Read EVAL/<task>-<dataset>/report.json files, store their numbers in the manifest "
        "entries of the models they are about and (re)write those models' cards/<model>.md. Models without a "
        "report in EVAL, their entries and their cards are left as they are.",
        epilog="exit codes: 0 recorded; 1 nothing recorded (no report for a model asked about, two models of one "
        "task, an unreadable manifest)",
    )
    rec.add_argument("--zoo", type=Path, default=Path("model_zoo"))
    rec.add_argument("--eval", type=Path, required=True, metavar="EVAL", help="folder of evaluation reports")
    rec.add_argument(
        "--tasks",
        default=None,
        metavar="T1,T2",
        help="only these networks were retrained and evaluated: the other entries, their cards and "
        "their ablation rows stay as they are (default: the networks with a report in EVAL)",
    )
    rec.add_argument(
        "--made-by",
        default=None,
        metavar="TEXT",
        help="the commands that made the recorded models, for their cards (default: what their manifest entries "
        "record, else 'unknown'; build_lite_zoo.sh passes 'bash model_zoo/build_lite_zoo.sh')",
    )
    rec.set_defaults(handler=run_record)
    op = sub.add_parser(
        "operating-point",
        help="set the default reporting threshold on real films for a false-mark target",
        description="Choose the lowest detection score at which the predictions on the images of --splits have "
        "at most --max-fppi false marks per image (true mark: IoU > 0.2 with a mass), with patient-bootstrap CIs "
        "of the sensitivity and false marks there, and record it as the zoo's operating point (the default "
        "--min-score of `mommi analyze`, the reader and the Slicer module; result.json says so).",
        epilog="exit codes: 0 recorded; 1 unreadable input or no threshold can be set; 2 usage error",
    )
    op.add_argument("--manifest", type=Path, required=True, help="ground truth (a training manifest)")
    op.add_argument("--predictions", type=Path, required=True, help="`mommi predict fusion` output on it")
    op.add_argument("--splits", default="val,test", help="comma-separated splits to set it on (default val,test)")
    op.add_argument("--max-fppi", type=float, default=0.5, help="false marks per image allowed (default 0.5)")
    op.add_argument(
        "--max-marks-per-view",
        type=int,
        default=None,
        metavar="N",
        help="show at most the N highest-scoring marks of a view at this operating point (measured "
        "with the cap; default: no cap)",
    )
    op.add_argument("--set-on", required=True, metavar="TEXT", help="what data this is, for the record")
    _recording_options(op)
    op.set_defaults(handler=run_operating_point)
    real = sub.add_parser(
        "real-masses",
        help="measure whether the malignancy classifier separates real benign and malignant masses",
        description="Score the biopsy-labelled masses (gold boxes) of --splits with the zoo's malignancy classifier "
        "and record the ROC AUC with its 95%% patient-bootstrap CI in the classifier's manifest entry "
        "(real_masses). Use women the classifier was not trained on. Unless the whole CI lies above 0.5, the "
        "product withholds the malignancy probability and BI-RADS estimate of every finding and says why.",
        epilog="exit codes: 0 recorded; 1 unreadable input or no classifier; 2 usage error",
    )
    real.add_argument("--manifest", type=Path, required=True, help="real films with biopsy-labelled masses")
    real.add_argument("--splits", default="val,test", help="comma-separated splits (default val,test)")
    real.add_argument("--model", default="malignancy-lite", help="zoo model name (default malignancy-lite)")
    _recording_options(real)
    real.set_defaults(handler=run_real_masses)
    malignancy_cmd.register_calibrate(sub)
    _register_retrain(sub)


def _register_retrain(sub: argparse._SubParsersAction) -> None:
    parser = sub.add_parser(
        "retrain",
        help="fine-tune the zoo's models on feedback batches, gate them against their base and write a NEW zoo",
        description="One retraining round (#23): verify the feedback batches; hold out a seeded share of their "
        "studies by patient; fine-tune each chosen model from the zoo's own checkpoint on the rest (accepted, edited "
        "and added masses with the reader's geometry, rejected findings as hard negatives, the reviewed views' other "
        "regions as negatives) mixed with replay data so that it does not forget; export to ONNX; recalibrate the "
        "malignancy classifier; measure base and candidate on the validation manifests and the held-out feedback "
        "with the cards' metric (recall at 1 FPPI for the detectors, AUC on detected patches for the classifier); "
        "and write a complete new zoo at --out (version <base>+r<N>): promoted models with their checkpoint, "
        "provenance (base SHA-256, batches with hashes and readers' counts, dates, command, the gate's numbers) and "
        "a regenerated card; a candidate measured worse than its base by more than --tolerance on any set or all "
        "pooled, or so in --confidence of paired patient-bootstrap resamples, or measured on "
        "no set, is not promoted: its base model stays, and the command says why. The base zoo is never written.",
        epilog="exit codes: 0 every candidate promoted; 1 a candidate not promoted (the new zoo is written with its "
        "base model), or the round could not run (nothing written); 2 usage error (or PyTorch missing)",
    )
    parser.add_argument(
        "--feedback",
        type=Path,
        nargs="+",
        action="extend",
        required=True,
        metavar="BATCH",
        help="feedback batches (`mommi feedback export` folders or zips)",
    )
    parser.add_argument("--zoo", type=Path, required=True, help="the base zoo (folder or manifest); only read")
    parser.add_argument(
        "--out", type=Path, required=True, metavar="NEW_ZOO", help="the new zoo's folder (must not exist)"
    )
    parser.add_argument(
        "--models",
        nargs="+",
        action="extend",
        default=[],
        metavar="NAME",
        help="zoo models to fine-tune (default: every single, bidual, fusion and malignancy model with its "
        "checkpoint; the nipple and ipsilateral networks do not learn from what feedback holds)",
    )
    parser.add_argument(
        "--validation",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="MANIFEST",
        help="training manifests to gate on, images the training never saw (real films where you have them, "
        "the synthetic test set); the held-out feedback is always one of the sets",
    )
    parser.add_argument(
        "--validation-splits",
        default="val,test",
        metavar="S1,S2",
        help="the splits of --validation read by the gate (default val,test)",
    )
    replay = parser.add_mutually_exclusive_group()
    replay.add_argument(
        "--replay",
        type=Path,
        nargs="+",
        action="extend",
        default=[],
        metavar="MANIFEST",
        help="training manifests whose train split is replayed beside the feedback (default: the manifests each "
        "model's zoo entry lists as its training data, where they are on this machine)",
    )
    replay.add_argument(
        "--no-replay",
        action="store_true",
        help="fine-tune on the feedback alone (needed when no replay data is at hand; the models may forget)",
    )
    parser.add_argument(
        "--replay-ratio",
        type=float,
        default=1.0,
        metavar="R",
        help="replay images per feedback training image (default 1; whole studies are drawn, seeded)",
    )
    parser.add_argument(
        "--holdout",
        type=float,
        default=0.2,
        metavar="F",
        help="share of the feedback's patients held out for the gate (default 0.2; at least one study when "
        "there are two or more)",
    )
    parser.add_argument("--epochs", type=positive_int, default=3, help="fine-tuning epochs (default 3)")
    parser.add_argument("--lr", type=float, default=None, help="learning rate (default: a tenth of the base model's)")
    parser.add_argument("--batch-size", type=positive_int, default=None, help="default: the base model's")
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.02,
        metavar="T",
        help="how far below its base (absolute, on any set) a candidate may measure and still be promoted "
        "(default 0.02; a negative value demands that much improvement)",
    )
    parser.add_argument(
        "--confidence",
        type=positive_share,
        default=0.5,  # mommi.eval.gate.GATE_CONFIDENCE, not imported here: the gate loads ONNX Runtime and scipy
        metavar="C",
        help="a candidate measured within --tolerance of its base is still refused when paired patient-bootstrap "
        "resamples (base and candidate on the same draw of women) find it worse by more than --tolerance in at "
        "least this share of them (default 0.5: more likely worse than not; 1: only a loss seen in every draw). A "
        "measured loss beyond --tolerance is refused whatever the draws say",
    )
    parser.add_argument("--force", action="store_true", help="promote candidates the gate refused (recorded as such)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the hold-out, the replay draw and training")
    parser.add_argument("--bootstrap", type=int, default=1000, help="patient-bootstrap resamples of the gate's CIs")
    parser.add_argument("--device", choices=("auto", "cuda", "cpu"), default="auto")
    parser.set_defaults(handler=run_retrain)


def _recording_options(parser: argparse.ArgumentParser) -> None:
    """What every command that measures on real films and records it in the zoo takes."""
    parser.add_argument("--bootstrap", type=int, default=1000, help="patient-bootstrap resamples (default 1000)")
    parser.add_argument("--zoo", type=Path, default=Path("model_zoo"), help="the zoo to record in (default model_zoo)")


def _comma_list(text: str) -> list[str]:
    return [s.strip() for s in text.split(",") if s.strip()]


def run_export(args: argparse.Namespace) -> int:
    try:
        from mommi.train.export import export
    except ImportError as exc:
        print(f"mommi export: needs the train extra (pip install 'mommislicer[train]'): {exc}", file=sys.stderr)
        return exit_codes.USAGE
    try:
        entry = export(args.task, args.checkpoint, args.zoo, args.name)
    except RuntimeError as exc:
        print(f"mommi export: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    print(
        f"exported {entry['name']}: {entry['file']} ({entry['size_bytes'] / 1e6:.2f} MB), "
        f"parity max |diff| {entry['parity_max_abs_diff']:.2g}, sha256 {entry['sha256'][:16]}..."
    )
    return exit_codes.OK


def run_predict(args: argparse.Namespace) -> int:
    from mommi.data.manifest import Manifest, ManifestError
    from mommi.eval.predict import predict_manifest
    from mommi.runtime.zoo import ZooError, manifest_path_of

    def progress(done: int, total: int) -> None:
        if sys.stderr.isatty():
            print(f"\rpredicting {done}/{total}", end="" if done < total else "\n", file=sys.stderr)

    try:
        manifest = Manifest.read(args.manifest)
        result = predict_manifest(
            args.task,
            manifest,
            None if args.split == "all" else args.split,
            manifest_path_of(args.zoo),
            args.device,
            progress,
        )
    except (ManifestError, ZooError, RuntimeError) as exc:
        print(f"mommi predict: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result), encoding="utf-8")
    print(f"wrote {args.out}: {len(result['images'])} images, model {result['model']} on {result['provider']}")
    return exit_codes.OK


def run_record(args: argparse.Namespace) -> int:
    from mommi.runtime.zoo import ZooError
    from mommi.train.cards import RecordMetricsError, record_metrics

    tasks = tuple(_comma_list(args.tasks)) if args.tasks else None
    try:
        written = record_metrics(args.zoo, args.eval, tasks, args.made_by)
    except (RecordMetricsError, ZooError) as exc:
        print(f"mommi zoo record-metrics: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    for path in written:
        print(f"wrote {path}")
    return exit_codes.OK


def run_operating_point(args: argparse.Namespace) -> int:
    from datetime import date

    from mommi.data.manifest import Manifest, ManifestError
    from mommi.eval.operating_point import OperatingPointError, choose_operating_point
    from mommi.eval.report import PredictionsError, load_predictions
    from mommi.runtime.zoo import default_manifest_path, manifest_path_of, read_manifest, write_manifest

    zoo_manifest = manifest_path_of(args.zoo) or default_manifest_path()
    try:
        point = choose_operating_point(
            Manifest.read(args.manifest),
            load_predictions(args.predictions),
            _comma_list(args.splits),
            args.max_fppi,
            bootstrap=args.bootstrap,
            max_marks_per_view=args.max_marks_per_view,
        )
    except (ManifestError, PredictionsError, OperatingPointError) as exc:
        print(f"mommi zoo operating-point: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    data = read_manifest(zoo_manifest)
    data["operating_point"] = {**point, "set_on": args.set_on, "set": date.today().isoformat()}
    write_manifest(zoo_manifest, data)
    print(json.dumps(data["operating_point"], indent=1))
    print(f"recorded in {zoo_manifest}")
    return exit_codes.OK


def run_real_masses(args: argparse.Namespace) -> int:
    from datetime import date

    from mommi.data.manifest import Manifest, ManifestError
    from mommi.eval.real_masses import real_mass_separation
    from mommi.runtime.malignancy import MalignancyClassifier, withheld_reason
    from mommi.runtime.zoo import ZooError, default_manifest_path, manifest_path_of, read_manifest, write_manifest
    from mommi.errors import StudyInputError

    zoo_manifest = manifest_path_of(args.zoo) or default_manifest_path()
    try:
        classifier = MalignancyClassifier(zoo_manifest, "cpu", args.model)
        check = real_mass_separation(Manifest.read(args.manifest), _comma_list(args.splits), classifier, args.bootstrap)
    except (ManifestError, ZooError, StudyInputError, ValueError) as exc:
        print(f"mommi zoo real-masses: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    data = read_manifest(zoo_manifest)
    entry = next(m for m in data["models"] if m["name"] == args.model)
    entry["real_masses"] = {**check, "set": date.today().isoformat()}
    write_manifest(zoo_manifest, data)
    card = zoo_manifest.parent / str(entry.get("card", ""))
    if entry.get("card") and card.is_file():
        from mommi.train.classifier_card import REAL_MASSES_TITLE, real_masses_section, replace_card_section

        replace_card_section(card, REAL_MASSES_TITLE, real_masses_section(entry))
    print(json.dumps(entry["real_masses"], indent=1))
    verdict = (
        "separates them: the product shows its probability"
        if check["separates"]
        else f"does not separate them: the product withholds its probability (it {withheld_reason(check)})"
    )
    print(f"recorded in {zoo_manifest}; the classifier {verdict}")
    return exit_codes.OK


def run_retrain(args: argparse.Namespace) -> int:
    try:
        from mommi.train.retrain import RetrainOptions, retrain
    except ImportError as exc:
        print(f"mommi zoo retrain: needs the train extra (pip install 'mommislicer[train]'): {exc}", file=sys.stderr)
        return exit_codes.USAGE
    from mommi.errors import MommiError
    from mommi.train.provenance import gate_table

    options = RetrainOptions(
        feedback=tuple(args.feedback),
        zoo=args.zoo,
        out=args.out,
        models=tuple(args.models),
        validation=tuple(args.validation),
        validation_splits=tuple(_comma_list(args.validation_splits)),
        replay=tuple(args.replay),
        no_replay=args.no_replay,
        replay_ratio=args.replay_ratio,
        holdout=args.holdout,
        epochs=args.epochs,
        lr=args.lr,
        batch_size=args.batch_size,
        tolerance=args.tolerance,
        confidence=args.confidence,
        force=args.force,
        seed=args.seed,
        bootstrap=args.bootstrap,
        device=args.device,
    )
    try:
        result = retrain(options, log=lambda line: print(line, file=sys.stderr))
    except MommiError as exc:  # a batch, zoo, target, model, replay or validation set it cannot use: nothing written
        print(f"mommi zoo retrain: {exc}", file=sys.stderr)
        return exit_codes.PROBLEMS
    for name, gate in result.gates.items():
        verdict = ("promoted (--force)" if gate.forced else "promoted") if gate.promoted else "NOT promoted"
        print(f"\n{name}: {verdict}: {gate.reason}")
        print("\n".join(gate_table(gate.summary())))
    if result.chain is not None:
        verdict = (
            ("let through by --force" if result.chain.forced else "passed") if result.chain.promoted else "refused"
        )
        print(f"\nthe whole chain of the new zoo against the base chain: {verdict}: {result.chain.reason}")
        print("\n".join(gate_table(result.chain.summary())))
    print(f"\nwrote {result.out} (zoo version {result.zoo_version})")
    if result.refused:
        print(
            f"mommi zoo retrain: not promoted: {', '.join(result.refused)} (the new zoo keeps their base models; "
            "--force promotes them)",
            file=sys.stderr,
        )
        return exit_codes.PROBLEMS
    return exit_codes.OK

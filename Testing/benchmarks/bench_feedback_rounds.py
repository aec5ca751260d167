"""Benchmark: does the review-and-retrain loop lower false marks on unseen studies without losing recall?

    python Testing/benchmarks/bench_feedback_rounds.py [--rounds 2] [--studies-per-round 3] [--untouched 4]
        [--epochs 1] [--work DIR] [--seed 0] [--mias DIR] [--mias-women 8] [--gate-mias-women 0]
        [--mias-women-per-round 0] [--replay-studies 16] [--replay-mias-women 24] [--zoo DIR]

Issue #23, item 3. Round 0 is the shipped zoo (or ``--zoo``). Every later round does what a site does: fresh
synthetic studies are analysed with the current zoo, a scripted reader reviews them from ground truth (accepts a
finding that matches a true mass by the FROC's own rule, IoU > 0.2; rejects the others; adds every missed mass with
its true box; marks the study done), the batch is exported and ``mommi zoo retrain`` fine-tunes the current zoo
into the next one. With ``--mias-women-per-round`` the reader also reviews real films each round: mini-MIAS women
(none of the fixed subsets' women, none reviewed twice) sent as the DICOM studies a site would have (real film
pixels, ``Testing/mias_dicom.py``), reviewed from Info.txt's marks by the same rule. Whatever the gate decides is
reported and the loop goes on with the zoo the command wrote (a model the gate refused stays its base model,
exactly as at a site): ``--force`` is never passed, because forcing would measure a loop no site runs.

Each round is measured on:

- the round's reviewed studies, with the zoo that analysed them ("before": studies it never saw) and with the
  zoo trained on them ("after": in-sample, so only a sanity check that the feedback was learnt);
- a fixed set of untouched synthetic studies (never reviewed, never trained on, never in a gate; the same every
  round): the number that answers the issue;
- the round's reviewed mini-MIAS women, before and after, like the synthetic ones;
- a fixed subset of mini-MIAS films (real scanned films, MLO only) evaluated with ``mommi predict``: the loop
  never reviews or trains on them, but the shipped single-view and bilateral models were trained on every
  mini-MIAS film, so they say whether the loop damages real-film behaviour, not how it generalises.

Metrics, all with ``mommi.eval`` code: false marks per image and recall at the zoo's operating point (threshold
and per-view cap as ``mommi zoo operating-point`` measures them), and recall at 1 false positive per image with
its 95% patient-bootstrap CI from ``mommi eval``. The numbers of images and masses are printed because at a
small scale one mass moves the recall by a large step. The scripted reader's own counts (accepted, rejected,
added per image) are the false marks and misses a reader actually saw in the product.

Every external action is a declared ``Step`` (a ``mommi`` command line) run in order; a step that fails stops
the benchmark with its name, command, exit code and the end of its output, and the JSON written so far is kept.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any


from mommi.data.manifest import Manifest
from mommi.eval.froc import IOU_THRESHOLD
from mommi.eval.operating_point import at_operating_point
from mommi.feedback.store import open_store
from mommi.findings.regions import box_iou
from mommi.review.session import ReviewSession

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # Testing/: real films as a site's DICOM studies
from mias_dicom import mias_women_as_studies  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
SHIPPED_ZOO = REPO / "model_zoo"
READER = "scripted-reader"
#: the phantom of the loop's synthetic studies: the realistic one (v3), which the zoo's mass-map pre-training and
#: fusion network learned (model_zoo/build_lite_zoo.sh), as the closest stand-in for a site's own studies
ZOO_PHANTOM = "v3"


class StepFailed(RuntimeError):
    """A declared step did not do its job; the message names it so the log need not be searched."""


@dataclass(frozen=True)
class Step:
    """One ``mommi`` command of the benchmark; ``ok`` lists the exit codes that are outcomes, not failures
    (``zoo retrain`` exits 1 when its gate keeps a base model, which this benchmark measures)."""

    name: str
    argv: Sequence[str]
    ok: tuple[int, ...] = (0,)


def run_steps(steps: Sequence[Step], log_dir: Path) -> dict[str, int]:
    """Run ``steps`` in order, each one's output kept in ``log_dir`` so that a failure can be read in full."""
    mommi = shutil.which("mommi")
    if mommi is None:
        raise StepFailed("the `mommi` command is not on PATH (install the package: pip install -e .)")
    log_dir.mkdir(parents=True, exist_ok=True)
    codes: dict[str, int] = {}
    for step in steps:
        log = log_dir / f"{step.name.replace(' ', '_').replace('/', '_')}.log"
        started = time.perf_counter()
        done = subprocess.run([mommi, *step.argv], capture_output=True, text=True, cwd=REPO)
        log.write_text(done.stdout + done.stderr, encoding="utf-8")
        print(f"  [{time.perf_counter() - started:6.1f} s] {step.name} (exit {done.returncode})", flush=True)
        if done.returncode not in step.ok:
            tail = "\n    ".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise StepFailed(
                f"step {step.name!r} exited {done.returncode}: mommi {' '.join(step.argv)}\n    {tail}\n"
                f"  (full output: {log})"
            )
        codes[step.name] = done.returncode
    return codes


def synth_steps(name: str, out: Path, studies: int, seed: int, normal_fraction: float, split: str) -> list[Step]:
    """Synthetic studies and their training manifest with every image in ``split`` (one set, never re-split)."""
    fractions = {"train": "1,0,0", "val": "0,1,0", "test": "0,0,1"}[split]
    return [
        Step(
            f"{name}: synth",
            ["synth", "--studies", str(studies), "--out", str(out), "--seed", str(seed)]
            + ["--normal-fraction", str(normal_fraction), "--phantom", ZOO_PHANTOM],
        ),
        Step(
            f"{name}: import",
            ["data", "import", "synthetic", str(out), "--out", str(out.with_suffix(".json")), "--fractions", fractions],
        ),
    ]


def mias_subset(
    source: Path, out: Path, women: int, skip: int = 0, full: Path | None = None, split: str = "test"
) -> Path | None:
    """A fixed subset of mini-MIAS as a manifest with every film in ``split``: ``women // 2`` women (by id) with a
    mass and as many without, after the first ``skip`` of each kind, so that the real-film set has masses to find
    and normal films to mark falsely (and two subsets with different ``skip`` share no woman). None where
    mini-MIAS is not on this machine (the table then says so)."""
    if not (source / "Info.txt").is_file():
        return None
    full = full or out.with_name("mias-full.json")  # the whole of mini-MIAS, imported once per run
    if not full.is_file():
        run_steps(
            [Step("mias: import", ["data", "import", "mias", str(source), "--out", str(full)])], out.parent / "logs"
        )
    manifest = Manifest.read(full)
    by_patient: dict[str, list[Any]] = {}
    for record in manifest.records:
        by_patient.setdefault(record.patient_id, []).append(record)
    with_mass = [p for p in sorted(by_patient) if any(f.kind == "mass" for r in by_patient[p] for f in r.findings)]
    without = [p for p in sorted(by_patient) if p not in with_mass]
    half = skip // 2
    chosen = set(with_mass[half : half + women // 2] + without[skip - half : skip - half + women - women // 2])
    records = [replace(r, split=split) for p in sorted(chosen) for r in by_patient[p]]
    return replace(manifest, records=records).write(out)


def scripted_review(analysed: Sequence[Path], studies: Path, db: Path) -> dict[str, int]:
    """Review every analysed study from its truth.json as a careful reader would, in the product's review store;
    returns the reader's counts (what the product showed: accepted, rejected = false marks, added = misses)."""
    counts = {"images": 0, "accepted": 0, "rejected": 0, "added": 0}
    with open_store(db) as store:
        for result in analysed:
            truth = json.loads((studies / result.name / "truth.json").read_text(encoding="utf-8"))
            session = ReviewSession(store, result, reader=READER)
            found: set[tuple[str, int]] = set()
            for finding in session.findings:
                masses = truth["views"][finding.view]["masses"]
                hits = [m["id"] for m in masses if box_iou(finding.box_px, m["box"]) > IOU_THRESHOLD]
                if hits:
                    session.accept(finding.id)
                    found.update((finding.view, h) for h in hits)
                    counts["accepted"] += 1
                else:
                    session.reject(finding.id)
                    counts["rejected"] += 1
            for view, facts in truth["views"].items():
                counts["images"] += 1
                for mass in facts["masses"]:
                    if (view, mass["id"]) not in found:
                        session.add_mass(view, mass["box"])
                        counts["added"] += 1
            session.set_status("done")
    return counts


def measure(name: str, manifest: Path, zoo: Path, work: Path) -> dict[str, Any]:
    """The zoo on the manifest's test split: false marks per image and recall at the zoo's operating point, and
    recall at 1 FPPI with its CI from ``mommi eval`` (the protocol of METHOD.md)."""
    predictions, report_dir = work / f"{name}.predictions.json", work / f"{name}.eval"
    run_steps(
        [
            Step(
                f"{name}: predict",
                ["predict", "fusion", "--manifest", str(manifest), "--out", str(predictions)]
                + ["--zoo", str(zoo), "--device", "cpu"],
            ),
            Step(
                f"{name}: eval",
                ["eval", "--manifest", str(manifest), "--predictions", str(predictions), "--out", str(report_dir)],
            ),
        ],
        work / "logs",
    )
    froc = json.loads((report_dir / "report.json").read_text(encoding="utf-8"))["froc"]
    point = json.loads((zoo / "manifest.json").read_text(encoding="utf-8"))["operating_point"]
    predicted = json.loads(predictions.read_text(encoding="utf-8"))
    records = [r for r in Manifest.read(manifest).records if r.split == "test"]
    shown = at_operating_point(records, predicted, point, bootstrap=1000)
    at_one = froc["recall_at_fppi"]["1"]
    return {
        "images": froc["images"],
        "masses": froc["masses"],
        "false_marks_per_image": shown["false_marks_per_image"],
        "false_marks_per_image_ci95": shown["false_marks_per_image_ci95"],
        "recall_at_operating_point": shown["sensitivity"],
        "recall_at_1fppi": at_one["recall"],
        "recall_at_1fppi_ci95": at_one["ci95"],
        "operating_point": {"min_score": float(point["min_score"]), "max_marks_per_view": point["max_marks_per_view"]},
    }


def gate_outcome(zoo: Path) -> dict[str, Any]:
    """What the retrain's gate decided for each model, from the new zoo's own record of the round."""
    rounds = json.loads((zoo / "manifest.json").read_text(encoding="utf-8")).get("retrain_rounds", [])
    return rounds[-1]["models"] if rounds else {}


def run_round(number: int, zoo: Path, args: argparse.Namespace, fixed: dict[str, Path]) -> tuple[dict[str, Any], Path]:
    """One review-and-retrain round from ``zoo``; returns the round's record and the zoo the next round uses."""
    work = args.work / f"round-{number}"
    studies = work / "studies"
    run_steps(
        synth_steps("reviewed", studies, args.studies_per_round, args.seed + 10 + number, args.normal_fraction, "test"),
        work / "logs",
    )
    reviewed_mias = (
        mias_subset(
            args.mias,
            work / "reviewed-mias.json",
            args.mias_women_per_round,
            skip=args.mias_women + args.gate_mias_women + (number - 1) * args.mias_women_per_round,
            full=args.work / "mias-full.json",
        )
        if args.mias_women_per_round
        else None
    )
    # the real films go beside the synthetic studies, each with its truth.json, so one reader reviews both
    films = mias_women_as_studies(args.mias, Manifest.read(reviewed_mias).records, studies) if reviewed_mias else []
    analysed = [work / "analysed" / s.name for s in sorted(studies.glob("synth-*")) + films if s.is_dir()]
    run_steps(
        [
            Step(f"analyze {a.name}", ["analyze", str(studies / a.name), "--out", str(a), "--zoo", str(zoo)])
            for a in analysed
        ],
        work / "logs",
    )
    try:
        reader = scripted_review(analysed, studies, work / "review.sqlite")
    except Exception as exc:  # reported as the failing step, like a subprocess's exit code
        raise StepFailed(f"step 'scripted review' failed: {type(exc).__name__}: {exc}") from exc
    new_zoo = args.work / f"zoo-r{number}"
    codes = run_steps(
        [
            Step(
                "feedback export",
                ["feedback", "export", "--db", str(work / "review.sqlite"), "--out", str(work / "batch"), "--zip"],
            ),
            Step(
                "zoo retrain",
                ["zoo", "retrain", "--feedback", str(work / "batch.zip"), "--zoo", str(zoo), "--out", str(new_zoo)]
                + [
                    "--validation",
                    str(fixed["validation"]),
                    *([str(fixed["gate-mias"])] if "gate-mias" in fixed else []),
                ]
                + ["--replay", str(fixed["replay"]), *([str(fixed["replay-mias"])] if "replay-mias" in fixed else [])]
                + ["--epochs", str(args.epochs), "--device", "cpu", "--seed", str(args.seed)]
                + (["--confidence", f"{args.gate_confidence:g}"] if args.gate_confidence is not None else []),
                ok=(0, 1),
            ),
        ],
        work / "logs",
    )
    if not (new_zoo / "manifest.json").is_file():  # exit 1 without a zoo: the round could not run at all
        raise StepFailed(f"step 'zoo retrain' wrote no zoo at {new_zoo} (see {work / 'logs' / 'zoo_retrain.log'})")
    record: dict[str, Any] = {
        "round": number,
        "zoo": str(new_zoo),
        "retrain_exit": codes["zoo retrain"],
        "gate": gate_outcome(new_zoo),
        "reader": reader,
        "reviewed_before": measure("reviewed-before", studies.with_suffix(".json"), zoo, work),
        "reviewed_after": measure("reviewed-after", studies.with_suffix(".json"), new_zoo, work),
    }
    if reviewed_mias is not None:
        record["reviewed_mias_before"] = measure("reviewed-mias-before", reviewed_mias, zoo, work)
        record["reviewed_mias_after"] = measure("reviewed-mias-after", reviewed_mias, new_zoo, work)
    record.update(measure_fixed(new_zoo, fixed, work))
    return record, new_zoo


def measure_fixed(zoo: Path, fixed: dict[str, Path], work: Path) -> dict[str, Any]:
    """The untouched sets, the same every round."""
    return {name: measure(name, fixed[name], zoo, work) for name in ("untouched", "mias") if name in fixed}


def _cell(result: dict[str, Any] | None) -> str:
    if result is None:
        return "-"
    op = result["recall_at_operating_point"]
    lo, hi = result["recall_at_1fppi_ci95"]
    fm_lo, fm_hi = result["false_marks_per_image_ci95"]
    return (
        f"FM/img {result['false_marks_per_image']:.2f} [{fm_lo:.2f}-{fm_hi:.2f}]  "
        f"rec@OP {'-' if op is None else f'{op:.2f}'}  "
        f"rec@1FPPI {result['recall_at_1fppi']:.2f} [{lo:.2f}-{hi:.2f}]  "
        f"({result['images']} img, {result['masses']} masses)"
    )


def table(rounds: Sequence[dict[str, Any]]) -> str:
    """The per-round table: one line per evaluation set, so the reader compares a set down the rounds."""
    lines = []
    for r in rounds:
        gate = ", ".join(f"{k}: {'promoted' if v['promoted'] else 'kept base'}" for k, v in r.get("gate", {}).items())
        lines.append(f"round {r['round']}  zoo {Path(r['zoo']).name}" + (f"  gate: {gate}" if gate else ""))
        if "reader" in r:
            c = r["reader"]
            lines.append(
                f"  reader saw       accepted {c['accepted']}, rejected {c['rejected']} "
                f"({c['rejected'] / max(c['images'], 1):.2f}/img), added {c['added']} on {c['images']} images"
            )
            lines.append(f"  reviewed before  {_cell(r['reviewed_before'])}")
            lines.append(f"  reviewed after   {_cell(r['reviewed_after'])}  (in-sample)")
            if "reviewed_mias_before" in r:
                lines.append(f"  reviewed films   {_cell(r['reviewed_mias_before'])}  (mini-MIAS, before)")
                lines.append(f"    after          {_cell(r['reviewed_mias_after'])}  (in-sample)")
        lines.append(f"  untouched synth  {_cell(r.get('untouched'))}")
        lines.append(f"  mini-MIAS films  {_cell(r.get('mias'))}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2, help="review-and-retrain rounds after the shipped zoo")
    parser.add_argument("--studies-per-round", type=int, default=3, help="fresh four-view studies reviewed per round")
    parser.add_argument("--untouched", type=int, default=4, help="untouched synthetic studies (the same every round)")
    parser.add_argument("--epochs", type=int, default=1, help="fine-tuning epochs per round")
    parser.add_argument(
        "--gate-confidence",
        type=float,
        default=None,
        help="`mommi zoo retrain --confidence` (default: its own); 0.8 let losses through here (README)",
    )
    parser.add_argument(
        "--validation-studies",
        type=int,
        default=2,
        help="synthetic studies of the gate's validation set (one mass decides a small set: 2 studies hold ~6)",
    )
    parser.add_argument(
        "--work", type=Path, default=Path("/tmp/bench_feedback_rounds"), help="new folder for everything"
    )
    parser.add_argument(
        "--replay-studies",
        type=int,
        default=16,
        help="synthetic training studies replayed in every retrain (as a site replays its zoo's training data; 2 "
        "were too few: the fine-tuned networks forgot, README)",
    )
    parser.add_argument(
        "--replay-mias-women",
        type=int,
        default=24,
        help="mini-MIAS women of no other subset replayed as training films (0: none)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seeds every synthetic set and the retrain")
    parser.add_argument("--normal-fraction", type=float, default=0.25, help="share of mass-free synthetic studies")
    parser.add_argument("--mias", type=Path, default=REPO.parent / "shared" / "data" / "mias", help="mini-MIAS folder")
    parser.add_argument("--mias-women", type=int, default=8, help="women of the fixed mini-MIAS subset (0: none)")
    parser.add_argument(
        "--gate-mias-women",
        type=int,
        default=0,
        help="women of a second mini-MIAS subset (none of the first's) given to the gate as real-film validation",
    )
    parser.add_argument(
        "--mias-women-per-round",
        type=int,
        default=0,
        help="mini-MIAS women reviewed each round beside the synthetic studies (none of the fixed subsets' women)",
    )
    parser.add_argument("--zoo", type=Path, default=SHIPPED_ZOO, help="the zoo of round 0 (default: the shipped one)")
    args = parser.parse_args()
    if args.work.exists():
        parser.error(f"{args.work} exists; give a new --work folder (a benchmark never mixes two runs)")
    args.work.mkdir(parents=True)
    started = time.perf_counter()
    out = args.work / "feedback_rounds.json"
    result: dict[str, Any] = {"options": {k: str(v) for k, v in vars(args).items()}, "rounds": []}
    try:
        fixed = {
            "untouched": args.work / "untouched.json",
            "validation": args.work / "validation.json",
            "replay": args.work / "replay.json",
        }
        run_steps(
            synth_steps(
                "untouched", args.work / "untouched", args.untouched, args.seed + 1, args.normal_fraction, "test"
            )
            # the gate's validation and the replay are their own studies: the untouched set must not steer the gate
            + synth_steps("validation", args.work / "validation", args.validation_studies, args.seed + 2, 0.0, "test")
            + synth_steps("replay", args.work / "replay", args.replay_studies, args.seed + 3, 0.0, "train"),
            args.work / "logs",
        )
        mias = mias_subset(args.mias, args.work / "mias.json", args.mias_women) if args.mias_women else None
        if mias is not None:
            fixed["mias"] = mias
        # real films in the gate, as a site would give its own: other women than the untouched subset's, so that
        # the untouched films never steer a decision
        gate_mias = (
            mias_subset(args.mias, args.work / "mias-gate.json", args.gate_mias_women, skip=args.mias_women)
            if args.gate_mias_women
            else None
        )
        if gate_mias is not None:
            fixed["gate-mias"] = gate_mias
        # real films replayed: women of no other subset, as the films the single-view and bilateral networks
        # learned from (a site replays its zoo's training data, `mommi zoo retrain`'s default)
        used = args.mias_women + args.gate_mias_women + args.rounds * args.mias_women_per_round
        replay_mias = (
            mias_subset(args.mias, args.work / "mias-replay.json", args.replay_mias_women, skip=used, split="train")
            if args.replay_mias_women
            else None
        )
        if replay_mias is not None:
            fixed["replay-mias"] = replay_mias
        zoo = args.zoo
        print(f"round 0: the zoo in {zoo}", flush=True)
        result["rounds"].append({"round": 0, "zoo": str(zoo), **measure_fixed(zoo, fixed, args.work / "round-0")})
        for number in range(1, args.rounds + 1):
            print(f"round {number}", flush=True)
            record, zoo = run_round(number, zoo, args, fixed)
            result["rounds"].append(record)
    except StepFailed as exc:
        result["failure"] = str(exc)
        print(f"FAILED: {exc}", file=sys.stderr)
    result["runtime_s"] = round(time.perf_counter() - started, 1)
    out.write_text(json.dumps(result, indent=1), encoding="utf-8")
    print()
    print(table(result["rounds"]))
    print(
        f"\n{result['runtime_s']} s; FM/img: false marks per image at the zoo's operating point [95% patient CI]; "
        f"rec@1FPPI: recall at 1 false positive per image [95% patient CI]; JSON: {out}"
    )
    return 1 if "failure" in result else 0


if __name__ == "__main__":
    sys.exit(main())

"""What a model card may say about where its model came from (#23).

The build script (``model_zoo/build_lite_zoo.sh``) made the shipped models, and their cards say so; a model
exported later by hand (retrained, fine-tuned on feedback) has a new manifest entry that records its training
manifests and starting weights (from the checkpoint) but not the commands. ``mommi zoo record-metrics``
writes what the manifest entry's ``made_by`` says, or "unknown": never the build script's recipe by default.
A model `mommi zoo retrain` made carries its whole provenance (``retrain``: base model, batches, readers'
counts, replay, training options, command, gate) and its card states it (``retrain_section``), so that
regenerating the card keeps it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

BUILD_SCRIPT = "model_zoo/build_lite_zoo.sh"
#: a manifest entry's ``made_by`` when the build script made the model (build_lite_zoo.sh passes it to
#: `mommi zoo record-metrics --made-by`)
BUILD_COMMAND = f"bash {BUILD_SCRIPT}"
#: ``made_by`` of a model whose making nobody recorded: `mommi export` starts a new entry without it, since
#: a checkpoint knows its data and starting weights but not the commands (a retrained or fine-tuned model)
UNKNOWN = "unknown"
#: what each training manifest of build_lite_zoo.sh holds
TRAINING_DATA = {
    "synth-train.json": "400 synthetic studies from `mommi synth --seed 100` (3D phantom v1, lite size, 30% normal), "
    "split 90/10 by patient into train / validation.",
    "synth-v2.json": "300 synthetic studies from `mommi synth --phantom v2 --seed 100` (phantom v2: masses the size "
    "and contrast of real ones, lite size, 30% normal), split 90/10 by patient; the pre-training "
    "of the real-film recipe.",
    "synth-v3.json": "300 synthetic studies from `mommi synth --phantom v3 --seed 100` (the realistic phantom v3: "
    "anatomical noise, film and FFDM looks, look-alikes; lite size, 30% normal), split 90/10 by patient; the "
    "pre-training of the real-film recipe and the data of the nipple and fusion networks.",
    "synth-v3d.json": "the build script's `synth-v3.json` (300 phantom-v3 studies, `mommi synth --phantom v3 --seed "
    "100`, split 90/10 by patient) under the name the zoo 0.3 runs gave it.",
    "mias.json": "mini-MIAS (`../shared/data/mias`, 216 MLO films of 108 women), seeded patient-level 8:1:1 "
    "split; train split used for training, val split for reporting.",
    "mias-all.json": "mini-MIAS (`../shared/data/mias`, 216 MLO films of 108 women, 39 masses), every film in the "
    "training split: the final real-film model; its real-film numbers are the 5-fold "
    "cross-validation by woman of the same recipe (`mommi train ... --cv 5`).",
}


def made_by(entry: dict[str, Any]) -> str:
    """The commands the manifest records as having made the model, else ``UNKNOWN``."""
    value = entry.get("made_by")
    return value.strip() if isinstance(value, str) and value.strip() else UNKNOWN


def built_by_script(entry: dict[str, Any]) -> bool:
    """Whether the manifest says the build script made the model: only then may a card describe its recipe."""
    return made_by(entry) == BUILD_COMMAND


def trained_on(entry: dict[str, Any]) -> str:
    """The card's opening claim about what the model saw: the public data sets only for a model the build
    script made from its own manifests. A model fine-tuned later may have seen anything (feedback batches,
    a site's films), so its card points at the training manifests its checkpoint recorded instead."""
    names = [Path(p).name for p in entry.get("training_data") or []]
    if built_by_script(entry) and names and all(name in TRAINING_DATA for name in names):
        return "Trained on synthetic phantom studies and the public mini-MIAS database only"
    return "Trained on the data listed under Training data below (as its checkpoint recorded them)"


def how_it_was_made(entry: dict[str, Any], script_steps: str) -> list[str]:
    """The card's "How it was made" section: the build script's steps only when the manifest says the
    build script made the model, the recorded commands when others did, and "unknown" when nobody
    recorded them, never the build script by default (#23)."""
    command = made_by(entry)
    if isinstance(entry.get("retrain"), dict):
        text = (
            f"`{command}`: verified the feedback batches, fine-tuned the base model from its checkpoint on them and "
            "the replay data, exported it"
            + (", recalibrated it" if entry.get("task") == "malignancy" else "")
            + ", measured it against its base (the gate) and wrote this zoo; see Retraining above."
        )
    elif built_by_script(entry):
        text = f"`{BUILD_COMMAND}` {script_steps}"
    elif command == UNKNOWN:
        text = (
            "Unknown: the zoo manifest does not record the commands that made this model (it was exported after "
            "the zoo was built, e.g. retrained or fine-tuned); `mommi zoo record-metrics --made-by TEXT` records "
            "them. Its training data and starting weights, as its checkpoint recorded them, are listed above."
        )
    else:
        text = f"`{command}` (recorded with `mommi zoo record-metrics --made-by`)."
    return ["## How it was made (exact commands)", text]


#: the kinds of reader decision a feedback batch counts (``mommi.feedback.export``)
DECISIONS = ("accepted", "edited", "rejected", "added", "pending")


def _value(value: float, ci: list[float] | None) -> str:
    return f"{value:.3f}" + (f" ({ci[0]:.3f}-{ci[1]:.3f})" if ci else "")


def _difference(check: dict[str, Any], tolerance: float) -> str:
    """candidate - base, with its paired 95% CI and the share of draws worse beyond the tolerance where the gate
    drew them."""
    words = f"{check['difference']:+.3f}"
    if check.get("difference_ci95"):
        low, high = check["difference_ci95"]
        words += f" ({low:+.3f} to {high:+.3f}); worse by > {tolerance:g} in {check['worse_share']:.0%} of draws"
    return words


def gate_table(gate: dict[str, Any]) -> list[str]:
    """The gate's before / after table: base and candidate on every validation set (``mommi.eval.gate``), the
    paired difference, and every set pooled by size."""
    if not gate["sets"]:
        return ["No validation set: nothing was measured."]
    tolerance = gate["tolerance"]
    checks = {(c["statistic"], c["name"]): c for c in gate.get("comparisons", [])}
    lines = [
        f"| validation set | size | base: {gate['metric']} (95% CI) | candidate (95% CI) | "
        "difference (paired 95% CI) |",
        "|---|---|---|---|---|",
    ]
    for s in gate["sets"]:
        if s["base"] is None or s["candidate"] is None:
            lines.append(f"| {s['name']} | {s['size']} | not measurable: {s['why_not']} | - | - |")
        else:
            check = checks.get((gate["metric"], s["name"]), {"difference": s["candidate"] - s["base"]})
            lines.append(
                f"| {s['name']} | {s['size']} | {_value(s['base'], s['base_ci95'])} | "
                f"{_value(s['candidate'], s['candidate_ci95'])} | {_difference(check, tolerance)} |"
            )
    others = [
        c
        for c in gate.get("comparisons", [])
        if c["statistic"] != gate["metric"] or c["name"] not in {s["name"] for s in gate["sets"]}
    ]
    for c in others:
        label = c["name"] if c["statistic"] == gate["metric"] else f"{c['name']}, {c['statistic']}"
        lines.append(f"| {label} | - | {c['base']:.3f} | {c['candidate']:.3f} | {_difference(c, tolerance)} |")
    return lines


def _batch_line(batch: dict[str, Any]) -> str:
    decisions = ", ".join(f"{batch['decisions'].get(k, 0)} {k}" for k in DECISIONS)
    return (
        f"- Feedback batch `{batch['id']}` (`{batch['file']}`, manifest SHA-256 `{batch['manifest_sha256']}`): "
        f"{batch['studies']} studies, {batch['images']} images; readers' decisions: {decisions} (readers: "
        f"{', '.join(batch['readers']) or 'not recorded'})."
    )


def _replay_line(record: dict[str, Any]) -> str:
    if not record["replay"]:
        return "- No replay (`--no-replay`): fine-tuned on the feedback alone, so it may forget what it knew."
    parts = ", ".join(f"{r['images']} from `{Path(r['manifest']).name}`" for r in record["replay"])
    return f"- Replay, so that it does not forget: train-split images of its training data ({parts})."


def retrain_section(entry: dict[str, Any]) -> list[str]:
    """The card's account of a `mommi zoo retrain` round that made this model (none for other models): the base
    model, the batches with the readers' counts, the data split, replay, training and the gate's numbers."""
    record = entry.get("retrain")
    if not isinstance(record, dict):
        return []
    base, feedback, training, gate = record["base"], record["feedback"], record["training"], record["gate"]
    verdict = "Promoted by `--force`" if gate["forced"] else "Promoted"
    return [
        f"## Retraining (round {record['round']}: zoo {base['zoo_version']} -> {record['zoo_version']})",
        f"Fine-tuned by `mommi zoo retrain` on {record['date'][:10]} from `{base['name']}` of zoo "
        f"{base['zoo_version']} (model SHA-256 `{base['sha256']}`, checkpoint SHA-256 `{base['checkpoint_sha256']}`).",
        *(_batch_line(b) for b in record["batches"]),
        f"- Studies trained on: {feedback['studies_trained']} ({feedback['images_trained']} images); held out for "
        f"the gate: {feedback['studies_held_out']} ({feedback['images_held_out']} images), by patient, fraction "
        f"{feedback['holdout']:g}, seed {feedback['seed']}.",
        _replay_line(record),
        f"- {training['epochs']} epochs from the base checkpoint, learning rate {training['lr']:g}, batch "
        f"{training['batch_size']}, seed {training['seed']}, the last epoch kept.",
        "",
        f"### Gate: {gate['metric']}, tolerance {gate['tolerance']:g}"
        + (f", confidence {gate['confidence']:g} of paired resamples" if "confidence" in gate else ""),
        "Base and candidate on data neither was trained on (`mommi.eval.gate`):",
        "",
        *gate_table(gate),
        "",
        *chain_section(gate),
        f"{verdict}: {gate['reason']}.",
        *(
            []
            if entry.get("task") == "malignancy"
            else [
                f"- The zoo's default operating point was set on the models of zoo {base['zoo_version']}: set it "
                "again on real films for this zoo (`mommi zoo operating-point`)."
            ]
        ),
        "",
    ]


def refused_section(number: int, version: str, gate: dict[str, Any], batches: list[dict[str, Any]]) -> list[str]:
    """What the card of a model kept in a retrained zoo says about the candidate the gate refused."""
    ids = ", ".join(f"`{b['id']}`" for b in batches)
    return [
        f"## Retraining round {number} (zoo {version}): candidate not promoted",
        f"A candidate fine-tuned from this model on feedback batch(es) {ids} was measured against it and not "
        f"promoted: {gate['reason']}. This model is unchanged.",
        "",
        *gate_table(gate),
        "",
        *chain_section(gate),
    ]


def chain_section(gate: dict[str, Any]) -> list[str]:
    """A branch's second gate: the whole chain of the zoo the round would write against the base chain (none when
    the round did not run it)."""
    chain = gate.get("chain")
    if not chain:
        return []
    verdict = "promoted by `--force`" if chain["forced"] else "passed" if chain["promoted"] else "refused"
    return [
        "#### The whole chain with this round's promoted detectors",
        "The fusion network reads this branch's maps, so the zoo with every promoted detector was measured as "
        f"readers get it, tri-view chain against the base chain ({chain['metric']}):",
        "",
        *gate_table(chain),
        "",
        f"The chain {verdict}: {chain['reason']}.",
        "",
    ]

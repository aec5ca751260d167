"""What a model card may say about where its model came from (#23).

The build script (``model_zoo/build_lite_zoo.sh``) made the shipped models, and their cards say so; a model
exported later (retrained, fine-tuned on feedback) has a new manifest entry that records its training
manifests and starting weights (from the checkpoint) but not the commands. ``mommi zoo record-metrics``
writes what the manifest entry's ``made_by`` says, or "unknown": never the build script's recipe by default.
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
    if built_by_script(entry):
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

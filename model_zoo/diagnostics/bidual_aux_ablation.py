"""Does BiDualNet use its auxiliary (contralateral) input? Replace it and measure.

    python model_zoo/diagnostics/bidual_aux_ablation.py DATA/synth-test.json --split test

Runs the zoo's bidual-lite (ONNX Runtime) over a manifest split with the auxiliary
input as the product makes it (registered contralateral view) and with four
replacements, and prints FROC recall at 0.5 / 1 / 2 FPPI for each:

- ``registered``: the real input (nipple-aligned contour warp of the other breast);
- ``unregistered``: the other breast, flipped onto the grid but not warped;
- ``same image``: the main view itself (a perfectly symmetric pair: no asymmetry);
- ``blank``: an empty image;
- ``other patient``: the same view of the other breast of a different study.

If ``registered`` is not better than ``same image`` and ``blank``, the network does
not take anything useful from the other breast; if ``unregistered`` is as good as
``registered``, registration is not what limits it.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from mommi.data.manifest import Manifest
from mommi.data.records import contralateral_index, load_record_image
from mommi.runtime.detection_chain import DetectionChain, sigmoid
from mommi.eval.froc import FPPI_POINTS, evaluate_froc
from mommi.preprocess.model_input import prepare
from mommi.preprocess.registration import register_bilateral
from mommi.study.model import View
from mommi.train.tasks import map_results

VARIANTS = ("registered", "unregistered", "same image", "blank", "other patient")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("manifest", type=Path)
    parser.add_argument("--split", default="test")
    parser.add_argument("--zoo", type=Path, default=None)
    args = parser.parse_args()
    manifest = Manifest.read(args.manifest)
    chain = DetectionChain(args.zoo, device="cpu")
    model = chain.model("bidual")
    pairs = contralateral_index(manifest.records)
    chosen = [
        (r, manifest.records[pairs[i]]) for i, r in enumerate(manifest.records) if r.split == args.split and i in pairs
    ]
    prepared = {r.image_id: prepare(load_record_image(manifest, r), chain.spec) for r, _ in chosen}
    maps: dict[str, list[np.ndarray]] = {v: [] for v in VARIANTS}
    for k, (record, other) in enumerate(chosen):
        main_view, aux_view = prepared[record.image_id], prepared[other.image_id]
        if record.view == "MLO":
            found = chain.nipples({View.L_MLO: main_view, View.R_MLO: aux_view})
            nipples = (found[View.L_MLO], found[View.R_MLO])
        else:
            nipples = (None, None)
        reg = register_bilateral(main_view.pixels, aux_view.pixels, main_view.mask, aux_view.mask, *nipples)
        stranger = prepared[chosen[(k + 7) % len(chosen)][1].image_id].pixels
        aux_inputs = {
            "registered": reg.warped,
            "unregistered": aux_view.pixels,
            "same image": main_view.pixels,
            "blank": np.zeros_like(main_view.pixels),
            "other patient": stranger,
        }
        for variant, aux in aux_inputs.items():
            logits = model.run(
                main=chain.spec.normalise(main_view.pixels)[None, None], aux=chain.spec.normalise(aux)[None, None]
            )
            maps[variant].append(sigmoid(logits)[0, 0])
    records = [r for r, _ in chosen]
    transforms = [prepared[r.image_id].transform for r in records]
    print(
        f"{len(records)} images, split {args.split}; recall at " + " / ".join(f"{f:g}" for f in FPPI_POINTS) + " FPPI"
    )
    for variant in VARIANTS:
        report = evaluate_froc(map_results(records, transforms, maps[variant]), bootstrap=0)
        print(f"  {variant:14s} " + " / ".join(f"{report.recall[f]:.3f}" for f in FPPI_POINTS))


if __name__ == "__main__":
    main()

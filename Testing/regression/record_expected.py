"""Records what the shipped zoo finds on the fixed demo study (synthetic, seed 7): the regression
test (Testing/test_regression.py) compares every later run with it.

Run again, and commit the file it writes, whenever a model in model_zoo/ changes:
    python Testing/regression/record_expected.py
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
EXPECTED = HERE / "demo-seed7.json"
SEED = 7


def analyse_demo_study() -> dict:
    """The demo study analysed on the CPU, as the subset of result.json the regression compares."""
    from mommi.data.synth import synthesize
    from mommi.runtime.pipeline import Pipeline

    with tempfile.TemporaryDirectory() as folder:
        synthesize(Path(folder), 1, seed=SEED, normal_fraction=0.0)
        _, result = Pipeline(device="cpu").analyze_path(Path(folder))
    keys = ("id", "view", "box_px", "score", "branch", "malignancy", "birads", "ipsilateral_partner")
    return {
        "models": result.models,
        "views": {name: {"branch": v.branch, "nipple_px": v.nipple_px} for name, v in result.views.items()},
        "findings": [{k: getattr(f, k) for k in keys} for f in result.findings],
        "warnings": result.warnings,
    }


if __name__ == "__main__":
    EXPECTED.write_text(json.dumps(analyse_demo_study(), indent=1) + "\n")
    print(f"wrote {EXPECTED}", file=sys.stderr)

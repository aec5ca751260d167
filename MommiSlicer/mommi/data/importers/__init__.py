"""Importers: public mammography datasets -> one training manifest.

Each importer is ``import_<name>(source: Path) -> Manifest`` without splits; the
command line assigns the seeded patient-level split afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from mommi.data.manifest import Manifest

Importer = Callable[[Path], Manifest]


def importers() -> dict[str, Importer]:
    """Format name -> importer (imported lazily: each module has its own parsing needs)."""
    from mommi.data.importers import cbis_ddsm, cdd_cesm, cmmd, feedback, inbreast, mias, synthetic, vindr

    return {
        "mias": mias.import_mias,
        "cbis-ddsm": cbis_ddsm.import_cbis_ddsm,
        "vindr-mammo": vindr.import_vindr,
        "inbreast": inbreast.import_inbreast,
        "cmmd": cmmd.import_cmmd,
        "cdd-cesm": cdd_cesm.import_cdd_cesm,
        "synthetic": synthetic.import_synthetic,
        "feedback": feedback.import_feedback,
    }

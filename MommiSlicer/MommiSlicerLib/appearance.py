"""How findings and probability maps look: one definition shared by every node the module makes.

The malignancy colours are the engine's and the reader's (README: green < 0.3, amber, red
>= 0.7; grey when the zoo had no classifier), so a reader switching between the desktop
reader, the overlays of ``mommi analyze`` and Slicer sees the same code. The heat colour
table is built in MRML rather than shipped as a file: it is 256 computed entries, is saved
with the scene (.mrb) like any colour node, and cannot go missing from an installation.
"""

from __future__ import annotations

from typing import Any

#: malignancy thresholds: below LOW green, at or above HIGH red, amber in between
MALIGNANCY_LOW = 0.3
MALIGNANCY_HIGH = 0.7
GREEN = (0.2, 0.8, 0.2)
AMBER = (1.0, 0.75, 0.0)
RED = (0.95, 0.1, 0.1)
GREY = (0.6, 0.6, 0.6)

HEAT_TABLE_NAME = "MommiSlicer heat"
HEAT_ENTRIES = 256
#: probabilities below this are fully transparent in the overlay (the background of the map)
HEAT_FLOOR = 0.05
#: opacity of a rejected finding's ROI: still visible (it can be re-accepted), clearly set aside
REJECTED_OPACITY = 0.35


def malignancy_colour(malignancy: float | None) -> tuple[float, float, float]:
    """RGB in [0, 1] for a finding's malignancy probability (None: not scored)."""
    if malignancy is None:
        return GREY
    if malignancy < MALIGNANCY_LOW:
        return GREEN
    if malignancy < MALIGNANCY_HIGH:
        return AMBER
    return RED


def heat_rgba(index: int, entries: int = HEAT_ENTRIES) -> tuple[float, float, float, float]:
    """Black-red-yellow-white ramp; entry 0 (probability 0) transparent."""
    t = index / (entries - 1)
    r, g, b = (min(1.0, max(0.0, 3 * t - k)) for k in (0.0, 1.0, 2.0))
    return r, g, b, (0.0 if t < HEAT_FLOOR else 1.0)


def heat_color_table(scene: Any) -> Any:
    """The scene's heat colour table node, created on first use (one per scene, found by name)."""
    import slicer

    existing = scene.GetFirstNodeByName(HEAT_TABLE_NAME)
    if existing is not None and existing.IsA("vtkMRMLColorTableNode"):
        return existing
    node = slicer.vtkMRMLColorTableNode()
    node.SetName(HEAT_TABLE_NAME)
    node.SetTypeToUser()
    node.SetNumberOfColors(HEAT_ENTRIES)
    node.SetAttribute("MommiSlicer.Role", "heat")
    for index in range(HEAT_ENTRIES):
        node.SetColor(index, f"p{index / (HEAT_ENTRIES - 1):.3f}", *heat_rgba(index))
    scene.AddNode(node)
    return node

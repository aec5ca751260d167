"""The 2x2 mammography hanging as a Slicer layout: R views left, L views right, CC above MLO.

A layout is an XML description registered with the scene's layout node under a numeric id;
the application's layout manager (GUI only) then builds the four slice views from it. The
views are named after the mammography views, so the module finds "R-CC"'s slice view by
name. Each view is axial: with the IJK -> RAS matrices of ``geometry`` that shows every
image as hung, chest walls meeting in the middle.
"""

from __future__ import annotations

from typing import Any

#: ``mommi.study.model.HANGING_ORDER`` spelled out (a test checks they agree): importing the
#: engine's study package loads pydicom, which a fresh Slicer does not have before the
#: dependencies are installed, and the module must load then to offer the installation
HANGING_ORDER = ("R-CC", "L-CC", "R-MLO", "L-MLO")
#: layout id: above Slicer's built-in ids and clear of the ranges other extensions use
LAYOUT_ID = 18201
#: slice view (layout) name of each mammography view, e.g. "MommiRCC"
VIEW_NAMES = {view: "Mommi" + view.replace("-", "") for view in HANGING_ORDER}
#: the views' label colours (Slicer shows them in each view's controller bar)
VIEW_COLOURS = {"R-CC": "#c05050", "L-CC": "#5080c0", "R-MLO": "#c09050", "L-MLO": "#50a070"}


def _view_xml(view: str) -> str:
    return (
        f'<item><view class="vtkMRMLSliceNode" singletontag="{VIEW_NAMES[view]}">'
        f'<property name="orientation" action="default">Axial</property>'
        f'<property name="viewlabel" action="default">{view}</property>'
        f'<property name="viewcolor" action="default">{VIEW_COLOURS[view]}</property>'
        f"</view></item>"
    )


def layout_xml() -> str:
    """The layout description: a vertical pair of rows (CC, MLO), each R | L."""
    order = list(HANGING_ORDER)  # R-CC, L-CC, R-MLO, L-MLO
    rows = [order[0:2], order[2:4]]
    inner = "".join(
        f'<item><layout type="horizontal">{"".join(_view_xml(v) for v in row)}</layout></item>' for row in rows
    )
    return f'<layout type="vertical">{inner}</layout>'


def layout_node(scene: Any) -> Any:
    """The scene's layout node (Slicer makes it; a standalone scene gets one here)."""
    import slicer

    node = scene.GetFirstNodeByClass("vtkMRMLLayoutNode")
    if node is None:
        node = slicer.vtkMRMLLayoutNode()
        node.SetSingletonTag("vtkMRMLLayoutNode")
        node = scene.AddNode(node)
    return node


def register_layout(scene: Any) -> int:
    """Register (or refresh) the mammography layout with the scene's layout node; returns its id."""
    node = layout_node(scene)
    if node.IsLayoutDescription(LAYOUT_ID):
        node.SetLayoutDescription(LAYOUT_ID, layout_xml())
    else:
        node.AddLayoutDescription(LAYOUT_ID, layout_xml())
    return LAYOUT_ID


def slice_node_id(view: str) -> str:
    """MRML ID of a view's slice node once the layout manager has built it."""
    return "vtkMRMLSliceNode" + VIEW_NAMES[view]

"""One analysed study as MRML nodes: views, probability maps, findings as ROIs, a findings table.

``build_study_scene`` makes the nodes once per study; ``update_findings`` brings the ROIs
and the table in line with the review state (after an accept, an undo, an added mass).
Every node carries ``MommiSlicer.*`` attributes (role, view, finding id, study UID, result
folder), which MRML saves with the scene, so ``find_study_nodes`` can find them again in a
reloaded .mrb and the review can go on where it was left.

Only the main thread may call these functions (DESIGN.md: MRML is touched only there).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from MommiSlicerLib.appearance import REJECTED_OPACITY, heat_color_table, malignancy_colour
from MommiSlicerLib.geometry import ViewGeometry, box_to_roi
from mommi.runtime.result import StudyResult
from mommi.study.model import HANGING_ORDER, Study

ROLE = "MommiSlicer.Role"
VIEW = "MommiSlicer.View"
FINDING_ID = "MommiSlicer.FindingId"
STUDY_UID = "MommiSlicer.StudyUID"
RESULT_FOLDER = "MommiSlicer.ResultFolder"
FLIPS = "MommiSlicer.CanonicalFlips"  # "hv" of the to_model transform, e.g. "10"
#: columns of the findings table, in order
TABLE_COLUMNS = ("Finding", "View", "Score", "Malignancy", "BI-RADS", "Decision", "x0", "y0", "x1", "y1")


@dataclass
class FindingDisplay:
    """What a finding's ROI and table row show, from a model result or a reader's review state."""

    id: str
    view: str
    box_px: list[float]
    score: float | None
    malignancy: float | None
    birads: str | None
    decision: str = "pending"
    edited: bool = False
    malignancy_withheld: str | None = None  # why the classifier's output is not shown

    @classmethod
    def of(cls, finding: Any) -> FindingDisplay:
        """From a ``FindingResult`` (model output) or a ``FindingState`` (review state)."""
        birads = finding.birads  # review state: the reader's category wins, else the model's estimate
        if not birads and hasattr(finding, "model_birads"):
            birads = finding.model_birads
        return cls(
            finding.id,
            finding.view,
            [float(v) for v in finding.box_px],
            getattr(finding, "score", None),
            getattr(finding, "malignancy", None),
            birads,
            getattr(finding, "decision", "pending"),
            bool(getattr(finding, "edited", False)),
            getattr(finding, "malignancy_withheld", None),
        )

    def _malignancy_text(self, digits: int, missing: str) -> str:
        if self.malignancy_withheld:
            return "withheld"
        return missing if self.malignancy is None else f"{self.malignancy:.{digits}f}"

    @property
    def label(self) -> str:
        """The ROI's name: id, score, malignancy and BI-RADS, readable in a slice view."""
        parts = [self.id]
        if self.score is not None:
            parts.append(f"score {self.score:.2f}")
        parts.append(f"malignancy {self._malignancy_text(2, 'n/a')}")
        if self.birads:
            parts.append(f"BI-RADS {self.birads}")
        return " | ".join(parts)

    @property
    def description(self) -> str:
        x0, y0, x1, y1 = self.box_px
        origin = "added by a reader" if self.score is None else f"detection score {self.score:.3f}"
        malignancy = self._malignancy_text(3, "not scored")
        if self.malignancy_withheld:
            malignancy += f" (the classifier {self.malignancy_withheld})"
        return (
            f"{self.id} on {self.view}: {origin}; malignancy probability {malignancy}; "
            f"BI-RADS {self.birads or 'n/a'}; decision {self.decision}{' (edited)' if self.edited else ''}; "
            f"box {x0:.1f}, {y0:.1f} to {x1:.1f}, {y1:.1f} px (original pixels). Research use only."
        )

    def row(self) -> list[str]:
        def number(v: float | None) -> str:
            return "" if v is None else f"{v:.3f}"

        return [
            self.id,
            self.view,
            number(self.score),
            self._malignancy_text(3, ""),
            self.birads or "",
            self.decision + (", edited" if self.edited else ""),
            *(f"{v:.2f}" for v in self.box_px),
        ]


@dataclass
class StudyNodes:
    """The nodes of one study in a scene."""

    study_uid: str
    volumes: dict[str, Any] = field(default_factory=dict)  # view -> vtkMRMLScalarVolumeNode
    maps: dict[str, Any] = field(default_factory=dict)  # view -> probability vtkMRMLScalarVolumeNode
    rois: dict[str, Any] = field(default_factory=dict)  # finding id -> vtkMRMLMarkupsROINode
    table: Any = None  # vtkMRMLTableNode
    heat: Any = None  # vtkMRMLColorTableNode

    @property
    def result_folder(self) -> str:
        return (self.table.GetAttribute(RESULT_FOLDER) or "") if self.table is not None else ""

    def geometry(self, view: str) -> ViewGeometry:
        """The view's grid and hanging, read back from its volume (also after a reload)."""
        volume = self.volumes[view]
        cols, rows, _ = volume.GetImageData().GetDimensions()
        col_mm, row_mm, _ = volume.GetSpacing()
        flips = volume.GetAttribute(FLIPS) or "00"
        return ViewGeometry.of(view, rows, cols, (row_mm, col_mm), flips[0] == "1", flips[1] == "1")


# ---------------------------------------------------------------------- helpers
def _vtk_matrix(array: np.ndarray) -> Any:
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    for r in range(4):
        for c in range(4):
            matrix.SetElement(r, c, float(array[r, c]))
    return matrix


def numpy_matrix(vtk_matrix: Any) -> np.ndarray:
    return np.array([[vtk_matrix.GetElement(r, c) for c in range(4)] for r in range(4)])


def ijk_to_ras_of(volume: Any) -> np.ndarray:
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    volume.GetIJKToRASMatrix(matrix)
    return numpy_matrix(matrix)


def ras_to_ijk_of(volume: Any) -> np.ndarray:
    from vtkmodules.vtkCommonMath import vtkMatrix4x4

    matrix = vtkMatrix4x4()
    volume.GetRASToIJKMatrix(matrix)
    return numpy_matrix(matrix)


def _image_data(pixels: np.ndarray) -> Any:
    """A 1-slice vtkImageData holding ``pixels`` (rows, cols): i along columns, j along rows."""
    from vtkmodules.util.numpy_support import numpy_to_vtk
    from vtkmodules.vtkCommonDataModel import vtkImageData

    array = np.ascontiguousarray(pixels, dtype=np.float32)
    rows, cols = array.shape
    image = vtkImageData()
    image.SetDimensions(cols, rows, 1)
    scalars = numpy_to_vtk(array.ravel(), deep=True)
    scalars.SetName("ImageScalars")
    image.GetPointData().SetScalars(scalars)
    return image


def _add_volume(
    scene: Any, name: str, pixels: np.ndarray, geometry: ViewGeometry, role: str, study_uid: str, flips: str
) -> Any:
    volume = scene.AddNewNodeByClass("vtkMRMLScalarVolumeNode", name)
    volume.SetAndObserveImageData(_image_data(pixels))
    volume.SetIJKToRASMatrix(_vtk_matrix(geometry.ijk_to_ras()))  # spacing and directions from one matrix
    for key, value in ((ROLE, role), (VIEW, geometry.view), (STUDY_UID, study_uid), (FLIPS, flips)):
        volume.SetAttribute(key, value)
    volume.CreateDefaultDisplayNodes()
    return volume


def _flips(image: Any) -> tuple[bool, bool]:
    transform = getattr(image, "to_model", None)
    return bool(transform and transform.flip_horizontal), bool(transform and transform.flip_vertical)


# ---------------------------------------------------------------------- building
def build_study_scene(
    scene: Any, study: Study, result: StudyResult, findings: Iterable[Any] | None = None, result_folder: str = ""
) -> StudyNodes:
    """Add one study's nodes to ``scene``.

    ``findings``: what the ROIs show, normally ``ReviewSession.findings`` (so a reopened study
    shows the reader's edited boxes and added masses); the model's ``result.findings`` when None.
    """
    nodes = StudyNodes(result.study_uid, heat=heat_color_table(scene))
    images = {view.value: image for view, image in study.images.items() if image.pixels is not None}
    for view in (v.value for v in HANGING_ORDER):
        if view not in images or view not in result.views:
            continue
        image, info = images[view], result.views[view]
        flip_h, flip_v = _flips(image)
        geometry = ViewGeometry.of(view, info.rows, info.cols, info.spacing_mm, flip_h, flip_v)
        flips = f"{int(flip_h)}{int(flip_v)}"
        volume = _add_volume(scene, view, image.pixels, geometry, "image", result.study_uid, flips)
        display = volume.GetDisplayNode()
        display.SetAutoWindowLevel(False)
        display.SetWindowLevelMinMax(0.0, 1.0)  # engine pixels are display intensities in [0, 1]
        nodes.volumes[view] = volume
        if view in result.maps:
            prob = _add_volume(
                scene, f"{view} probability", result.maps[view], geometry, "probability", result.study_uid, flips
            )
            display = prob.GetDisplayNode()
            display.SetAndObserveColorNodeID(nodes.heat.GetID())
            display.SetAutoWindowLevel(False)
            display.SetWindowLevelMinMax(0.0, 1.0)
            nodes.maps[view] = prob
    nodes.table = scene.AddNewNodeByClass("vtkMRMLTableNode", "MommiSlicer findings")
    for key, value in ((ROLE, "findings"), (STUDY_UID, result.study_uid), (RESULT_FOLDER, str(result_folder))):
        nodes.table.SetAttribute(key, value)
    for column in TABLE_COLUMNS:
        nodes.table.AddColumn().SetName(column)
    update_findings(scene, nodes, result.findings if findings is None else findings)
    return nodes


def _style_roi(roi: Any, finding: FindingDisplay) -> None:
    roi.SetName(finding.label)
    roi.SetDescription(finding.description)
    display = roi.GetDisplayNode()
    if display is None:
        return
    colour = malignancy_colour(finding.malignancy)
    display.SetSelectedColor(*colour)
    display.SetColor(*colour)
    display.SetOpacity(REJECTED_OPACITY if finding.decision == "rejected" else 1.0)
    if hasattr(display, "SetFillOpacity"):
        display.SetFillOpacity(0.05)
    if hasattr(display, "SetRotationHandleVisibility"):  # boxes stay aligned with the image grid
        display.SetRotationHandleVisibility(False)


def place_roi(roi: Any, box_px: Sequence[float], volume: Any) -> None:
    """Put ``roi`` over ``box_px`` (original pixels) of ``volume``, through the volume's IJK -> RAS."""
    centre, size = box_to_roi(box_px, ijk_to_ras_of(volume))
    roi.SetSize(*size)  # size first: an ROI gets its control point (its centre) with the size
    roi.SetCenter(*centre)


def tag_roi(roi: Any, finding_id: str, view: str, study_uid: str) -> None:
    for key, value in ((ROLE, "finding"), (FINDING_ID, finding_id), (VIEW, view), (STUDY_UID, study_uid)):
        roi.SetAttribute(key, value)


def update_findings(scene: Any, nodes: StudyNodes, findings: Iterable[Any]) -> None:
    """ROIs and table rows for exactly ``findings`` (FindingResult or FindingState), in order.

    Existing ROIs are moved only when their box differs (so an ROI the reader is dragging is
    not fought over); ROIs of findings that no longer exist (an added mass undone) are removed.
    """
    from MommiSlicerLib.geometry import ras_bounds_to_box, same_box

    shown = [FindingDisplay.of(f) for f in findings]
    shown = [f for f in shown if f.view in nodes.volumes]
    wanted = {f.id for f in shown}
    for finding_id in [i for i in nodes.rois if i not in wanted]:
        scene.RemoveNode(nodes.rois.pop(finding_id))
    for finding in shown:
        volume = nodes.volumes[finding.view]
        roi = nodes.rois.get(finding.id)
        if roi is None:
            roi = scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", finding.id)
            tag_roi(roi, finding.id, finding.view, nodes.study_uid)
            roi.CreateDefaultDisplayNodes()
            nodes.rois[finding.id] = roi
            place_roi(roi, finding.box_px, volume)
        else:
            bounds = [0.0] * 6
            roi.GetRASBounds(bounds)
            if not same_box(ras_bounds_to_box(bounds, ras_to_ijk_of(volume)), finding.box_px, 0.05):
                place_roi(roi, finding.box_px, volume)
    for finding in shown:  # styled after every ROI exists: creating an ROI node can reset others' descriptions
        _style_roi(nodes.rois[finding.id], finding)
    fill_table(nodes.table, shown)


def fill_table(table: Any, findings: Sequence[FindingDisplay]) -> None:
    vtk_table = table.GetTable()
    was = table.StartModify()
    vtk_table.SetNumberOfRows(len(findings))
    for row, finding in enumerate(findings):
        for column, text in enumerate(finding.row()):
            table.SetCellText(row, column, text)
    table.EndModify(was)
    table.Modified()


def table_rows(table: Any) -> list[list[str]]:
    """The findings table as text rows (for tests and for the .mrb round trip)."""
    return [
        [table.GetCellText(r, c) for c in range(table.GetNumberOfColumns())] for r in range(table.GetNumberOfRows())
    ]


def find_study_nodes(scene: Any, study_uid: str | None = None) -> StudyNodes | None:
    """The study's nodes found by their attributes (e.g. in a reloaded .mrb); None if absent."""

    def by_class(name: str) -> list[Any]:
        collection = scene.GetNodesByClass(name)
        collection.UnRegister(None)  # the C++ method returns a new collection the caller owns (as slicer.util does)
        return [collection.GetItemAsObject(i) for i in range(collection.GetNumberOfItems())]

    tables = [
        t
        for t in by_class("vtkMRMLTableNode")
        if t.GetAttribute(ROLE) == "findings" and (study_uid is None or t.GetAttribute(STUDY_UID) == study_uid)
    ]
    if not tables:
        return None
    table = tables[-1]
    uid = table.GetAttribute(STUDY_UID)
    nodes = StudyNodes(uid, table=table, heat=heat_color_table(scene))
    for volume in by_class("vtkMRMLScalarVolumeNode"):
        if volume.GetAttribute(STUDY_UID) != uid:
            continue
        target = (
            nodes.volumes
            if volume.GetAttribute(ROLE) == "image"
            else nodes.maps
            if volume.GetAttribute(ROLE) == "probability"
            else None
        )
        if target is not None:
            target[volume.GetAttribute(VIEW)] = volume
    for roi in by_class("vtkMRMLMarkupsROINode"):
        if roi.GetAttribute(STUDY_UID) == uid and roi.GetAttribute(FINDING_ID):
            nodes.rois[roi.GetAttribute(FINDING_ID)] = roi
    return nodes


def remove_study_nodes(scene: Any, nodes: StudyNodes) -> None:
    """Take a study's nodes out of the scene (before showing another study)."""
    for node in [*nodes.volumes.values(), *nodes.maps.values(), *nodes.rois.values(), nodes.table]:
        if node is None or not scene.IsNodePresent(node):
            continue
        displays = (
            [node.GetNthDisplayNode(i) for i in range(node.GetNumberOfDisplayNodes())]
            if hasattr(node, "GetNumberOfDisplayNodes")
            else []
        )
        scene.RemoveNode(node)
        for display in displays:  # Slicer's application removes them; a standalone scene does not
            if display is not None and scene.IsNodePresent(display):
                scene.RemoveNode(display)
    nodes.volumes.clear(), nodes.maps.clear(), nodes.rois.clear()

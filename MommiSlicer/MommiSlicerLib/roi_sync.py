"""The reader's ROI gestures -> ``ReviewSession``: a moved or resized ROI is an edited finding, a new
ROI on a mammogram is an added mass.

Why compare-then-write: MRML fires modification events for many reasons (a name change, our
own re-styling, every mouse move of a drag). ``RoiSync`` converts the ROI to a box in ORIGINAL
pixels (RAS bounds -> IJK through the view volume's RAS -> IJK matrix) and writes to the
review store only when that box differs from the finding's current one, and never in the
middle of a drag (between PointStart/PointEndInteraction) or of a placement (interaction node
in Place mode): one gesture, one audit event. Changes the module makes itself run inside
``suspended()`` and are not taken for the reader's.

A script that adds an ROI should set its centre before its size (``SetCenter`` then
``SetSize``): an ROI gets its control point, and so its position, with the size; the
other order places it at the origin first, on whichever view lies there.

Refused actions (a box that collapses, an ROI off every image) go to ``on_error`` with a
sentence; the ROI is then put back where the review state says it is.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from typing import Any

from vtkmodules.vtkCommonCore import VTK_OBJECT

from MommiSlicerLib.geometry import clamp_box, ras_bounds_to_box, same_box
from MommiSlicerLib.scene_builder import (
    FINDING_ID,
    ROLE,
    StudyNodes,
    ras_to_ijk_of,
    tag_roi,
    update_findings,
)

log = logging.getLogger(__name__)

#: a box smaller than this (pixels, either side) is a click, not a mass
MIN_BOX_PX = 2.0


class RoiSync:
    def __init__(
        self,
        scene: Any,
        nodes: StudyNodes,
        session: Any,
        on_change: Callable[[str | None], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.scene, self.nodes, self.session = scene, nodes, session
        self.on_change = on_change or (lambda finding_id: None)
        self.on_error = on_error or (lambda message: log.warning("%s", message))
        self._observed: dict[str, list[int]] = {}  # node ID -> observer tags
        self._interacting: set[str] = set()  # node IDs being dragged
        self._pending: set[str] = set()  # reader-made ROIs not yet committed (still being placed)
        self._suspended = 0
        self._scene_tags: list[int] = []
        self._interaction_tag: tuple[Any, int] | None = None

    # ------------------------------------------------------------------ attaching
    def attach(self) -> RoiSync:
        import slicer

        for roi in self.nodes.rois.values():
            self._observe(roi)
        self._scene_tags.append(self.scene.AddObserver(slicer.vtkMRMLScene.NodeAddedEvent, self._on_node_added))
        interaction = self.scene.GetNodeByID("vtkMRMLInteractionNodeSingleton")
        if interaction is not None:
            tag = interaction.AddObserver(slicer.vtkMRMLInteractionNode.EndPlacementEvent, self._on_end_placement)
            self._interaction_tag = (interaction, tag)
        return self

    def detach(self) -> None:
        for node_id, tags in self._observed.items():
            node = self.scene.GetNodeByID(node_id)
            for tag in tags if node is not None else ():
                node.RemoveObserver(tag)
        self._observed.clear()
        for tag in self._scene_tags:
            self.scene.RemoveObserver(tag)
        self._scene_tags.clear()
        if self._interaction_tag is not None:
            self._interaction_tag[0].RemoveObserver(self._interaction_tag[1])
            self._interaction_tag = None

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """Changes made inside are the module's own, not the reader's."""
        self._suspended += 1
        try:
            yield
        finally:
            self._suspended -= 1

    def _observe(self, roi: Any) -> None:
        import slicer

        if roi.GetID() in self._observed:
            return
        markups = slicer.vtkMRMLMarkupsNode
        self._observed[roi.GetID()] = [
            roi.AddObserver(markups.PointModifiedEvent, self._on_modified),
            roi.AddObserver(markups.PointPositionDefinedEvent, self._on_modified),
            roi.AddObserver(markups.PointStartInteractionEvent, self._on_start),
            roi.AddObserver(markups.PointEndInteractionEvent, self._on_end),
        ]

    # ------------------------------------------------------------------ events
    def _on_node_added(self, caller: Any, event: Any, node: Any = None) -> None:
        if node is None or self._suspended or not node.IsA("vtkMRMLMarkupsROINode"):
            return
        if node.GetAttribute(FINDING_ID) or node.GetAttribute(ROLE):
            return  # ours (being built) or another module's
        self._pending.add(node.GetID())
        self._observe(node)

    _on_node_added.CallDataType = VTK_OBJECT  # the added node comes as call data

    def _on_start(self, roi: Any, event: Any) -> None:
        self._interacting.add(roi.GetID())

    def _on_end(self, roi: Any, event: Any) -> None:
        self._interacting.discard(roi.GetID())
        if not self._suspended:
            self._guarded(roi)

    def _on_modified(self, roi: Any, event: Any) -> None:
        if self._suspended or roi.GetID() in self._interacting or self._placing():
            return
        self._guarded(roi)

    def _guarded(self, roi: Any) -> None:
        """``commit`` from an MRML event: an unexpected error becomes a message, never a VTK traceback."""
        try:
            self.commit(roi)
        except Exception as exc:  # noqa: BLE001 - observers must not raise into MRML's event loop
            log.exception("recording the ROI change failed")
            self.on_error(f"The change of {roi.GetName()} was not recorded ({type(exc).__name__}: {exc})")

    def _on_end_placement(self, caller: Any, event: Any) -> None:
        for node_id in list(self._pending):
            roi = self.scene.GetNodeByID(node_id)
            if roi is not None:
                self._guarded(roi)

    def _placing(self) -> bool:
        import slicer

        interaction = self.scene.GetNodeByID("vtkMRMLInteractionNodeSingleton")
        return (
            interaction is not None and interaction.GetCurrentInteractionMode() == slicer.vtkMRMLInteractionNode.Place
        )

    # ------------------------------------------------------------------ committing
    def box_of(self, roi: Any, view: str) -> list[float]:
        """The ROI as ``[x0, y0, x1, y1]`` in ORIGINAL pixels of ``view``, clipped to the image."""
        bounds = [0.0] * 6
        roi.GetRASBounds(bounds)
        geometry = self.nodes.geometry(view)
        return clamp_box(
            ras_bounds_to_box(bounds, ras_to_ijk_of(self.nodes.volumes[view])), geometry.rows, geometry.cols
        )

    def view_at(self, roi: Any) -> str | None:
        """The view whose image the ROI's centre lies on (None: off every image)."""
        if roi.GetNumberOfControlPoints() == 0:
            return None
        centre = roi.GetCenterWorld() if hasattr(roi, "GetCenterWorld") else roi.GetCenter()
        for view in self.nodes.volumes:
            if self.nodes.geometry(view).contains_ras(centre):
                return view
        return None

    def commit(self, roi: Any) -> str | None:
        """Record the ROI's current geometry (edit or addition); returns the finding id, or None."""
        from mommi.feedback.store import ReviewStoreError
        from mommi.review.session import ReviewError

        finding_id = roi.GetAttribute(FINDING_ID)
        try:
            if finding_id:
                return self._commit_edit(roi, finding_id)
            return self._commit_addition(roi)
        except (ReviewError, ReviewStoreError) as exc:
            self.on_error(f"Not recorded: {exc}")
            if finding_id:
                self.refresh()  # put the ROI back where the review state has it
            return None

    def _commit_edit(self, roi: Any, finding_id: str) -> str | None:
        finding = self.session.state.findings.get(finding_id)
        if finding is None:
            return None
        box = self.box_of(roi, finding.view)
        if same_box(box, finding.box_px):
            return None
        if box[2] - box[0] < MIN_BOX_PX or box[3] - box[1] < MIN_BOX_PX:
            self.on_error(
                f"{finding_id}: a box of {box[2] - box[0]:.1f} x {box[3] - box[1]:.1f} px is too small; not recorded"
            )
            self.refresh()
            return None
        self.session.select(finding_id)
        self.session.edit_geometry(box, finding_id=finding_id)
        self.refresh()
        self.on_change(finding_id)
        return finding_id

    def _commit_addition(self, roi: Any) -> str | None:
        if roi.GetNumberOfControlPoints() == 0:
            return None
        view = self.view_at(roi)
        if view is None:
            return None  # still being placed, or not on a mammogram: leave it to the reader
        box = self.box_of(roi, view)
        if box[2] - box[0] < MIN_BOX_PX or box[3] - box[1] < MIN_BOX_PX:
            return None  # a placement in progress (only the centre so far)
        finding = self.session.add_mass(view, box)
        self._pending.discard(roi.GetID())
        with self.suspended():
            tag_roi(roi, finding.id, view, self.nodes.study_uid)
            if roi.GetDisplayNode() is None:
                roi.CreateDefaultDisplayNodes()
            self.nodes.rois[finding.id] = roi
        self.refresh()
        self.on_change(finding.id)
        return finding.id

    def refresh(self) -> None:
        """Show the review state: ROIs (geometry, names, colours) and the table; observe new ROIs."""
        with self.suspended():
            update_findings(self.scene, self.nodes, self.session.findings)
        for roi in self.nodes.rois.values():
            self._observe(roi)
        for node_id in [i for i in self._observed if self.scene.GetNodeByID(i) is None]:
            del self._observed[node_id]

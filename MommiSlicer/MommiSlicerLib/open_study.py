"""The study under review in one MRML scene: its nodes, review session, ROI sync and store, opened and
closed as one.

Why one object: after File > Close Scene (or loading another scene) a module that kept its ROI
observer, its review session and references to the removed nodes would record the next ROI the
reader places against the study that is gone. ``OpenStudy`` watches the scene (StartCloseEvent):
when the scene starts closing, the ROI sync lets go of the nodes while they still exist, the session
and its store are closed, and nothing of the old study is left to receive an event.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from slicer.util import VTKObservationMixin


class OpenStudy(VTKObservationMixin):
    def __init__(self, scene: Any) -> None:
        VTKObservationMixin.__init__(self)
        self.scene = scene
        self.nodes = None  # MommiSlicerLib.scene_builder.StudyNodes
        self.session = None  # mommi.review.session.ReviewSession
        self.sync = None  # MommiSlicerLib.roi_sync.RoiSync
        self.store = None  # mommi.feedback.store.ReviewStore
        self.outcome = None  # MommiSlicerLib.analysis_job.JobOutcome
        self.on_scene_closed: Callable[[], None] | None = None

    @property
    def is_open(self) -> bool:
        return self.session is not None

    def watch_scene(self) -> OpenStudy:
        """Close with the scene; ``on_scene_closed`` runs once the scene is empty (refresh the UI there)."""
        import slicer

        self.addObserver(self.scene, slicer.vtkMRMLScene.StartCloseEvent, self._on_start_close)
        self.addObserver(self.scene, slicer.vtkMRMLScene.EndCloseEvent, self._on_end_close)
        return self

    def unwatch_scene(self) -> None:
        self.removeObservers()

    def open(
        self,
        outcome: Any,
        reader: str,
        store_path: str | Path | None = None,
        on_change: Callable[[str | None], None] | None = None,
        on_error: Callable[[str], None] | None = None,
    ) -> OpenStudy:
        """Build the study's nodes and open its review (main thread only); any open study is closed first."""
        from mommi.feedback.store import default_store_location, open_store
        from mommi.review.session import ReviewSession

        from MommiSlicerLib.roi_sync import RoiSync
        from MommiSlicerLib.scene_builder import build_study_scene

        self.close()
        store = open_store(default_store_location(str(store_path) if store_path else None))
        try:
            session = ReviewSession(store, outcome.folder, reader=reader)
            nodes = build_study_scene(
                self.scene, outcome.study, outcome.result, session.findings, result_folder=str(outcome.folder)
            )
        except BaseException:
            store.close()
            raise
        self.store, self.session, self.nodes, self.outcome = store, session, nodes, outcome
        self.sync = RoiSync(self.scene, nodes, session, on_change=on_change, on_error=on_error).attach()
        return self

    def close(self, remove_nodes: bool = True) -> None:
        """Let go of the study: observers off, store closed, node references dropped (and the nodes removed
        from the scene unless the scene is removing them itself)."""
        from MommiSlicerLib.scene_builder import remove_study_nodes

        if self.sync is not None:
            self.sync.detach()
        if remove_nodes and self.nodes is not None:
            remove_study_nodes(self.scene, self.nodes)
        if self.store is not None:
            self.store.close()
        self.nodes = self.session = self.sync = self.store = self.outcome = None

    def _on_start_close(self, caller: Any, event: Any) -> None:
        self.close(remove_nodes=False)  # the scene removes every node itself

    def _on_end_close(self, caller: Any, event: Any) -> None:
        if self.on_scene_closed is not None:
            self.on_scene_closed()

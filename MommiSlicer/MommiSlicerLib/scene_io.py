"""A complete MRML application context outside Slicer, and saving/loading a scene as .mrb.

Inside Slicer the application creates the scene and every module logic. Outside it (the
``slicer-core`` wheel in our tests, or a headless tool) a bare ``vtkMRMLScene`` has no
storage support for volumes, markups, tables and colours, so .mrb save and load would
silently drop data. ``standalone_context`` wires up what Slicer's application does, as
trame-slicer does: the application logic, the module logics (Colors, Volumes, Markups,
Segmentations, SubjectHierarchy, Tables), remote I/O and the data I/O manager.
"""

from __future__ import annotations

import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class MrmlContext:
    """A scene and the logics that keep it working; keep the object alive as long as the scene."""

    scene: Any
    app_logic: Any
    logics: dict[str, Any] = field(default_factory=dict)
    cache_dir: tempfile.TemporaryDirectory | None = None

    def close(self) -> None:
        self.scene.Clear(1)
        if self.cache_dir is not None:
            self.cache_dir.cleanup()


def standalone_context() -> MrmlContext:
    """A new scene with Slicer's application and module logics (slicer-core, no GUI)."""
    import slicer
    from vtkmodules.vtkCommonCore import vtkCollection

    scene = slicer.vtkMRMLScene()
    app_logic = slicer.vtkSlicerApplicationLogic()
    app_logic.SetMRMLScene(scene)
    app_logic.GetColorLogic().SetMRMLScene(scene)
    app_logic.GetColorLogic().AddDefaultColorNodes()
    app_logic.SetSliceLogics(vtkCollection())
    app_logic.SetViewLogics(vtkCollection())
    logics: dict[str, Any] = {}
    for name, cls in (
        ("Colors", slicer.vtkMRMLColorLogic),
        ("Volumes", slicer.vtkSlicerVolumesLogic),
        ("Markups", slicer.vtkSlicerMarkupsLogic),
        ("Segmentations", slicer.vtkSlicerSegmentationsModuleLogic),
        ("SubjectHierarchy", slicer.vtkSlicerSubjectHierarchyModuleLogic),
        ("Tables", slicer.vtkSlicerTablesLogic),
    ):
        logic = cls()
        logic.SetMRMLApplicationLogic(app_logic)
        logic.SetMRMLScene(scene)
        app_logic.SetModuleLogic(name, logic)
        logics[name] = logic
    cache = tempfile.TemporaryDirectory(prefix="mommi-mrml-cache-")
    remote_io = slicer.vtkMRMLRemoteIOLogic()
    remote_io.SetMRMLScene(scene)
    remote_io.SetMRMLApplicationLogic(app_logic)
    remote_io.GetCacheManager().SetRemoteCacheDirectory(cache.name)
    data_io = slicer.vtkDataIOManagerLogic()
    data_io.SetMRMLScene(scene)
    data_io.SetMRMLApplicationLogic(app_logic)
    data_io.SetAndObserveDataIOManager(remote_io.GetDataIOManager())
    remote_io.AddDataIOToScene()
    logics["RemoteIO"], logics["DataIO"] = remote_io, data_io
    return MrmlContext(scene, app_logic, logics, cache)


def save_mrb(scene: Any, path: Path | str) -> Path:
    """Write the whole scene (every storable node's data included) to one .mrb file."""
    path = Path(path).resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    scene.SetRootDirectory(str(path.parent))
    if not scene.WriteToMRB(str(path)):
        raise OSError(f"{path}: the scene could not be written as .mrb")
    return path


def load_mrb(scene: Any, path: Path | str) -> None:
    """Replace the scene's content with an .mrb file's.

    Inside Slicer use ``slicer.util.loadScene`` (it goes through the application's readers);
    this is the same operation for a standalone context: unpack and import the .mrml.
    """
    path = Path(path)
    if hasattr(scene, "ReadFromMRB"):
        scene.Clear(0)
        if not scene.ReadFromMRB(str(path)):
            raise OSError(f"{path}: the scene could not be read")
        return
    with tempfile.TemporaryDirectory(prefix="mommi-mrb-") as folder:  # pragma: no cover - older MRML
        with zipfile.ZipFile(path) as archive:
            archive.extractall(folder)
        mrml = next(Path(folder).rglob("*.mrml"), None)
        if mrml is None:
            raise OSError(f"{path}: no .mrml scene inside")
        scene.Clear(0)
        scene.SetURL(str(mrml))
        if not scene.Import():
            raise OSError(f"{path}: the scene could not be imported")

"""The module's state as a parameter node in the scene (vtkMRMLScriptedModuleNode), as Slicer modules keep
it: saved with the scene, restored with it, and the one place the GUI reads from and writes to.

Typed fields over the node's string parameters; a value that does not parse (an edited scene file)
falls back to the field's default instead of breaking the module. Kept apart from the widget so that
it is tested on the slicer-core wheel's real MRML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

#: the singleton tag (and name) of the module's parameter node
NODE_TAG = "MommiSlicer"
DEVICES = ("auto", "cpu", "cuda")
SOURCES = ("folder", "dicom")


@dataclass(frozen=True)
class Field:
    name: str
    default: Any
    allowed: tuple = ()


FIELDS = {
    f.name: f
    for f in (
        Field("source", "folder", SOURCES),
        Field("study_folder", ""),
        Field("device", "auto", DEVICES),
        Field("reader", ""),
        Field("zoo", ""),  # a model zoo folder or manifest; empty: MOMMI_MODEL_ZOO, else the checkout's model_zoo/
        Field("overlay_opacity", 0.5),
    )
}


class ModuleParameters:
    """Typed access to the module's parameter node (``get``/``set`` by field name)."""

    def __init__(self, node: Any) -> None:
        self.node = node

    @classmethod
    def of(cls, scene: Any) -> ModuleParameters:
        """The scene's MommiSlicer parameter node, created (as a singleton) if the scene has none."""
        node = scene.GetSingletonNode(NODE_TAG, "vtkMRMLScriptedModuleNode")
        if node is None:
            node = scene.CreateNodeByClass("vtkMRMLScriptedModuleNode")
            node.UnRegister(None)  # CreateNodeByClass hands over a reference Python also holds
            node.SetSingletonTag(NODE_TAG)
            node.SetName(NODE_TAG)
            node.SetModuleName(NODE_TAG)
            node = scene.AddNode(node)
        return cls(node)

    def get(self, name: str) -> Any:
        field = FIELDS[name]
        text = self.node.GetParameter(name)
        if not text:
            return field.default
        if isinstance(field.default, float):
            try:
                value = float(text)
            except ValueError:
                return field.default
            return value if 0.0 <= value <= 1.0 else field.default
        if field.allowed and text not in field.allowed:
            return field.default
        return text

    def set(self, name: str, value: Any) -> None:
        field = FIELDS[name]
        if field.allowed and value not in field.allowed:
            raise ValueError(f"{name} must be one of {field.allowed}, not {value!r}")
        self.node.SetParameter(name, str(value))

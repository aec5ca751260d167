"""The Slicer module's calls into Slicer, checked statically, since no Slicer application runs here (#22).

Every ``slicer.*`` name the module (MommiSlicer.py and MommiSlicerLib) uses must exist:
- ``slicer.util.*`` in Slicer's own util.py as the slicer-core wheel ships it, with the keywords the module
  passes accepted by the real signature;
- ``slicer.vtkMRML*`` / ``slicer.vtkSlicer*`` classes and their events and methods in the wheel's MRML;
- ``slicer.mrmlScene.*`` as vtkMRMLScene methods;
- every other ``slicer.*`` name (the application: ``slicer.app``, ``slicer.modules``, ``slicer.dicomDatabase``,
  Qt widgets, ``slicer.packaging``) in ``slicer_api.json``, recorded from Slicer's source with where it is;
- every VTK-style method called (``GetNodeByID``, ``SetCenter``, ...) on some MRML or VTK class.
A misspelled or absent API then fails CI here although Slicer itself cannot run here.
"""

from __future__ import annotations

import ast
import inspect
import json
from pathlib import Path

import pytest

slicer = pytest.importorskip("slicer", reason="slicer-core (3D Slicer's MRML as a wheel) is not installed")
if not hasattr(slicer, "vtkMRMLScene"):
    pytest.skip("the 'slicer' module found is not slicer-core", allow_module_level=True)
import slicer.util  # noqa: E402

MODULE_DIR = Path(__file__).resolve().parents[1] / "MommiSlicer"
SOURCES = [MODULE_DIR / "MommiSlicer.py", *sorted((MODULE_DIR / "MommiSlicerLib").glob("*.py"))]
RECORDED = json.loads((Path(__file__).with_name("slicer_api.json")).read_text(encoding="utf-8"))
#: receivers whose capitalised calls are Qt, CTK or standard-library constructors, not MRML methods
NOT_VTK = {"qt", "ctk", "tempfile", "threading", "zipfile", "contextlib"}


def _chain(node: ast.AST) -> list[str] | None:
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return [node.id, *reversed(parts)]


def _uses() -> tuple[set[str], list[tuple[str, ast.Call]], set[tuple[str, str, str]]]:
    """(slicer.* chains, calls of slicer.util functions, capitalised method calls (file, receiver root, name))."""
    chains, util_calls, methods = set(), [], set()
    for path in SOURCES:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute):
                chain = _chain(node)
                if chain and chain[0] == "slicer":
                    chains.add(".".join(chain))
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
                chain = _chain(node.func)
                if chain and chain[:2] == ["slicer", "util"] and len(chain) == 3:
                    util_calls.append((chain[2], node))
                if node.func.attr[:1].isupper():
                    root = chain[0] if chain else ""
                    if root not in NOT_VTK:
                        methods.add((path.name, root, node.func.attr))
    return chains, util_calls, methods


CHAINS, UTIL_CALLS, METHODS = _uses()


def _vtk_universe() -> set[str]:
    import vtkmodules.all as vtk_all

    names: set[str] = set()
    for module in (slicer, vtk_all):
        for name in dir(module):
            cls = getattr(module, name, None)
            if isinstance(cls, type) and name.startswith("vtk"):
                names |= set(dir(cls))
    return names


def test_the_scan_sees_the_module() -> None:
    assert len(SOURCES) > 10 and "slicer.util.errorDisplay" in CHAINS and "slicer.app.layoutManager" in CHAINS
    assert ("MommiSlicer.py", "slicer", "AddNewNodeByClass") in METHODS


@pytest.mark.parametrize("chain", sorted(c for c in CHAINS if c.startswith("slicer.util.")))
def test_slicer_util_names_exist(chain: str) -> None:
    assert hasattr(slicer.util, chain.split(".")[2]), f"{chain} is not in Slicer's util.py"


def test_slicer_util_calls_bind_to_the_real_signatures() -> None:
    for name, call in UTIL_CALLS:
        function = getattr(slicer.util, name)
        if inspect.isclass(function):
            continue
        recorded = RECORDED["signatures"].get(f"slicer.util.{name}")
        signature = inspect.signature(function)
        args = [None] * len(call.args)
        keywords = {k.arg: None for k in call.keywords if k.arg}
        signature.bind(*args, **keywords)  # raises TypeError on a keyword or an argument count it does not take
        if recorded is not None:  # the oldest supported Slicer's signature, when it differs from the wheel's
            namespace: dict = {}
            exec(f"def probe({recorded}): pass", namespace)
            inspect.signature(namespace["probe"]).bind(*args, **keywords)


@pytest.mark.parametrize("chain", sorted(c for c in CHAINS if c.split(".")[1].startswith("vtk")))
def test_mrml_classes_and_their_members_exist(chain: str) -> None:
    parts = chain.split(".")
    cls = getattr(slicer, parts[1], None)
    assert cls is not None, f"{parts[1]} is not an MRML class of Slicer"
    for attribute in parts[2:3]:
        assert hasattr(cls, attribute), f"{parts[1]} has no {attribute}"


@pytest.mark.parametrize("chain", sorted(c for c in CHAINS if c.startswith("slicer.mrmlScene.")))
def test_scene_methods_exist(chain: str) -> None:
    assert hasattr(slicer.vtkMRMLScene, chain.split(".")[2]), chain


def test_every_application_api_is_recorded_from_slicers_source() -> None:
    checked_here = ("slicer.util", "slicer.mrmlScene", "slicer.vtk")
    application = {c for c in CHAINS if not c.startswith(checked_here) and c not in ("slicer.app", "slicer.modules")}
    recorded = set(RECORDED["app_api"])
    unknown = sorted(c for c in application if c not in recorded)
    assert not unknown, f"not in slicer_api.json (look each up in Slicer's source and record where): {unknown}"
    assert not [c for c in CHAINS if c.startswith("slicer.pydeps")]


def test_every_vtk_style_method_exists_on_an_mrml_or_vtk_class() -> None:
    universe = _vtk_universe()
    missing = sorted(m for m in METHODS if m[2] not in universe)
    assert not missing, f"no MRML or VTK class has these methods: {missing}"

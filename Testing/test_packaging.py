"""Packaging, the Slicer extension files and the engine's layering rules."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

from packaging.requirements import Requirement

if sys.version_info >= (3, 11):
    import tomllib
else:  # Python 3.10
    import tomli as tomllib

ROOT = Path(__file__).resolve().parents[1]
MODULE_DIR = ROOT / "MommiSlicer"


def _project() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]


def _requirements(names: list[str]) -> dict[str, Requirement]:
    reqs = [Requirement(r) for r in names]
    return {r.name.lower(): r for r in reqs}


def test_distribution_name_python_and_script() -> None:
    project = _project()
    assert project["name"] == "mommislicer"
    assert project["requires-python"] == ">=3.10"
    assert project["scripts"]["mommi"] == "mommi.cli.main:main"


def test_base_install_decodes_every_compressed_syntax_and_has_no_runtime() -> None:
    base = _requirements(_project()["dependencies"])
    for name in ("pydicom", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg", "pylibjpeg-rle"):
        assert name in base, name
    assert "onnxruntime" not in base and "onnxruntime-gpu" not in base
    assert "torch" not in base


def test_extras() -> None:
    extras = _project()["optional-dependencies"]
    assert list(_requirements(extras["cpu"])) == ["onnxruntime"]
    assert list(_requirements(extras["gpu"])) == ["onnxruntime-gpu"]
    train = _requirements(extras["train"])
    # ranges a user's own CUDA set-up can satisfy, including what installs here
    assert train["torch"].specifier.contains("2.14.1") and train["torch"].specifier.contains("2.4.0")
    assert train["torchvision"].specifier.contains("0.29.1")
    assert {"timm", "onnx", "onnxscript"} <= set(train)
    assert "pyqt5" in _requirements(extras["reader"])
    assert {"pytest", "pytest-qt", "hypothesis"} <= set(_requirements(extras["test"]))


def test_top_level_cmake_follows_slicer_extension_conventions() -> None:
    text = (ROOT / "CMakeLists.txt").read_text()
    for field in ("HOMEPAGE", "CATEGORY", "CONTRIBUTORS", "DESCRIPTION", "ICONURL", "SCREENSHOTURLS", "DEPENDS"):
        assert re.search(rf"set\(EXTENSION_{field} ", text), field
    assert "find_package(Slicer REQUIRED)" in text and "include(${Slicer_USE_FILE})" in text
    assert "add_subdirectory(MommiSlicer)" in text
    assert text.index("include(${Slicer_EXTENSION_GENERATE_CONFIG})") < text.index("include(${Slicer_EXTENSION_CPACK})")


def _cmake_list(name: str) -> set[str]:
    text = (MODULE_DIR / "CMakeLists.txt").read_text()
    block = re.search(rf"set\({name}\n(.*?)\n\s*\)", text, re.S)
    assert block, name
    return {
        line.strip().replace("${MODULE_NAME}", "MommiSlicer") for line in block.group(1).splitlines() if line.strip()
    }


#: engine packages Slicer does not need: the command line and training-only code
NOT_IN_SLICER = ("cli", "data", "eval", "pacs", "train")


def test_module_cmake_lists_exactly_the_files_on_disk() -> None:
    on_disk = (
        {"MommiSlicer.py"}
        | {
            str(p.relative_to(MODULE_DIR))
            for p in (MODULE_DIR / "mommi").rglob("*.py")
            if p.relative_to(MODULE_DIR / "mommi").parts[0] not in NOT_IN_SLICER
        }
        | {str(p.relative_to(MODULE_DIR)) for p in (MODULE_DIR / "MommiSlicerLib").rglob("*.py")}
    )
    assert _cmake_list("MODULE_PYTHON_SCRIPTS") == on_disk
    resources = {
        str(p.relative_to(MODULE_DIR))
        for pattern in ("*.onnx", "*.csv", "*.schema.json")
        for p in (MODULE_DIR / "mommi").rglob(pattern)
    }
    assert _cmake_list("MODULE_PYTHON_RESOURCES") == resources
    assert "slicerMacroBuildScriptedModule(" in (MODULE_DIR / "CMakeLists.txt").read_text()


def test_slicer_module_declares_its_four_classes() -> None:
    tree = ast.parse((MODULE_DIR / "MommiSlicer.py").read_text())
    classes = {node.name for node in tree.body if isinstance(node, ast.ClassDef)}
    assert {"MommiSlicer", "MommiSlicerWidget", "MommiSlicerLogic", "MommiSlicerTest"} <= classes
    assert (ROOT / "Resources" / "Icons" / "MommiSlicer.png").is_file()
    subprocess.run([sys.executable, "-m", "py_compile", str(MODULE_DIR / "MommiSlicer.py")], check=True)


def test_slicer_library_imports_no_gui_toolkit() -> None:
    """MommiSlicerLib is testable outside Slicer: neither Qt nor Slicer's GUI modules at import."""
    modules = sorted(
        "MommiSlicerLib." + p.stem for p in (MODULE_DIR / "MommiSlicerLib").glob("*.py") if p.stem != "__init__"
    )
    code = (
        f"import sys; sys.path.insert(0, {str(MODULE_DIR)!r})\n"
        "import importlib\n"
        "for m in " + repr(modules) + ":\n"
        "    try: importlib.import_module(m)\n"
        "    except ImportError as exc:\n"
        "        if 'vtk' not in str(exc): raise  # the MRML modules need vtk, nothing more\n"
        "bad = [m for m in ('PyQt5', 'qt', 'ctk', 'torch') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"MommiSlicerLib imported {result.stdout.strip()}"


def test_engine_imports_neither_gui_nor_slicer_nor_torch() -> None:
    modules = sorted(
        ".".join(p.relative_to(MODULE_DIR).with_suffix("").parts).removesuffix(".__init__")
        for p in (MODULE_DIR / "mommi").rglob("*.py")
        if "train" not in p.parts
    )
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "bad = [m for m in ('torch', 'PyQt5', 'qt', 'slicer', 'vtk') if m in sys.modules]\n"
        "print(','.join(bad))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "", f"engine imported {result.stdout.strip()}"

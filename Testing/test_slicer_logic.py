"""MommiSlicerLib against the real MRML of the slicer-core wheel (no Slicer application, no GUI).

A synthetic four-view study is analysed once with the shipped model zoo; the scene built
from that real result is checked node by node: volumes and their IJK -> RAS geometry, the
probability maps with the heat table, one ROI per finding placed exactly over its box, the
findings table; then the review loop (an ROI moved or resized is an edit in ORIGINAL pixels,
a new ROI an added mass, both as events in a ReviewStore) and an .mrb round trip. The
dependency decisions (which ONNX Runtime, restart or not) are plain Python and run even
without slicer-core.
"""

from __future__ import annotations

import ast
import json
import re
import sys
from pathlib import Path

import numpy as np
import pytest

MODULE_DIR = Path(__file__).resolve().parents[1] / "MommiSlicer"
if str(MODULE_DIR) not in sys.path:  # MommiSlicerLib is Slicer-side code, not part of the pip package
    sys.path.insert(0, str(MODULE_DIR))

from MommiSlicerLib import dependencies  # noqa: E402  (pure Python: no MRML needed)
from MommiSlicerLib.appearance import AMBER, GREEN, GREY, RED, heat_rgba, malignancy_colour  # noqa: E402
from MommiSlicerLib.geometry import ViewGeometry, box_to_roi, ras_bounds_to_box  # noqa: E402

RESOURCES = MODULE_DIR.parent / "Resources"
SLICER_API = Path(__file__).resolve().parent / "slicer_api.json"


# ---------------------------------------------------------------------- pure Python (always run)
@pytest.mark.parametrize(
    "platform, machine, want_gpu, runtime",
    [
        ("linux", "x86_64", True, "onnxruntime-gpu"),
        ("win32", "AMD64", True, "onnxruntime-gpu"),
        ("linux", "aarch64", True, "onnxruntime"),
        ("darwin", "arm64", True, "onnxruntime"),
        ("darwin", "x86_64", True, "onnxruntime"),
        ("linux", "x86_64", False, "onnxruntime"),
    ],
)
def test_requirements_choose_one_runtime_where_a_wheel_exists(platform, machine, want_gpu, runtime) -> None:
    reqs = dependencies.requirements_for(platform, machine, want_gpu, RESOURCES)
    names = [dependencies.requirement_name(r) for r in reqs]
    assert names[-1] == runtime and ("onnxruntime" in names) != ("onnxruntime-gpu" in names)
    for name in (
        "numpy",
        "pydicom",
        "pylibjpeg",
        "pylibjpeg-libjpeg",
        "pylibjpeg-openjpeg",
        "pylibjpeg-rle",
        "opencv-python-headless",
        "scipy",
        "highdicom",
        "tqdm",
    ):
        assert name in names, name


def test_requirements_files_match_the_pip_package() -> None:
    """Slicer gets the same version ranges as `pip install mommislicer[cpu]` / `[gpu]`."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10
        import tomli as tomllib
    project = tomllib.loads((MODULE_DIR.parent / "pyproject.toml").read_text())["project"]
    assert dependencies.read_requirements(RESOURCES / "requirements.txt") == [
        r.split("#")[0].strip() for r in project["dependencies"]
    ]
    assert dependencies.read_requirements(RESOURCES / "requirements-cpu.txt") == project["optional-dependencies"]["cpu"]
    assert dependencies.read_requirements(RESOURCES / "requirements-gpu.txt") == project["optional-dependencies"]["gpu"]
    team = dependencies.read_requirements(RESOURCES / "requirements-team.txt")
    assert team == project["optional-dependencies"]["postgres"]


def test_missing_conflict_and_restart_decisions() -> None:
    installed = {"numpy": "1.26.4", "onnxruntime": "1.18.0", "scipy": "1.9.0"}.get
    reqs = ["numpy>=1.24", "scipy>=1.10", "pydicom>=3.0,<4", "onnxruntime-gpu>=1.17"]
    assert dependencies.missing(reqs, installed) == ["scipy>=1.10", "pydicom>=3.0,<4", "onnxruntime-gpu>=1.17"]
    assert dependencies.conflicting_runtime(reqs, installed) == "onnxruntime"
    assert dependencies.conflicting_runtime(["onnxruntime>=1.17"], installed) is None
    # scipy and ONNX Runtime already imported: the new files load only after a restart; pydicom was not
    assert dependencies.restart_needed(
        ["scipy>=1.10", "pydicom>=3.0,<4", "onnxruntime-gpu>=1.17"], loaded={"scipy", "onnxruntime", "numpy"}
    ) == ["scipy>=1.10", "onnxruntime-gpu>=1.17"]
    assert "restart" in dependencies.restart_message(["scipy"]).lower()
    # ready to analyse with either runtime; not without one
    everything = {
        "numpy": "2.0",
        "pydicom": "3.0.1",
        "pylibjpeg": "2.0",
        "pylibjpeg-libjpeg": "2.3",
        "pylibjpeg-openjpeg": "2.4",
        "pylibjpeg-rle": "2.1",
        "opencv-python-headless": "4.10",
        "scipy": "1.14",
        "highdicom": "0.23",
        "pillow": "11.0",
        "tqdm": "4.66",
        "jsonschema": "4.26",
    }
    assert dependencies.not_ready(RESOURCES, {**everything, "onnxruntime-gpu": "1.31.1"}.get) == []
    assert dependencies.not_ready(RESOURCES, everything.get) == ["onnxruntime>=1.17"]
    assert dependencies.not_ready(RESOURCES, {**everything, "pydicom": "2.4"}.get)[0] == "pydicom>=3.0,<4"
    # a team's PostgreSQL review store needs its driver too, and only then
    ready = {**everything, "onnxruntime": "1.20"}
    assert dependencies.not_ready(RESOURCES, ready.get, team_store=True) == ["psycopg[binary]>=3.1"]
    assert dependencies.not_ready(RESOURCES, {**ready, "psycopg": "3.2.1"}.get, team_store=True) == []


def test_the_postgresql_driver_is_asked_for_only_with_a_team_store(tmp_path) -> None:
    names = [
        dependencies.requirement_name(r) for r in dependencies.requirements_for("linux", "x86_64", False, RESOURCES)
    ]
    assert "psycopg" not in names
    team = dependencies.requirements_for("linux", "x86_64", False, RESOURCES, team_store=True)
    assert team[-1] == "psycopg[binary]>=3.1"
    home = {"HOME": str(tmp_path), "XDG_CONFIG_HOME": str(tmp_path / "none")}
    assert dependencies.team_store_configured({**home, "MOMMI_REVIEW_DB": "postgresql://team@db/reviews"})
    assert not dependencies.team_store_configured({**home, "MOMMI_REVIEW_DB": str(tmp_path / "r.sqlite")})
    assert not dependencies.team_store_configured(home)


def _with_signature(name: str, parameters: str, calls: list) -> object:
    """A function with exactly the parameters Slicer's own has (recorded in slicer_api.json from Slicer's
    source), recording how it was called: binding fails, as in Slicer, on a keyword it does not take."""
    namespace: dict = {}
    exec(f"def {name}({parameters}):\n    calls.append(('{name}', dict(locals())))", {"calls": calls}, namespace)
    return namespace[name]


def test_installer_uses_slicer_packaging_pip_ensure_with_its_real_signature() -> None:
    api = json.loads(SLICER_API.read_text())["signatures"]
    calls: list[tuple] = []

    class Util:
        pip_install = staticmethod(_with_signature("pip_install", api["slicer.util.pip_install"], calls))

    class Packaging:
        pip_ensure = staticmethod(_with_signature("pip_ensure", api["slicer.packaging.pip_ensure"], calls))

    class Slicer510:  # no slicer.packaging.pip_ensure before 5.12
        util = Util()

    class Slicer512(Slicer510):
        packaging = Packaging()

    how, install = dependencies.installer(Slicer512())
    install(["numpy>=1.24", "onnxruntime>=1.17"])
    assert how == "slicer.packaging.pip_ensure"
    name, arguments = calls[-1]
    assert name == "pip_ensure" and arguments["requirements"] == ["numpy>=1.24", "onnxruntime>=1.17"]
    # the module asked already and says once whether to restart: neither of pip_ensure's dialogs
    assert arguments["prompt_install"] is False and arguments["prompt_restart"] is False
    assert arguments["requester"] == "MommiSlicer"
    how, install = dependencies.installer(Slicer510())
    install(["numpy>=1.24", "pydicom>=3.0,<4"])
    assert how == "slicer.util.pip_install"
    assert calls[-1] == ("pip_install", {"requirements": "numpy>=1.24 pydicom>=3.0,<4"})


def test_no_slicer_pydeps_anywhere_in_the_module() -> None:
    """slicer.pydeps never shipped in a Slicer release (slicer.packaging did, in 5.12)."""
    sources = [MODULE_DIR / "MommiSlicer.py", *sorted((MODULE_DIR / "MommiSlicerLib").glob("*.py"))]
    assert not [p.name for p in sources if "pydeps" in p.read_text(encoding="utf-8")]


def test_an_old_slicer_is_told_why_on_load() -> None:
    from MommiSlicerLib.compatibility import MIN_SLICER, unsupported_reason

    assert MIN_SLICER == (5, 10)
    reason = unsupported_reason((5, 8), (3, 9))
    assert "5.10 or newer" in reason and "Slicer 5.8" in reason and "Python 3.9" in reason
    assert unsupported_reason((5, 10), (3, 9)) is not None  # a 5.10 build on an old Python cannot install either
    assert unsupported_reason((5, 10), (3, 12)) is None and unsupported_reason((6, 0), (3, 13)) is None
    # what the module imports before it can say so must parse on Slicer 5.8's Python 3.9
    for name in (
        "MommiSlicer.py",
        "MommiSlicerLib/__init__.py",
        "MommiSlicerLib/compatibility.py",
        "MommiSlicerLib/dependencies.py",
        "MommiSlicerLib/layout.py",
        "MommiSlicerLib/paths.py",
        "MommiSlicerLib/analysis_job.py",
    ):
        ast.parse((MODULE_DIR / name).read_text(encoding="utf-8"), feature_version=(3, 9))


def test_the_self_test_is_registered_with_ctest() -> None:
    cmake = (MODULE_DIR / "CMakeLists.txt").read_text(encoding="utf-8")
    assert re.search(
        r"if\(BUILD_TESTING\)\s*(#[^\n]*\n\s*)*slicer_add_python_unittest\(SCRIPT \$\{MODULE_NAME\}\.py\)", cmake
    )
    assert "WITH_GENERIC_TESTS" in cmake


def test_module_loads_without_the_engine_dependencies() -> None:
    """MommiSlicer.py's top-level imports must work in a fresh Slicer (no pydicom yet) to offer the install."""
    import subprocess

    code = (
        f"import sys; sys.path.insert(0, {str(MODULE_DIR)!r})\n"
        "sys.modules.update({m: None for m in ('pydicom', 'cv2', 'scipy', 'onnxruntime', 'highdicom')})\n"
        "from MommiSlicerLib import dependencies, layout, paths\n"
        "print(dependencies.not_ready() is not None, layout.layout_xml().count('vtkMRMLSliceNode'))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "4"]


def test_layout_order_is_the_engines_hanging_order() -> None:
    from MommiSlicerLib import layout
    from mommi.study.model import HANGING_ORDER

    assert layout.HANGING_ORDER == tuple(v.value for v in HANGING_ORDER)


def test_colours_follow_the_malignancy_bands() -> None:
    assert [malignancy_colour(m) for m in (None, 0.0, 0.29, 0.3, 0.69, 0.7, 1.0)] == [
        GREY,
        GREEN,
        GREEN,
        AMBER,
        AMBER,
        RED,
        RED,
    ]
    assert heat_rgba(0)[3] == 0.0 and heat_rgba(255) == (1.0, 1.0, 1.0, 1.0)


@pytest.mark.parametrize("view, canonical_h", [("R-CC", False), ("R-CC", True), ("L-MLO", False), ("L-MLO", True)])
def test_box_round_trips_through_ras_for_every_flip(view, canonical_h) -> None:
    geometry = ViewGeometry.of(view, 300, 200, (0.1, 0.07), canonical_h, False)
    matrix = geometry.ijk_to_ras()
    box = [12.0, 40.5, 80.25, 190.0]
    centre, size = box_to_roi(box, matrix)
    bounds = [v for axis in range(3) for v in (centre[axis] - size[axis] / 2, centre[axis] + size[axis] / 2)]
    assert ras_bounds_to_box(bounds, np.linalg.inv(matrix)) == pytest.approx(box)
    assert size[:2] == pytest.approx([(80.25 - 12.0) * 0.07, (190.0 - 40.5) * 0.1])
    # hanging: the chest wall of an R view is on screen right (RAS -x), of an L view on screen left
    chest_wall_col = 199 if canonical_h else 0  # canonical_h: the file has the chest wall on the right
    chest_x = (matrix @ [chest_wall_col, 0, 0, 1])[0]
    other_x = (matrix @ [199 - chest_wall_col, 0, 0, 1])[0]
    assert (chest_x < other_x) == view.startswith("R")


# ---------------------------------------------------------------------- MRML (slicer-core)
try:
    import slicer  # the slicer-core wheel: 3D Slicer's MRML without the application

    HAVE_MRML = hasattr(slicer, "vtkMRMLScene")
    WHY = "the 'slicer' module found is not slicer-core (is the unrelated PyPI package 'slicer' installed?)"
except ImportError:
    slicer, HAVE_MRML = None, False
    WHY = "slicer-core (3D Slicer's MRML as a wheel) is not installed: pip install slicer-core"

if HAVE_MRML:
    from MommiSlicerLib import layout, scene_io
    from MommiSlicerLib.analysis_job import AnalysisJob
    from MommiSlicerLib.appearance import HEAT_TABLE_NAME
    from MommiSlicerLib.roi_sync import RoiSync
    from MommiSlicerLib.scene_builder import (
        FINDING_ID,
        TABLE_COLUMNS,
        build_study_scene,
        find_study_nodes,
        ijk_to_ras_of,
        table_rows,
    )
    from mommi.feedback.store import open_store
    from mommi.review.session import ReviewSession


@pytest.fixture(scope="module")
def analysed(tmp_path_factory):
    """One synthetic four-view study with masses, analysed by the real pipeline on a worker thread."""
    if not HAVE_MRML:
        pytest.skip(WHY)
    from mommi.data.synth import synthesize

    root = tmp_path_factory.mktemp("slicer-study")
    (folder,) = synthesize(root / "study", 1, seed=7, normal_fraction=0.0)
    job = AnalysisJob(folder, device="cpu", results_root=root / "results").start()
    state = job.wait(timeout=300)
    assert state.status == "done", state.message
    assert job.outcome.result.findings, "the demo study should have findings"
    return job.outcome


@pytest.fixture
def built(analysed, tmp_path):
    context = scene_io.standalone_context()
    store = open_store(tmp_path / "review.sqlite")
    session = ReviewSession(store, analysed.folder, reader="dr-test")
    nodes = build_study_scene(
        context.scene, analysed.study, analysed.result, session.findings, result_folder=str(analysed.folder)
    )
    sync = RoiSync(context.scene, nodes, session).attach()
    yield context, nodes, session, sync, store
    sync.detach()
    store.close()
    context.close()


def _bounds_box(roi, volume) -> list[float]:
    bounds = [0.0] * 6
    roi.GetRASBounds(bounds)
    from MommiSlicerLib.scene_builder import ras_to_ijk_of

    return ras_bounds_to_box(bounds, ras_to_ijk_of(volume))


def test_volumes_have_the_views_pixels_and_spacing(built, analysed) -> None:
    context, nodes, *_ = built
    result, study = analysed.result, analysed.study
    assert set(nodes.volumes) == set(result.views) == {"R-CC", "L-CC", "R-MLO", "L-MLO"}
    images = {v.value: img for v, img in study.images.items()}
    for view, volume in nodes.volumes.items():
        info = result.views[view]
        assert volume.IsA("vtkMRMLScalarVolumeNode") and volume.GetName() == view
        assert volume.GetImageData().GetDimensions() == (info.cols, info.rows, 1)  # a 2-D image: one slice
        assert volume.GetSpacing() == pytest.approx((info.spacing_mm[1], info.spacing_mm[0], 1.0))
        array = slicer.util.arrayFromVolume(volume)
        assert array.shape == (1, info.rows, info.cols)
        np.testing.assert_allclose(array[0], images[view].pixels, atol=1e-6)
        matrix = ijk_to_ras_of(volume)
        assert abs(matrix[0, 0]) == pytest.approx(info.spacing_mm[1]) and abs(matrix[1, 1]) == pytest.approx(
            info.spacing_mm[0]
        )
        display = volume.GetDisplayNode()
        assert display.GetWindow() == pytest.approx(1.0) and display.GetLevel() == pytest.approx(0.5)
    # each view on its own plane, in hanging order
    zs = [ijk_to_ras_of(nodes.volumes[v])[2, 3] for v in ("R-CC", "L-CC", "R-MLO", "L-MLO")]
    assert zs == sorted(zs) and len(set(zs)) == 4


def test_probability_maps_use_the_heat_table(built, analysed) -> None:
    context, nodes, *_ = built
    heat = nodes.heat
    assert heat.IsA("vtkMRMLColorTableNode") and heat.GetName() == HEAT_TABLE_NAME
    assert heat.GetNumberOfColors() == 256
    rgba = [0.0] * 4
    heat.GetColor(0, rgba)
    assert rgba[3] == 0.0  # probability 0 is transparent
    heat.GetColor(255, rgba)
    assert rgba == pytest.approx([1.0, 1.0, 1.0, 1.0])
    for view, prob in nodes.maps.items():
        assert prob.GetDisplayNode().GetColorNodeID() == heat.GetID()
        np.testing.assert_allclose(slicer.util.arrayFromVolume(prob)[0], analysed.result.maps[view], atol=1e-6)
        np.testing.assert_allclose(ijk_to_ras_of(prob), ijk_to_ras_of(nodes.volumes[view]))


def test_each_finding_is_an_roi_over_its_box(built, analysed) -> None:
    context, nodes, session, *_ = built
    findings = analysed.result.findings
    assert set(nodes.rois) == {f.id for f in findings}
    for finding in findings:
        roi = nodes.rois[finding.id]
        assert roi.IsA("vtkMRMLMarkupsROINode")
        volume = nodes.volumes[finding.view]
        matrix = ijk_to_ras_of(volume)
        x0, y0, x1, y1 = finding.box_px
        corner_a, corner_b = (matrix @ [x0, y0, 0, 1])[:3], (matrix @ [x1, y1, 0, 1])[:3]
        assert list(roi.GetCenter())[:2] == pytest.approx(list((corner_a + corner_b)[:2] / 2))
        assert list(roi.GetSize())[:2] == pytest.approx(list(np.abs(corner_b - corner_a)[:2]))
        assert roi.GetCenter()[2] == pytest.approx(matrix[2, 3])
        assert _bounds_box(roi, volume) == pytest.approx(finding.box_px, abs=1e-4)  # float32 bounds
        assert finding.id in roi.GetName() and f"score {finding.score:.2f}" in roi.GetName()
        if finding.malignancy is not None:
            assert f"malignancy {finding.malignancy:.2f}" in roi.GetName()
        if finding.birads:
            assert f"BI-RADS {finding.birads}" in roi.GetName() and finding.birads in roi.GetDescription()
        assert roi.GetDisplayNode().GetSelectedColor() == pytest.approx(malignancy_colour(finding.malignancy))


def test_findings_table_lists_every_finding(built, analysed) -> None:
    context, nodes, session, *_ = built
    table = nodes.table
    assert table.IsA("vtkMRMLTableNode")
    assert [table.GetColumnName(c) for c in range(table.GetNumberOfColumns())] == list(TABLE_COLUMNS)
    rows = table_rows(table)
    assert [r[0] for r in rows] == [f.id for f in session.findings]
    by_id = {f.id: f for f in analysed.result.findings}
    for row in rows:
        finding = by_id[row[0]]
        assert row[1] == finding.view and float(row[2]) == pytest.approx(finding.score, abs=1e-3)
        assert row[5] == "pending"
        assert [float(v) for v in row[6:]] == pytest.approx(finding.box_px, abs=0.01)


def test_layout_is_registered_with_the_layout_node(built) -> None:
    context, *_ = built
    assert layout.register_layout(context.scene) == layout.LAYOUT_ID
    node = context.scene.GetFirstNodeByClass("vtkMRMLLayoutNode")
    assert node.IsLayoutDescription(layout.LAYOUT_ID)
    xml = node.GetLayoutDescription(layout.LAYOUT_ID)
    # R views left of L views, CC row above MLO row
    positions = {view: xml.index(f'singletontag="{name}"') for view, name in layout.VIEW_NAMES.items()}
    assert positions["R-CC"] < positions["L-CC"] < positions["R-MLO"] < positions["L-MLO"]
    assert xml.startswith('<layout type="vertical">') and xml.count('<layout type="horizontal">') == 2
    assert layout.register_layout(context.scene) == layout.LAYOUT_ID  # registering twice is harmless


def test_moving_an_roi_records_an_edit_in_original_pixels(built) -> None:
    context, nodes, session, sync, store = built
    finding = session.findings[0]
    roi, volume = nodes.rois[finding.id], nodes.volumes[finding.view]
    matrix = ijk_to_ras_of(volume)
    x0, y0, x1, y1 = finding.box_px
    shift = np.array([10.0, -6.0])  # pixels: 10 columns right, 6 rows up
    centre = np.array(roi.GetCenter())
    centre[:2] += matrix[:2, :2] @ shift
    roi.SetCenter(*centre)  # as the end of a drag leaves it
    expected = [x0 + 10, y0 - 6, x1 + 10, y1 - 6]
    events = [e for e in store.events(session.study_uid) if e.action == "edit_geometry"]
    assert len(events) == 1 and events[0].finding_id == finding.id and events[0].reader == "dr-test"
    assert events[0].after["box_px"] == pytest.approx(expected, abs=0.01)
    assert events[0].before["box_px"] == pytest.approx([x0, y0, x1, y1], abs=0.01)
    state = session.state.findings[finding.id]
    assert state.edited and state.box_px == pytest.approx(expected, abs=0.01)
    row = next(r for r in table_rows(nodes.table) if r[0] == finding.id)
    assert "edited" in row[5] and float(row[6]) == pytest.approx(x0 + 10, abs=0.01)
    # resizing is an edit too; renaming is not (halved: a box grown past the image's edge would be clipped)
    roi.SetSize(roi.GetSize()[0] * 0.5, roi.GetSize()[1], roi.GetSize()[2])
    roi.SetName("renamed")
    edits = [e for e in store.events(session.study_uid) if e.action == "edit_geometry"]
    assert len(edits) == 2
    new = edits[-1].after["box_px"]
    assert new[2] - new[0] == pytest.approx(0.5 * (x1 - x0), abs=0.02)
    # a drag writes one event at its end, not one per mouse move
    roi.InvokeEvent(slicer.vtkMRMLMarkupsNode.PointStartInteractionEvent)
    for step in range(5):
        centre = np.array(roi.GetCenter())
        centre[:2] += matrix[:2, :2] @ np.array([1.0, 0.0])
        roi.SetCenter(*centre)
    assert len([e for e in store.events(session.study_uid) if e.action == "edit_geometry"]) == 2
    roi.InvokeEvent(slicer.vtkMRMLMarkupsNode.PointEndInteractionEvent)
    assert len([e for e in store.events(session.study_uid) if e.action == "edit_geometry"]) == 3
    # undo puts the ROI back where the review state says
    session.undo()
    sync.refresh()
    assert _bounds_box(roi, volume) == pytest.approx(new, abs=0.01)


def test_adding_an_roi_adds_a_mass(built) -> None:
    context, nodes, session, sync, store = built
    volume = nodes.volumes["L-MLO"]
    matrix = ijk_to_ras_of(volume)
    box = [20.0, 30.0, 60.0, 75.0]
    centre, size = box_to_roi(box, matrix)
    before = len(session.findings)
    roi = context.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "R")
    roi.CreateDefaultDisplayNodes()
    roi.SetCenter(*centre)  # centre first: the ROI's control point appears, placed, with the size
    roi.SetSize(*size)
    added = [e for e in store.events(session.study_uid) if e.action == "add_finding"]
    assert len(added) == 1
    finding_id = added[0].finding_id
    assert finding_id.startswith("L-MLO-R") and added[0].after["view"] == "L-MLO"
    assert added[0].after["box_px"] == pytest.approx(box, abs=0.01)
    assert len(session.findings) == before + 1
    assert roi.GetAttribute(FINDING_ID) == finding_id and nodes.rois[finding_id] is roi
    assert roi.GetName().startswith(finding_id)
    assert roi.GetDisplayNode().GetSelectedColor() == pytest.approx(GREY)
    assert table_rows(nodes.table)[-1][0] == finding_id
    # moving the new ROI edits the added finding, it does not add another
    roi.SetCenter(centre[0], centre[1] - 1.0, centre[2])
    assert len([e for e in store.events(session.study_uid) if e.action == "add_finding"]) == 1
    assert [e.finding_id for e in store.events(session.study_uid) if e.action == "edit_geometry"] == [finding_id]
    # an ROI off every image is left alone
    stray = context.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "stray")
    stray.SetCenter(5000, 5000, 0)
    stray.SetSize(5, 5, 1)
    assert len([e for e in store.events(session.study_uid) if e.action == "add_finding"]) == 1
    assert stray.GetAttribute(FINDING_ID) is None


def test_scene_survives_an_mrb_round_trip(built, analysed, tmp_path) -> None:
    context, nodes, session, sync, store = built
    session.accept()  # a decision shown in the table and kept in the scene
    sync.refresh()
    before = {
        "volumes": {
            v: (n.GetSpacing(), ijk_to_ras_of(n), slicer.util.arrayFromVolume(n).copy())
            for v, n in nodes.volumes.items()
        },
        "maps": {v: slicer.util.arrayFromVolume(n).copy() for v, n in nodes.maps.items()},
        "rois": {
            i: (r.GetCenter(), r.GetSize(), r.GetName(), r.GetDisplayNode().GetSelectedColor())
            for i, r in nodes.rois.items()
        },
        "rows": table_rows(nodes.table),
    }
    path = scene_io.save_mrb(context.scene, tmp_path / "study.mrb")
    sync.detach()

    other = scene_io.standalone_context()
    try:
        scene_io.load_mrb(other.scene, path)
        again = find_study_nodes(other.scene)
        assert again is not None and again.study_uid == session.study_uid
        assert again.result_folder == str(analysed.folder)
        assert set(again.volumes) == set(before["volumes"]) and set(again.maps) == set(before["maps"])
        for view, (spacing, matrix, array) in before["volumes"].items():
            volume = again.volumes[view]
            assert volume.GetSpacing() == pytest.approx(spacing)
            np.testing.assert_allclose(ijk_to_ras_of(volume), matrix)
            np.testing.assert_array_equal(slicer.util.arrayFromVolume(volume), array)
        for view, array in before["maps"].items():
            np.testing.assert_array_equal(slicer.util.arrayFromVolume(again.maps[view]), array)
            assert again.maps[view].GetDisplayNode().GetColorNode().GetName() == HEAT_TABLE_NAME
        assert set(again.rois) == set(before["rois"])
        for finding_id, (centre, size, name, colour) in before["rois"].items():
            roi = again.rois[finding_id]
            assert roi.GetCenter() == pytest.approx(centre) and roi.GetSize() == pytest.approx(size)
            assert roi.GetName() == name and roi.GetDisplayNode().GetSelectedColor() == pytest.approx(colour)
        assert table_rows(again.table) == before["rows"]
        assert "accepted" in before["rows"][0][5]
        # the review goes on in the reloaded scene: an edit there reaches the same store
        resumed = RoiSync(other.scene, again, session).attach()
        finding = session.findings[0]
        roi = again.rois[finding.id]
        roi.SetCenter(roi.GetCenter()[0], roi.GetCenter()[1], roi.GetCenter()[2])  # no change: nothing written
        assert not [e for e in store.events(session.study_uid) if e.action == "edit_geometry"]
        matrix = ijk_to_ras_of(again.volumes[finding.view])
        centre = np.array(roi.GetCenter())
        centre[:2] += matrix[:2, :2] @ np.array([3.0, 4.0])
        roi.SetCenter(*centre)
        (edit,) = [e for e in store.events(session.study_uid) if e.action == "edit_geometry"]
        x0, y0, x1, y1 = finding.box_px
        assert edit.after["box_px"] == pytest.approx([x0 + 3, y0 + 4, x1 + 3, y1 + 4], abs=0.01)
        resumed.detach()
    finally:
        other.close()


def test_closing_the_scene_closes_the_study_and_the_next_roi_goes_to_the_new_study(analysed, tmp_path) -> None:
    """File > Close Scene, then another study: an ROI placed next is recorded against the new study only."""
    from MommiSlicerLib.open_study import OpenStudy
    from mommi.data.synth import synthesize

    context = scene_io.standalone_context()
    closed = []
    study = OpenStudy(context.scene).watch_scene()
    study.on_scene_closed = lambda: closed.append(True)
    try:
        study.open(analysed, "dr-a", tmp_path / "review.sqlite")
        first_uid, first_sync = study.session.study_uid, study.sync
        context.scene.Clear(0)
        assert closed == [True] and not study.is_open
        assert study.nodes is None and study.sync is None and study.store is None
        assert not first_sync._scene_tags and not first_sync._observed  # the old ROI sync observes nothing
        (folder,) = synthesize(tmp_path / "second", 1, seed=11, normal_fraction=0.0)
        job = AnalysisJob(folder, device="cpu", results_root=tmp_path / "results").start()
        state = job.wait(timeout=300)
        assert state.status == "done", state.message
        study.open(job.outcome, "dr-a", tmp_path / "review.sqlite")
        second_uid = study.session.study_uid
        assert second_uid != first_uid
        volume = study.nodes.volumes["L-MLO"]
        centre, size = box_to_roi([20.0, 30.0, 60.0, 75.0], ijk_to_ras_of(volume))
        roi = context.scene.AddNewNodeByClass("vtkMRMLMarkupsROINode", "R")
        roi.CreateDefaultDisplayNodes()
        roi.SetCenter(*centre)
        roi.SetSize(*size)
        store = study.store
        assert [e.action for e in store.events(second_uid) if e.action == "add_finding"] == ["add_finding"]
        assert not [e for e in store.events(first_uid) if e.action == "add_finding"]
    finally:
        study.close()
        study.unwatch_scene()
        context.close()


def test_the_parameter_node_is_a_scene_singleton_with_typed_fields() -> None:
    if not HAVE_MRML:
        pytest.skip(WHY)
    from MommiSlicerLib.parameters import ModuleParameters

    context = scene_io.standalone_context()
    try:
        parameters = ModuleParameters.of(context.scene)
        assert parameters.get("device") == "auto" and parameters.get("overlay_opacity") == 0.5
        parameters.set("device", "cpu")
        parameters.set("overlay_opacity", 0.3)
        parameters.set("reader", "dr-a")
        again = ModuleParameters.of(context.scene)  # the same node, not a second one
        assert again.node is parameters.node
        assert (again.get("device"), again.get("overlay_opacity"), again.get("reader")) == ("cpu", 0.3, "dr-a")
        with pytest.raises(ValueError, match="device"):
            parameters.set("device", "tpu")
        parameters.node.SetParameter("overlay_opacity", "lots")  # an edited scene file
        assert parameters.get("overlay_opacity") == 0.5
        context.scene.Clear(1)  # a full close also removes singletons: a fresh node with defaults
        assert ModuleParameters.of(context.scene).get("device") == "auto"
    finally:
        context.close()


def test_the_zoo_is_a_parameter_kept_with_the_scene() -> None:
    """The module's zoo choice (a folder or manifest; empty: MOMMI_MODEL_ZOO, else the checkout's) is a
    parameter node field like the device, so a saved scene reopens with the zoo its findings came from."""
    if not HAVE_MRML:
        pytest.skip(WHY)
    from MommiSlicerLib.parameters import ModuleParameters

    context = scene_io.standalone_context()
    try:
        parameters = ModuleParameters.of(context.scene)
        assert parameters.get("zoo") == ""  # the default zoo
        parameters.set("zoo", "/data/zoos/fine-tuned-2027-01")
        assert ModuleParameters.of(context.scene).get("zoo") == "/data/zoos/fine-tuned-2027-01"
        parameters.set("zoo", "")
        assert ModuleParameters.of(context.scene).get("zoo") == ""
    finally:
        context.close()


@pytest.mark.parametrize("zoo", ["missing-folder", "not-a-zoo.json"])
def test_a_zoo_that_is_not_there_or_not_a_zoo_fails_the_analysis_with_the_engines_zoo_error(
    tmp_path: Path, zoo: str
) -> None:
    """The module hands its zoo setting to the job; one that is not a zoo ends the job with a message naming
    the path and the cause (read as an empty zoo it would have said a model is 'not in the zoo')."""
    from MommiSlicerLib.analysis_job import AnalysisJob, JobStatus

    (tmp_path / "not-a-zoo.json").write_text('{"models": "none"}')
    job = AnalysisJob(tmp_path / "study", device="cpu", zoo=tmp_path / zoo, results_root=tmp_path / "results")
    state = job.start().wait(timeout=60)
    assert state.status == JobStatus.FAILED and state.message.startswith("Model zoo problem: ")
    assert str(tmp_path / zoo) in state.message
    expected = "no model zoo manifest at" if zoo == "missing-folder" else "is not a zoo manifest"
    assert expected in state.message


def test_a_study_reanalysed_with_another_zoo_opens_on_the_new_findings(analysed, tmp_path) -> None:
    """Reviewed, then analysed again with a zoo whose operating point drops the weakest finding: the study
    opens on the new result's findings (ROIs and table), the decision on a kept finding carried over, the
    one on the dropped finding counted as not carried over and kept in the store."""
    from MommiSlicerLib.open_study import OpenStudy
    from mommi.review import panel_text
    from zoo_copies import copy_zoo

    context = scene_io.standalone_context()
    study = OpenStudy(context.scene)
    db = tmp_path / "review.sqlite"
    try:
        session = study.open(analysed, "dr-a", db).session
        top, weakest = session.findings[0], min(session.findings, key=lambda f: f.score)
        session.accept(top.id)
        session.reject(weakest.id)
        rejected = study.store.events(session.study_uid)[-1]
        threshold = (weakest.score + min(f.score for f in session.findings if f.id != weakest.id)) / 2
        zoo = copy_zoo(tmp_path / "zoo", lambda data: data["operating_point"].update(min_score=threshold))
        files = [image.path for image in analysed.study.images.values()]
        job = AnalysisJob(files, device="cpu", zoo=zoo, results_root=tmp_path / "results").start()
        state = job.wait(timeout=300)
        assert state.status == "done", state.message

        study.open(job.outcome, "dr-a", db)
        current = study.session
        assert current.result_version == 2 and current is not session
        new_ids = {f.id for f in job.outcome.result.findings}
        assert set(study.nodes.rois) == new_ids == {f.id for f in current.findings} and weakest.id not in new_ids
        decisions = {row[0]: row[5] for row in table_rows(study.nodes.table)}
        assert decisions[top.id] == "accepted" and set(decisions) == new_ids
        assert current.state.not_carried_over == [rejected.id] and rejected in study.store.events(current.study_uid)
        assert panel_text.continuity(current).startswith("Result version 2: 1 decision from another analysis")
    finally:
        study.close()
        context.close()

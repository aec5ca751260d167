"""Dataset importers: MIAS, CBIS-DDSM, VinDr-Mammo, INbreast, CMMD and CDD-CESM -> training manifest.

Each importer is run on a small copy of its dataset written in the documented
layout (see importer_fixtures.py); MIAS is also checked against the real files.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

import importer_fixtures as fx
from mommi.data.importers import importers
from mommi.data.importers._common import read_sheet
from mommi.data.importers.cbis_ddsm import import_cbis_ddsm
from mommi.data.importers.cdd_cesm import highest_birads, image_key, import_cdd_cesm, mentions_mass, shape_box
from mommi.data.importers.cmmd import import_cmmd
from mommi.data.importers.inbreast import import_inbreast
from mommi.data.importers.mias import import_mias
from mommi.data.importers.vindr import import_vindr, parse_categories
from mommi.data.manifest import Manifest, Record, validate
from mommi.errors import DatasetImportError, MommiError


def by_id(manifest: Manifest) -> dict[str, Record]:
    return {r.image_id: r for r in manifest.records}


def assert_round_trip(manifest: Manifest, tmp_path: Path) -> None:
    """Valid, unsplit, sorted, and identical after Manifest.write / Manifest.read."""
    validate(manifest)
    assert all(r.split is None for r in manifest.records)
    ids = [r.image_id for r in manifest.records]
    assert ids == sorted(ids)
    for record in manifest.records:
        assert manifest.image_file(record).is_file(), record.image_path
        for finding in record.findings:
            if finding.mask_path is not None:
                assert (Path(manifest.root) / finding.mask_path).is_file()
    path = manifest.write(tmp_path / "out" / "manifest.json")
    assert Manifest.read(path).to_dict() == manifest.to_dict()


def test_dataset_import_error_names_the_file() -> None:
    error = DatasetImportError("/data/mias/Info.txt", "not found")
    assert isinstance(error, MommiError)
    assert error.path == Path("/data/mias/Info.txt") and error.reason == "not found"
    assert str(error) == f"{Path('/data/mias/Info.txt')}: not found"


# ----------------------------------------------------------------------------- MIAS


@pytest.fixture(scope="module")
def mias_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build_mias(tmp_path_factory.mktemp("mias"))


def test_mias_records_and_coordinates(mias_fixture: Path) -> None:
    manifest = import_mias(mias_fixture)
    records = by_id(manifest)
    assert manifest.source == "mias" and manifest.root == str(mias_fixture.resolve())
    # mdb010 is listed but absent, mdb011 present but not listed: neither is recorded
    assert sorted(records) == [f"mdb{n:03d}" for n in range(1, 10)]
    one = records["mdb001"]
    # odd file numbers are left breasts (the films' lead markers), even right
    assert (one.laterality, one.view, one.patient_id, one.study_id) == ("L", "MLO", "mias-001", "mias-001")
    assert one.extra["laterality_source"].startswith("MIAS file number: odd = left")
    assert one.extra["chest_wall"] == "right"  # mirrored film: a left breast's chest wall on the image's right
    assert (one.width, one.height, one.spacing_mm, one.image_birads) == (1024, 1024, [0.2, 0.2], None)
    assert one.image_path == "mdb001.pgm" and one.extra["background_tissue"] == "G"
    # the schema's own example: y 425 from the bottom -> 1024 - 425 = 599 from the top
    (mass,) = one.findings
    assert mass.center == [535, 599] and mass.box == [338, 402, 732, 796]
    assert (mass.kind, mass.pathology, mass.birads) == ("mass", "benign", None)
    assert records["mdb002"].laterality == "R" and records["mdb002"].patient_id == "mias-001"
    assert records["mdb002"].extra["chest_wall"] == "left"
    assert records["mdb003"].patient_id == "mias-002" and records["mdb009"].patient_id == "mias-005"


def test_mias_line_shapes(mias_fixture: Path) -> None:
    records = by_id(import_mias(mias_fixture))
    assert [f.center for f in records["mdb005"].findings] == [[477, 891], [500, 856]]
    spic, misc = records["mdb006"].findings
    assert spic.box == [0, 0, 50, 44] and spic.pathology == "malignant"  # clipped at the top-left
    assert misc.box == [960, 974, 1023, 1023] and misc.extra["mias_class"] == "MISC"  # clipped at 1023
    for normal in ("mdb003", "mdb004"):
        assert records[normal].findings == [] and "other_findings" not in records[normal].extra
    # abnormal images that have no mass box are flagged, never silently normal
    assert records["mdb007"].findings == []
    assert records["mdb007"].extra["other_findings"] == [
        {"mias_class": "CIRC", "kind": "mass", "pathology": "benign", "located": False}
    ]
    assert records["mdb008"].extra["other_findings"][0]["kind"] == "calcification"
    (arch,) = records["mdb009"].extra["other_findings"]
    assert arch["kind"] == "architectural_distortion" and arch["center"] == [100, 824] and arch["radius"] == 30
    assert records["mdb009"].findings == []


def test_mias_round_trip(mias_fixture: Path, tmp_path: Path) -> None:
    assert_round_trip(import_mias(mias_fixture), tmp_path)


def test_mias_missing_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(DatasetImportError) as missing_dir:
        import_mias(tmp_path / "nowhere")
    assert missing_dir.value.path == tmp_path / "nowhere"
    with pytest.raises(DatasetImportError) as no_info:
        import_mias(tmp_path)
    assert no_info.value.path.name == "Info.txt" and "not found" in no_info.value.reason
    (tmp_path / "Info.txt").write_text(fx.MIAS_HEADER)
    with pytest.raises(DatasetImportError, match="no data lines") as no_lines:
        import_mias(tmp_path)
    assert no_lines.value.path.name == "Info.txt"
    (tmp_path / "Info.txt").write_text(fx.MIAS_HEADER + "mdb001 G CIRC B 535 425 197\n")
    with pytest.raises(DatasetImportError, match="no mdbNNN.pgm"):
        import_mias(tmp_path)


def test_mias_centre_outside_the_image_is_not_a_box(tmp_path: Path) -> None:
    """y = 0 lies on the bottom edge, one row below the last pixel centre (1024 - 0 = 1024)."""
    (tmp_path / "Info.txt").write_text(fx.MIAS_HEADER + "mdb001 G CIRC M 500 0 10\n")
    fx.pgm(tmp_path / "mdb001.pgm")
    (record,) = import_mias(tmp_path).records
    assert record.findings == []
    assert record.extra["other_findings"] == [
        {"mias_class": "CIRC", "kind": "mass", "pathology": "malignant", "center": [500, 1024], "radius": 10}
    ]


@pytest.mark.mias
def test_mias_real_files(mias_dir: Path) -> None:
    manifest = import_mias(mias_dir)
    validate(manifest)
    assert len(manifest.records) == len(list(mias_dir.glob("mdb*.pgm")))
    masses = [(r, f) for r in manifest.records for f in r.findings]
    assert masses and all(f.kind == "mass" for _, f in masses)
    assert all(0 <= v <= 1023 for _, f in masses for v in f.box)


@pytest.mark.mias
def test_mias_real_masses_lie_in_bright_breast_tissue(mias_dir: Path) -> None:
    """The coordinate conversion is right: mass centres fall inside the breast, on bright tissue.

    Measured on the 216-image shared subset (39 located masses): 39/39 centres lie
    inside the Otsu breast mask, and 39/39 circles are brighter than the ring
    between r and 2r. With y NOT flipped the brightness fraction drops to 0.72 and
    the inside fraction to 0.87, so the 0.9 bar below catches a wrong convention.
    """
    manifest = import_mias(mias_dir)
    inside = brighter = total = 0
    yy, xx = np.mgrid[0:1024, 0:1024]
    for record in manifest.records:
        if not record.findings:
            continue
        image = cv2.imread(str(manifest.image_file(record)), cv2.IMREAD_GRAYSCALE)
        blurred = cv2.GaussianBlur(image, (5, 5), 0)
        _, breast = cv2.threshold(blurred, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        for finding in record.findings:
            cx, cy = (int(v) for v in finding.center)
            radius = finding.extra["radius"]
            inside += bool(breast[max(0, cy - 2) : cy + 3, max(0, cx - 2) : cx + 3].any())
            d2 = (xx - cx) ** 2 + (yy - cy) ** 2
            disc = image[d2 <= radius**2].mean()
            ring = image[(d2 > radius**2) & (d2 <= 4 * radius**2)].mean()
            brighter += bool(disc > ring)
            total += 1
    assert total > 0
    assert inside == total, f"{total - inside} of {total} mass centres lie outside the breast"
    assert brighter / total >= 0.9, f"only {brighter}/{total} masses are brighter than their surroundings"


# ------------------------------------------------------------------------ CBIS-DDSM


@pytest.fixture(scope="module")
def cbis_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build_cbis(tmp_path_factory.mktemp("cbis"))


def test_cbis_records_boxes_and_labels(cbis_fixture: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        manifest = import_cbis_ddsm(cbis_fixture)
    records = by_id(manifest)
    assert manifest.source == "cbis-ddsm" and manifest.root == str(cbis_fixture.resolve())
    # P_00003 (full image missing) and P_00004 (its only mask missing) are left out
    assert sorted(records) == [
        "Mass-Test_P_00002_RIGHT_MLO",
        "Mass-Training_P_00001_LEFT_CC",
        "Mass-Training_P_00001_LEFT_MLO",
    ]
    cc = records["Mass-Training_P_00001_LEFT_CC"]
    assert (cc.patient_id, cc.study_id, cc.laterality, cc.view) == ("P_00001", "P_00001", "L", "CC")
    assert (cc.width, cc.height, cc.spacing_mm, cc.image_birads) == (fx.COLS, fx.ROWS, None, None)
    assert cc.image_path.startswith("CBIS-DDSM/Mass-Training_P_00001_LEFT_CC/") and cc.image_path.endswith(".dcm")
    assert cc.extra["source_split"] == "training" and cc.extra["density"] == "3"
    first, second = cc.findings
    assert first.box == [5, 10, 14, 19] and first.center == [9.5, 14.5]
    assert (first.pathology, first.birads) == ("malignant", "4")
    assert first.mask_path.startswith("CBIS-DDSM/Mass-Training_P_00001_LEFT_CC_1/")
    assert first.extra["shape"] == "OVAL" and first.extra["abnormality_id"] == "1"
    assert second.box == [30, 40, 39, 49] and (second.pathology, second.birads) == ("benign", None)
    (skipped,) = cc.extra["skipped"]
    assert skipped["abnormality_id"] == "3" and "Mass-Training_P_00001_LEFT_CC_3" in skipped["reason"]
    (calc,) = cc.extra["other_findings"]
    assert calc["kind"] == "calcification" and calc["pathology"] == "benign" and calc["birads"] == "2"
    assert "P_00003" in caplog.text and "P_00004" in caplog.text


def test_cbis_mask_found_by_size_and_exact_path(cbis_fixture: Path) -> None:
    records = by_id(import_cbis_ddsm(cbis_fixture))
    # mask and crop in one series, both described as masks: the full-size one is the mask
    (mlo,) = records["Mass-Training_P_00001_LEFT_MLO"].findings
    assert mlo.box == [0, 0, fx.COLS - 1, fx.ROWS - 1] and mlo.pathology == "benign" and mlo.birads == "3"
    test = records["Mass-Test_P_00002_RIGHT_MLO"]
    assert test.extra["source_split"] == "test" and test.laterality == "R" and test.view == "MLO"
    assert test.findings[0].box == [20, 30, 20, 30] and test.findings[0].pathology == "malignant"
    assert test.findings[0].mask_path.endswith("000001.dcm")
    assert test.spacing_mm is None  # CBIS-DDSM files carry no pixel spacing of any kind


def test_cbis_tree_inside_an_nbia_manifest_folder(cbis_fixture: Path, tmp_path: Path) -> None:
    """The NBIA downloader writes <manifest-...>/CBIS-DDSM/...; the CSVs sit next to that folder."""
    copy = tmp_path / "cbis"
    shutil.copytree(cbis_fixture, copy)
    (copy / "manifest-1600000000000").mkdir()
    (copy / "CBIS-DDSM").rename(copy / "manifest-1600000000000" / "CBIS-DDSM")
    records = by_id(import_cbis_ddsm(copy))
    cc = records["Mass-Training_P_00001_LEFT_CC"]
    assert cc.image_path.startswith("manifest-1600000000000/CBIS-DDSM/")
    assert [f.box for f in cc.findings] == [[5, 10, 14, 19], [30, 40, 39, 49]]


def test_cbis_round_trip(cbis_fixture: Path, tmp_path: Path) -> None:
    assert_round_trip(import_cbis_ddsm(cbis_fixture), tmp_path)


def test_cbis_missing_or_malformed(tmp_path: Path) -> None:
    with pytest.raises(DatasetImportError) as no_csv:
        import_cbis_ddsm(tmp_path)
    assert no_csv.value.path.name == "mass_case_description_train_set.csv"
    bad = fx.write_csv(
        tmp_path / "mass_case_description_train_set.csv",
        [c for c in fx.CBIS_MASS_COLUMNS if c != "ROI mask file path"],
        [],
    )
    with pytest.raises(DatasetImportError, match="'ROI mask file path'") as no_column:
        import_cbis_ddsm(tmp_path)
    assert no_column.value.path == bad
    fx.write_csv(
        bad,
        fx.CBIS_MASS_COLUMNS,
        [fx.cbis_row("P_9", "LEFT", "CC", 1, "Mass-Training_P_9_LEFT_CC", "Mass-Training_P_9_LEFT_CC_1")],
    )
    with pytest.raises(DatasetImportError, match="none of the 1 mass abnormalities"):
        import_cbis_ddsm(tmp_path)


# ---------------------------------------------------------------------- VinDr-Mammo


@pytest.fixture(scope="module")
def vindr_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build_vindr(tmp_path_factory.mktemp("vindr"))


def test_vindr_records_and_findings(vindr_fixture: Path) -> None:
    manifest = import_vindr(vindr_fixture)
    records = by_id(manifest)
    assert manifest.source == "vindr-mammo"
    assert sorted(records) == ["i1_lcc", "i1_lmlo", "i1_rcc", "i2_lcc"]  # i1_rmlo is not downloaded
    lcc = records["i1_lcc"]
    assert (lcc.patient_id, lcc.study_id, lcc.laterality, lcc.view) == ("s1", "s1", "L", "CC")
    assert lcc.image_path == "images/s1/i1_lcc.dicom" and (lcc.width, lcc.height) == (fx.COLS, fx.ROWS)
    assert lcc.image_birads == "4" and lcc.extra == {"density": "DENSITY C", "source_split": "training"}
    mass, mixed = lcc.findings
    assert mass.box == [10.5, 20.25, 30.0, 40.75] and (mass.birads, mass.pathology) == ("4", None)
    assert mixed.box == [1.0, 2.0, 5.0, 6.0] and mixed.extra["categories"] == ["Mass", "Suspicious Calcification"]
    calc_only = records["i1_lmlo"]
    assert calc_only.findings == []
    assert calc_only.extra["other_findings"] == [
        {"categories": ["Suspicious Calcification"], "birads": "4", "box": [3.0, 3.0, 9.0, 9.0]}
    ]
    normal = records["i1_rcc"]
    assert normal.findings == [] and "other_findings" not in normal.extra and normal.image_birads == "1"
    assert records["i2_lcc"].extra["source_split"] == "test"
    assert records["i2_lcc"].findings[0].box == [0.0, 0.0, 47.0, 63.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("['Mass']", ["Mass"]),
        ("['Mass', 'Suspicious Calcification']", ["Mass", "Suspicious Calcification"]),
        ("['No Finding']", ["No Finding"]),
        ("[Mass, Asymmetry]", ["Mass", "Asymmetry"]),  # quotes lost by a spreadsheet
        ("Mass", ["Mass"]),
    ],
)
def test_vindr_finding_categories(text: str, expected: list[str]) -> None:
    assert parse_categories(text) == expected


def test_vindr_round_trip(vindr_fixture: Path, tmp_path: Path) -> None:
    assert_round_trip(import_vindr(vindr_fixture), tmp_path)


def test_vindr_missing_or_malformed(vindr_fixture: Path, tmp_path: Path) -> None:
    copy = tmp_path / "vindr"
    shutil.copytree(vindr_fixture, copy)
    (copy / "finding_annotations.csv").unlink()
    with pytest.raises(DatasetImportError) as no_findings:
        import_vindr(copy)
    assert no_findings.value.path.name == "finding_annotations.csv"
    fx.write_csv(copy / "finding_annotations.csv", [c for c in fx.VINDR_FINDING_COLUMNS if c != "xmax"], [])
    with pytest.raises(DatasetImportError, match="'xmax'"):
        import_vindr(copy)
    shutil.rmtree(copy / "images")
    fx.write_csv(copy / "finding_annotations.csv", fx.VINDR_FINDING_COLUMNS, [])
    with pytest.raises(DatasetImportError, match="none of the 5 images") as no_images:
        import_vindr(copy)
    assert no_images.value.path.name == "images"


# ------------------------------------------------------------------------- INbreast


@pytest.fixture(scope="module")
def inbreast_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build_inbreast(tmp_path_factory.mktemp("inbreast"))


def test_inbreast_records_and_findings(inbreast_fixture: Path) -> None:
    manifest = import_inbreast(inbreast_fixture)
    records = by_id(manifest)
    assert manifest.source == "inbreast"
    assert sorted(records) == ["20586908", "22678622", "22678646", "22678694"]
    rcc = records["22678622"]
    assert (rcc.laterality, rcc.view, rcc.image_birads) == ("R", "CC", "6")
    assert rcc.image_path == "AllDICOMs/22678622_61b13c59bcba149e_MG_R_CC_ANON.dcm"
    # the anonymised headers keep no spacing: INbreast's documented 70 micrometre pixels
    assert (rcc.width, rcc.height, rcc.spacing_mm) == (fx.COLS, fx.ROWS, [0.07, 0.07])
    # "removed" in the header and the CSV: the patient hash of the file name is used
    assert rcc.patient_id == "61b13c59bcba149e" and rcc.extra["density"] == "2"
    (mass,) = rcc.findings
    assert mass.box == [10.5, 8.25, 25.5, 30.0] and mass.mask_path is None
    assert mass.extra["polygon"] == [list(p) for p in fx.MASS_POLYGON]
    assert (mass.pathology, mass.birads) == ("malignant", None)  # BI-RADS 6, one mass
    assert [o["name"] for o in rcc.extra["other_findings"]] == ["Calcification", "Spiculated Region"]
    mlo = records["22678646"]
    assert mlo.view == "MLO" and mlo.image_birads == "4A" and len(mlo.findings) == 2  # "mass" in any case
    assert all(f.pathology is None for f in mlo.findings)
    normal = records["22678694"]
    assert normal.findings == [] and "other_findings" not in normal.extra and normal.image_birads == "1"
    two = records["20586908"]
    assert two.patient_id == "PAT-0042" and two.view == "MLO" and two.laterality == "L"
    assert [f.pathology for f in two.findings] == [None, None]  # BI-RADS 6 but two masses: which one?


def test_inbreast_round_trip(inbreast_fixture: Path, tmp_path: Path) -> None:
    assert_round_trip(import_inbreast(inbreast_fixture), tmp_path)


def test_inbreast_bad_xml_skips_only_that_image(
    inbreast_fixture: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "inbreast"
    shutil.copytree(inbreast_fixture, copy)
    (copy / "AllXML" / "22678646.xml").write_text("<plist><dict><key>Images")
    with caplog.at_level(logging.WARNING):
        records = by_id(import_inbreast(copy))
    assert "22678646" not in records and len(records) == 3
    assert "22678646.xml" in caplog.text


def test_inbreast_missing_or_malformed(inbreast_fixture: Path, tmp_path: Path) -> None:
    copy = tmp_path / "inbreast"
    shutil.copytree(inbreast_fixture, copy)
    (copy / "INbreast.csv").unlink()
    with pytest.raises(DatasetImportError) as no_csv:
        import_inbreast(copy)
    assert no_csv.value.path.name == "INbreast.csv"
    (copy / "INbreast.csv").write_text("Patient ID;Laterality;View;File Name;ACR\n;R;CC;22678622;2\n")
    with pytest.raises(DatasetImportError, match="'Bi-Rads'"):
        import_inbreast(copy)
    shutil.rmtree(copy / "AllDICOMs")
    with pytest.raises(DatasetImportError) as no_dicoms:
        import_inbreast(copy)
    assert no_dicoms.value.path.name == "AllDICOMs"


# ----------------------------------------------------------------------------- CMMD


@pytest.fixture(scope="module")
def cmmd_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build_cmmd(tmp_path_factory.mktemp("cmmd"))


def test_importers_are_registered() -> None:
    registry = importers()
    assert registry["cmmd"] is import_cmmd and registry["cdd-cesm"] is import_cdd_cesm


def test_cmmd_records_views_and_breast_pathology(cmmd_fixture: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        manifest = import_cmmd(cmmd_fixture)
    records = by_id(manifest)
    assert manifest.source == "cmmd" and manifest.root == str(cmmd_fixture.resolve())
    assert sorted(records) == [
        "D1-0001_1-1",
        "D1-0001_1-2",
        "D1-0001_1-3",
        "D1-0001_1-4",
        "D1-0002_1-1",
        "D1-0002_1-2",
        "D2-0001_1-1",
        "D2-0001_1-2",
    ]
    # laterality from ImageLaterality, the view from ViewCodeSequence alone
    expected = {f"{p}_{n[:-4]}": (side, view) for p, _, _, n, side, view in fx.CMMD_IMAGES}
    assert {k: (r.laterality, r.view) for k, r in records.items()} == expected
    one = records["D1-0001_1-1"]
    assert (one.patient_id, one.study_id) == ("D1-0001", "D1-0001")
    assert one.image_path == (f"{fx.CMMD_MANIFEST}/CMMD/D1-0001/07-18-2010-NA-NA-79377/1.000000-NA-70244/1-1.dcm")
    assert (one.width, one.height, one.spacing_mm, one.image_birads) == (fx.CMMD_COLS, fx.CMMD_ROWS, None, None)
    assert all(r.findings == [] and r.extra["lesion_location_known"] is False for r in records.values())
    for image_id, extra in fx.CMMD_EXPECTED_EXTRA.items():
        assert records[image_id].extra == extra, image_id
    # the right breast of D1-0001 has no clinical row: no pathology key at all
    assert all("breast_pathology" not in records[i].extra for i in ("D1-0001_1-3", "D1-0001_1-4"))
    assert "D2-0099" in caplog.text  # a clinical row without images is reported


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_cmmd_clinical_csv_export(cmmd_fixture: Path, tmp_path: Path, delimiter: str) -> None:
    copy = tmp_path / "cmmd"
    shutil.copytree(cmmd_fixture, copy)
    (copy / "CMMD_clinicaldata_revision.xlsx").unlink()
    fx.write_cmmd_clinical_csv(copy, delimiter=delimiter)
    records = by_id(import_cmmd(copy))
    for image_id, extra in fx.CMMD_EXPECTED_EXTRA.items():
        assert records[image_id].extra == extra, image_id


def test_cmmd_clinical_file_inside_the_manifest_folder(cmmd_fixture: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cmmd"
    shutil.copytree(cmmd_fixture, copy)
    (copy / "CMMD_clinicaldata_revision.xlsx").rename(copy / fx.CMMD_MANIFEST / "CMMD_clinicaldata_revision.xlsx")
    records = by_id(import_cmmd(copy))
    assert records["D2-0001_1-1"].extra["breast_pathology"] == "malignant"
    # the CMMD folder straight under the source works as well
    (copy / fx.CMMD_MANIFEST).rename(copy / "download")
    shutil.move(copy / "download" / "CMMD", copy / "CMMD")
    shutil.move(copy / "download" / "CMMD_clinicaldata_revision.xlsx", copy)
    records = by_id(import_cmmd(copy))
    assert records["D1-0001_1-1"].image_path.startswith("CMMD/D1-0001/") and len(records) == 8


def test_read_sheet_renders_cells_as_text(tmp_path: Path) -> None:
    path = fx.write_xlsx(
        tmp_path / "t.xlsx",
        "Sheet1",
        [" ID1 ", "Age", "x"],
        [("D1-0001 ", 44.0, None), (None, None, None), ("D1-0002", 3.5, "a")],
    )
    assert read_sheet(path, ["ID1", "Age"]) == [
        {"ID1": "D1-0001", "Age": "44", "x": ""},
        {"ID1": "D1-0002", "Age": "3.5", "x": "a"},
    ]
    with pytest.raises(DatasetImportError, match="'classification'") as no_column:
        read_sheet(path, ["ID1", "classification"])
    assert no_column.value.path == path
    with pytest.raises(DatasetImportError, match="no sheet 'all'"):
        read_sheet(path, ["ID1"], sheet="all")
    (tmp_path / "broken.xlsx").write_text("not a zip")
    with pytest.raises(DatasetImportError, match="cannot read the spreadsheet") as broken:
        read_sheet(tmp_path / "broken.xlsx", ["ID1"])
    assert broken.value.path.name == "broken.xlsx"


def test_cmmd_view_unknown_skips_only_that_image(
    cmmd_fixture: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "cmmd"
    shutil.copytree(cmmd_fixture, copy)
    path = copy / fx.CMMD_MANIFEST / "CMMD/D1-0002/07-20-2011-NA-NA-17735/1.000000-NA-10325/1-2.dcm"
    ds = fx.cmmd_dataset("D1-0002", "1.2.3", "R", "MLO", 2)
    del ds.ViewCodeSequence
    fx.f.write(ds, path)
    with caplog.at_level(logging.WARNING):
        records = by_id(import_cmmd(copy))
    assert "D1-0002_1-2" not in records and len(records) == 7
    assert "1-2.dcm" in caplog.text


def test_cmmd_round_trip(cmmd_fixture: Path, tmp_path: Path) -> None:
    assert_round_trip(import_cmmd(cmmd_fixture), tmp_path)


def test_cmmd_missing_or_malformed(cmmd_fixture: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cmmd"
    shutil.copytree(cmmd_fixture, copy)
    (copy / "CMMD_clinicaldata_revision.xlsx").unlink()
    with pytest.raises(DatasetImportError, match="not found") as no_clinical:
        import_cmmd(copy)
    assert no_clinical.value.path.name == "CMMD_clinicaldata_revision.xlsx"
    fx.write_xlsx(copy / "CMMD_clinicaldata_revision.xlsx", "Sheet1", ["ID1", "LeftRight", "Age"], [])
    with pytest.raises(DatasetImportError, match="'classification'") as no_column:
        import_cmmd(copy)
    assert no_column.value.path.name == "CMMD_clinicaldata_revision.xlsx"
    fx.write_xlsx(copy / "CMMD_clinicaldata_revision.xlsx", "Sheet1", fx.CMMD_CLINICAL_COLUMNS, fx.CMMD_CLINICAL)
    shutil.rmtree(copy / fx.CMMD_MANIFEST)
    with pytest.raises(DatasetImportError) as no_tree:
        import_cmmd(copy)
    assert no_tree.value.path.name == "CMMD"


# ------------------------------------------------------------------------- CDD-CESM


@pytest.fixture(scope="module")
def cdd_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return fx.build_cdd_cesm(tmp_path_factory.mktemp("cdd"))


def test_cdd_cesm_records(cdd_fixture: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        manifest = import_cdd_cesm(cdd_fixture)
    records = by_id(manifest)
    assert manifest.source == "cdd-cesm" and manifest.root == str(cdd_fixture.resolve())
    # only the low-energy images: the subtracted (CM) images are never recorded
    assert sorted(records) == sorted(fx.CDD_DM_IMAGES)
    assert not any("Subtracted" in r.image_path or "_CM_" in r.image_id for r in records.values())
    one = records["P1_L_DM_CC"]
    assert (one.patient_id, one.study_id, one.laterality, one.view) == ("P1", "P1", "L", "CC")
    assert one.image_path == "Low energy images of CDD-CESM/P1_L_DM_CC.jpg"
    assert (one.width, one.height, one.spacing_mm, one.image_birads) == (fx.CDD_COLS, fx.CDD_ROWS, None, "4")
    assert one.extra == {
        "file_name": "P1_L_DM_CC.jpg",
        "image_pathology": "malignant",
        "density": "C",
        "machine": "GE",
        "findings": "irregular Mass",
        "age": 45,
    }
    colour = records[fx.CDD_COLOUR]
    assert (colour.width, colour.height) == (fx.CDD_COLS, fx.CDD_ROWS)  # a 3-channel JPEG
    # P2_R_DM_MLO: the sheet says L, the file name R: the file name wins, with a warning
    assert records["P2_R_DM_MLO"].laterality == "R" and "P2_R_DM_MLO" in caplog.text
    assert "P7_L_DM_CC" in caplog.text  # listed in the sheet, not on disk


def test_cdd_cesm_via_shapes_become_boxes(cdd_fixture: Path) -> None:
    records = by_id(import_cdd_cesm(cdd_fixture))
    masses = {k: [f.box for f in r.findings] for k, r in records.items() if r.findings}
    assert masses == fx.CDD_EXPECTED_MASSES
    polygon = records["P1_L_DM_CC"].findings[0]
    assert polygon.kind == "mass" and polygon.extra == {
        "shape": "polygon",
        "polygon": [[30, 40], [50, 42], [45, 70], [28, 60]],
    }
    assert polygon.center == [39.0, 55.0] and polygon.pathology == "malignant"
    assert [f.extra["shape"] for f in records["P1_L_DM_MLO"].findings] == ["ellipse", "ellipse"]
    assert records["P2_R_DM_CC"].findings[0].extra == {"shape": "circle"}
    # a point has no extent: never a mass box, kept as an other finding with its centre
    (point,) = records["P2_R_DM_CC"].extra["other_findings"]
    assert point == {"shape": "point", "center": [20.0, 30.0], "findings": "Mass and calcifications"}
    # findings that are not masses keep their box as other findings
    assert records["P2_R_DM_MLO"].findings == []
    assert records["P2_R_DM_MLO"].extra["other_findings"] == [
        {"shape": "polyline", "box": [10, 10, 30, 15], "findings": "architectural distortion"}
    ]
    # "{}" (no region) and no VIA row at all: normal images, nothing invented
    for normal in ("P1_R_DM_CC", "P1_R_DM_MLO"):
        assert records[normal].findings == [] and "other_findings" not in records[normal].extra
        assert records[normal].extra["image_pathology"] == "normal"


def test_cdd_cesm_stray_spaces_and_compound_values(cdd_fixture: Path) -> None:
    records = by_id(import_cdd_cesm(cdd_fixture))
    # "P5_L_DM_CC .jpg" in the VIA export and "P1_R_DM_MLO " in the sheet still match
    assert records["P5_L_DM_CC"].findings[0].pathology == "benign"
    assert records["P1_R_DM_MLO"].image_birads == "1"
    compound = records["P2_R_DM_CC"]
    assert compound.image_birads == "5"  # "3$5": the highest category
    assert [f.pathology for f in compound.findings] == [None]  # "Benign$Malignant": which box is which?
    assert compound.extra["pathology_text"] == "Benign$Malignant" and compound.extra["birads_text"] == "3$5"
    assert "image_pathology" not in compound.extra
    assert records["P2_R_DM_MLO"].extra["image_pathology"] == "benign"


@pytest.mark.parametrize(
    ("shape", "box"),
    [
        ({"name": "polygon", "all_points_x": [3, 9, 5], "all_points_y": [4, 2, 8]}, [3, 2, 9, 8]),
        ({"name": "polyline", "all_points_x": [-5, 9], "all_points_y": [4, 200]}, [0, 4, 9, 159]),
        ({"name": "ellipse", "cx": 50, "cy": 60, "rx": 10, "ry": 4}, [40, 56, 60, 64]),
        ({"name": "ellipse", "cx": 50, "cy": 60, "rx": 10, "ry": 4, "theta": fx.THETA_90}, [46, 50, 54, 70]),
        # 45 degrees: half extents sqrt((100 + 16) / 2) = 7.62 in x and y
        ({"name": "ellipse", "cx": 50, "cy": 60, "rx": 10, "ry": 4, "theta": 0.7853981633974483}, [42, 52, 58, 68]),
        ({"name": "circle", "cx": 5.5, "cy": 6, "r": 3}, [2, 3, 9, 9]),
        ({"name": "rect", "x": 10, "y": 20, "width": 5, "height": 6}, [10, 20, 15, 26]),
    ],
)
def test_cdd_cesm_shape_box(shape: dict, box: list[int]) -> None:
    assert shape_box(shape, fx.CDD_COLS, fx.CDD_ROWS) == box


@pytest.mark.parametrize(
    "shape",
    [
        {"name": "point", "cx": 1, "cy": 2},
        {"name": "circle", "cx": 500, "cy": 500, "r": 3},  # outside the image
        {"name": "ellipse", "cx": 5, "cy": 5, "rx": "x", "ry": 2},
        {"name": "polygon", "all_points_x": [1, 2], "all_points_y": [1]},
    ],
)
def test_cdd_cesm_shape_box_refuses(shape: dict) -> None:
    with pytest.raises(ValueError):
        shape_box(shape, fx.CDD_COLS, fx.CDD_ROWS)


def test_cdd_cesm_small_parsers() -> None:
    assert image_key("P5_L_DM_CC .jpg") == image_key(" P5_L_DM_CC") == "P5_L_DM_CC"
    assert [highest_birads(t) for t in ("3$2", "4$5", "4", "", "0", "4a$4")] == ["3", "5", "4", None, None, "4A"]
    assert mentions_mass("Irregular MASS") and mentions_mass("masses")
    assert not mentions_mass("non-mass enhancement") and not mentions_mass("calcifications")


@pytest.mark.parametrize("delimiter", [",", ";"])
def test_cdd_cesm_annotation_csv_export(cdd_fixture: Path, tmp_path: Path, delimiter: str) -> None:
    copy = tmp_path / "cdd"
    shutil.copytree(cdd_fixture, copy)
    (copy / "Radiology manual annotations.xlsx").unlink()
    fx.write_cdd_annotation_csv(copy, delimiter=delimiter)
    assert by_id(import_cdd_cesm(copy)) == by_id(import_cdd_cesm(cdd_fixture))


def test_cdd_cesm_compound_pathology_that_agrees(cdd_fixture: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cdd"
    shutil.copytree(cdd_fixture, copy)
    column = fx.CDD_COLUMNS.index("Pathology Classification/ Follow up")
    sheet = [row[:column] + ("Benign$Benign",) if row[0] == "P5_L_DM_CC" else row for row in fx.CDD_SHEET]
    fx.write_xlsx(copy / "Radiology manual annotations.xlsx", "all", fx.CDD_COLUMNS, sheet)
    record = by_id(import_cdd_cesm(copy))["P5_L_DM_CC"]
    assert record.extra["image_pathology"] == "benign" and record.findings[0].pathology == "benign"
    assert "pathology_text" not in record.extra


def test_cdd_cesm_round_trip(cdd_fixture: Path, tmp_path: Path) -> None:
    manifest = import_cdd_cesm(cdd_fixture)
    assert_round_trip(manifest, tmp_path)
    assert import_cdd_cesm(cdd_fixture).records == manifest.records  # deterministic


def test_cdd_cesm_missing_or_malformed(cdd_fixture: Path, tmp_path: Path) -> None:
    copy = tmp_path / "cdd"
    shutil.copytree(cdd_fixture, copy)
    (copy / "Radiology manual annotations.xlsx").unlink()
    with pytest.raises(DatasetImportError, match="not found") as no_sheet:
        import_cdd_cesm(copy)
    assert no_sheet.value.path.name == "Radiology manual annotations.xlsx"
    fx.write_xlsx(copy / "Radiology manual annotations.xlsx", "Sheet1", fx.CDD_COLUMNS, fx.CDD_SHEET)
    with pytest.raises(DatasetImportError, match="no sheet 'all'"):
        import_cdd_cesm(copy)
    fx.write_xlsx(copy / "Radiology manual annotations.xlsx", "all", fx.CDD_COLUMNS[:6], [])
    with pytest.raises(DatasetImportError, match="'BIRADS'"):
        import_cdd_cesm(copy)
    fx.write_xlsx(copy / "Radiology manual annotations.xlsx", "all", fx.CDD_COLUMNS, fx.CDD_SHEET)
    (copy / fx.CDD_SEGMENTATIONS).unlink()
    with pytest.raises(DatasetImportError) as no_via:
        import_cdd_cesm(copy)
    assert no_via.value.path.name == fx.CDD_SEGMENTATIONS
    shutil.rmtree(copy / fx.CDD_LOW_ENERGY)
    with pytest.raises(DatasetImportError) as no_images:
        import_cdd_cesm(copy)
    assert no_images.value.path.name == fx.CDD_LOW_ENERGY


def test_cdd_cesm_bad_region_json_drops_only_that_region(
    cdd_fixture: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    copy = tmp_path / "cdd"
    shutil.copytree(cdd_fixture, copy)
    regions = [*fx.CDD_REGIONS, ("P1_L_DM_CC.jpg", {"name": "hexagon"})]
    fx.write_via_csv(copy / fx.CDD_SEGMENTATIONS, regions, {})
    via = copy / fx.CDD_SEGMENTATIONS
    via.write_text(via.read_text(encoding="utf-8") + 'P1_L_DM_MLO.jpg,0,"{}",1,0,"{""name"":",""\n', encoding="utf-8")
    with caplog.at_level(logging.WARNING):
        records = by_id(import_cdd_cesm(copy))
    assert [f.box for f in records["P1_L_DM_CC"].findings] == fx.CDD_EXPECTED_MASSES["P1_L_DM_CC"]
    assert len(records["P1_L_DM_MLO"].findings) == 2
    assert "hexagon" in caplog.text and "not JSON" in caplog.text

"""De-identification of feedback images (mommi.feedback.deid): DICOM PS3.15 basic profile.

The central test fills a dataset with EVERY attribute of the profile's list (Table
E.1-1), each with a value of its own, plus a realistic identifying mammogram, and
checks attribute by attribute that the table's action was applied, and that no
original value of a listed attribute survives anywhere in the de-identified data.
"""

from __future__ import annotations

import copy
import io
import re
from datetime import date, timedelta

import numpy as np
import pytest
from dicom_factory import MG_PRESENTATION, Patient, mammogram
from pydicom import dcmread, dcmwrite
from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, PYDICOM_IMPLEMENTATION_UID

from mommi.feedback.deid import (
    DEIDENTIFICATION_METHOD,
    Deidentifier,
    dummy_value,
    profile_attributes,
    profile_entry_for,
    resolve_action,
)

SALT = b"test-batch-salt"
BINARY_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "UN"}

#: the test's own reading of the compound actions (the brief's policy), independent of the module
EXPECTED_OP = {
    "X": "remove",
    "Z": "empty",
    "X/Z": "empty",
    "D": "dummy",
    "C": "dummy",
    "X/D": "dummy",
    "X/Z/D": "dummy",
    "Z/D": "dummy",
    "U": "remap",
    "K": "keep",
}


def expected_op(action: str, vr: str) -> str:
    if action == "X/Z/U*":
        return "recurse" if vr == "SQ" else ("remap" if vr == "UI" else "empty")
    return EXPECTED_OP[action]


# ---------------------------------------------------------------------------- helpers
def walk(ds: Dataset, path: str = ""):
    """(path, element) of every element at every depth."""
    for elem in ds:
        yield path, elem
        if elem.VR == "SQ":
            for i, item in enumerate(elem.value):
                yield from walk(item, f"{path}{elem.keyword or elem.tag}[{i}].")


def values_of(elem) -> list[str]:
    """The element's values as strings (none for sequences, binary and empty elements)."""
    if elem.VR == "SQ" or elem.VR in BINARY_VRS or elem.is_empty:
        return []
    value = elem.value
    items = list(value) if elem.VM > 1 and not isinstance(value, (str, bytes)) else [value]
    return [str(v) for v in items]


def index(ds: Dataset) -> dict[int, list]:
    found: dict[int, list] = {}
    for _, elem in walk(ds):
        found.setdefault(int(elem.tag), []).append(elem)
    return found


def with_meta(ds: Dataset) -> Dataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.SourceApplicationEntityTitle = "MAMMO_AE_SITE1"
    ds.file_meta = meta
    return ds


def identifying_mammogram(patient: Patient, referenced_sop_uid: str | None = None, laterality: str = "L") -> Dataset:
    """A Hologic MG image carrying the identifying attributes a real archive delivers."""
    ds = mammogram(patient, laterality, "CC", vendor="HOLOGIC", seed=3)
    ds.PatientAddress = "12 Rosegarden Lane, Springfield"
    ds.OtherPatientIDs = ["MRN-778812", "NHS-5550001"]
    ds.PatientAge = "060Y"
    ds.InstitutionName = "St. Example Breast Centre"
    ds.InstitutionAddress = "1 Hospital Road, Springfield"
    ds.ReferringPhysicianName = "Referrer^Rita"
    ds.OperatorsName = "Operator^Olga"
    ds.PerformingPhysicianName = "Performer^Paul"
    ds.DeviceSerialNumber = "SN-HOLO-99812"
    ds.StationName = "MAMMOROOM3"
    ds.AccessionNumber = "ACCX-20260105-77"
    ds.StudyID = "STUDY-4711"
    ds.SeriesDate = "20260105"
    ds.SeriesTime = "101200"
    ds.FrameOfReferenceUID = "1.2.826.0.1.3680043.10.4242.77"
    request = Dataset()
    request.RequestedProcedureID = "RPID-9981"
    request.ScheduledProcedureStepID = "SPSID-1234"
    nested = Dataset()
    nested.ScheduledProcedureStepID = "SPSID-NEST-5678"
    nested.RequestedProcedureID = "RPID-NESTED-1"
    request.ReferencedStudySequence = Sequence([nested])
    ds.RequestAttributesSequence = Sequence([request])
    contributor = Dataset()  # Contributing Equipment Sequence is not listed: its items follow the same rules
    contributor.Manufacturer = "PACS Vendor"
    contributor.InstitutionName = "Other Hospital North"
    contributor.StationName = "QA-WORKSTATION-7"
    contributor.DeviceSerialNumber = "SN-QA-000777"
    contributor.OperatorsName = "Qa^Quentin"
    contributor.ContributionDateTime = "20260106093000"
    contributor.ContributionDescription = "re-windowed by Dr Quentin"
    ds.ContributingEquipmentSequence = Sequence([contributor])
    if referenced_sop_uid:
        ref = Dataset()
        ref.ReferencedSOPClassUID = MG_PRESENTATION
        ref.ReferencedSOPInstanceUID = referenced_sop_uid
        ds.ReferencedImageSequence = Sequence([ref])
    block = ds.private_block(0x0029, "SIEMENS CSA SECRET", create=True)
    block.add_new(0x10, "LO", "PRIVATE PATIENT NOTE Anna")
    block.add_new(0x11, "OB", b"private-bytes-xy")
    ds.add_new(0x60000010, "US", 16)  # Overlay Rows
    ds.add_new(0x60000011, "US", 16)  # Overlay Columns
    ds.add_new(0x60000040, "CS", "G")  # Overlay Type
    ds.add_new(0x60000050, "SS", [1, 1])  # Overlay Origin
    ds.add_new(0x60000100, "US", 1)  # Overlay Bits Allocated
    ds.add_new(0x60000102, "US", 0)  # Overlay Bit Position
    ds.add_new(0x60004000, "LT", "overlay note: Test^Anna")  # Overlay Comments
    ds.add_new(0x60003000, "OW", np.ones(16 * 16 // 16, dtype=np.uint16).tobytes())  # Overlay Data
    return with_meta(ds)


def _vr_of(entry) -> str:
    try:
        return dictionary_VR(entry.tag_value).split(" or ")[0]
    except KeyError:  # attributes newer than pydicom's dictionary
        if entry.name.endswith("Sequence"):
            return "SQ"
        if entry.name.endswith("DateTime"):
            return "DT"
        if entry.name.endswith("URI"):
            return "UR"
        return "LO"


def secret_value(vr: str, n: int):
    """A value of its own for attribute number n, valid for the VR."""
    if vr in ("AE", "CS", "SH", "LO", "LT", "ST", "UC", "UT"):
        return f"SECRET{n:04d}"
    if vr == "PN":
        return f"Secret^Person{n:04d}"
    if vr == "UI":
        return f"1.2.826.0.1.3680043.10.999.{n}"
    if vr == "DA":
        return (date(1950, 1, 1) + timedelta(days=n)).strftime("%Y%m%d")
    if vr == "TM":
        return f"{n // 60:02d}{n % 60:02d}17"
    if vr == "DT":
        return (date(1950, 1, 1) + timedelta(days=n)).strftime("%Y%m%d") + "101517"
    if vr == "AS":
        return f"{n % 1000:03d}Y"
    if vr == "DS":
        return f"{70000 + n}.5"
    if vr == "IS":
        return str(70000 + n)
    if vr in ("FL", "FD"):
        return 70000.25 + n
    if vr in ("US", "SS"):
        return 1000 + n
    if vr in ("SL", "UL", "SV", "UV"):
        return 70000 + n
    if vr == "AT":
        return 0x00100010
    if vr == "UR":
        return f"http://secret.example/{n}"
    if vr in BINARY_VRS:
        return f"SECRETBYTES{n:05d}".encode()
    raise AssertionError(vr)


def exhaustive_dataset() -> tuple[Dataset, int]:
    """A dataset holding every attribute of Table E.1-1 that a dataset body can hold."""
    ds = Dataset()
    ds.SOPClassUID = MG_PRESENTATION
    n_listed = 0
    for n, entry in enumerate(profile_attributes()):
        tag = entry.tag_value
        if tag is None or (tag >> 16) in (0x0000, 0x0002):  # command / file meta groups
            continue
        vr = _vr_of(entry)
        if vr == "SQ":
            item = Dataset()
            item.ReferencedSOPClassUID = MG_PRESENTATION
            item.ReferencedSOPInstanceUID = f"1.2.826.0.1.3680043.10.998.{n}"
            item.PersonName = f"Nested^Person{n:04d}"  # D inside
            if resolve_action(entry.action, "SQ") == "dummy":
                item.CodeValue = f"SQCODE{n:04d}"  # not in the table: dummied inside a D sequence
                item.CodingSchemeDesignator = "99SECRETX"
                item.CodeMeaning = f"Secret meaning {n:04d}"
            else:
                item.PatientAddress = f"Nested Street {n:04d}"  # X inside
                item.PatientName = f"Nested^Patient{n:04d}"  # Z inside
            ds.add_new(tag, "SQ", Sequence([item]))
        else:
            ds.add_new(tag, vr, secret_value(vr, n))
        n_listed += 1
    return ds, n_listed


# ---------------------------------------------------------------------------- the table
def test_profile_table_is_table_e11():
    entries = profile_attributes()
    assert 500 <= len(entries) <= 1000  # Table E.1-1 lists several hundred attributes (2026c: 656 rows)
    assert len({e.tag for e in entries}) == len(entries)
    assert {e.action for e in entries} <= {"D", "Z", "X", "K", "C", "U", "X/Z", "X/D", "X/Z/D", "X/Z/U*", "Z/D"}
    by_keyword = {e.keyword: e for e in entries}
    # the table's basic-profile column, 2026c (ContentDate and PatientID are Z/D there, not plain Z)
    expected = {
        "PatientName": "Z",
        "PatientID": "Z/D",
        "PatientBirthDate": "Z",
        "StudyInstanceUID": "U",
        "SOPInstanceUID": "U",
        "SeriesInstanceUID": "U",
        "FrameOfReferenceUID": "U",
        "AccessionNumber": "Z",
        "InstitutionName": "X/Z/D",
        "ReferringPhysicianName": "Z",
        "StudyDate": "Z",
        "ContentDate": "Z/D",
        "OtherPatientIDs": "X",
        "PatientAddress": "X",
        "DeviceSerialNumber": "X/Z/D",
        "StationName": "X/Z/D",
        "ReferencedImageSequence": "X/Z/U*",
        "ReferencedSOPInstanceUID": "U",
        "PatientAge": "X",
        "StudyDescription": "X",
        "RequestAttributesSequence": "X",
        "MediaStorageSOPInstanceUID": "U",
        "IconImageSequence": "X",
    }
    for keyword, action in expected.items():
        assert by_keyword[keyword].action == action, keyword
    assert by_keyword["PatientName"].tag == "(0010,0010)"
    # repeating groups and private attributes are rows of the table too
    assert profile_entry_for(0x60003000).action == "X"
    assert profile_entry_for(0x60024000).action == "X"
    assert profile_entry_for(0x50001010).action == "X"
    assert profile_entry_for(0x00291010).action == "X"
    assert profile_entry_for(0x00280010) is None  # Rows: not listed
    # keywords come from pydicom's dictionary wherever pydicom knows the tag
    for e in entries:
        if e.keyword_source == "pydicom":
            assert keyword_for_tag(e.tag_value) == e.keyword, e
    # nothing training needs is on the list (or it is K)
    for keyword in (
        "ImageLaterality",
        "ViewPosition",
        "ViewCodeSequence",
        "PixelSpacing",
        "ImagerPixelSpacing",
        "Rows",
        "Columns",
        "PhotometricInterpretation",
        "BitsStored",
        "WindowCenter",
        "WindowWidth",
        "VOILUTFunction",
        "PresentationIntentType",
        "BurnedInAnnotation",
        "SOPClassUID",
        "Modality",
    ):
        assert keyword not in by_keyword or by_keyword[keyword].action == "K", keyword


def test_compound_actions_resolve_conservatively():
    for action in ("X/D", "X/Z/D", "Z/D", "D", "C"):
        assert resolve_action(action, "LO") == "dummy"
    assert resolve_action("X/Z", "DA") == "empty"
    assert resolve_action("X/Z/U*", "SQ") == "recurse"
    assert resolve_action("X/Z/U*", "UI") == "remap"
    assert resolve_action("X/Z/U*", "LO") == "empty"
    assert resolve_action("X", "SQ") == "remove"
    assert dummy_value("PN") == "ANONYMOUS"
    assert re.fullmatch(r"\d{8}", dummy_value("DA"))
    assert re.fullmatch(r"\d{6}", dummy_value("TM"))
    assert dummy_value("US") == 0
    with pytest.raises(ValueError):
        resolve_action("Q", "LO")


# ---------------------------------------------------------------------------- central test
def test_every_profile_attribute_gets_its_action_and_nothing_survives():
    patient = Patient(patient_id="PAT-77123", name="Identifiable^Anna", birth_date="19650312")
    mg = identifying_mammogram(patient, referenced_sop_uid="1.2.826.0.1.3680043.10.4242.1")
    full, n_listed = exhaustive_dataset()
    assert n_listed > 600
    deid = Deidentifier(salt=SALT)

    for original_ds in (mg, full):
        original = copy.deepcopy(original_ds)
        report = deid.deidentify(original_ds)
        before, after = index(original), index(original_ds)

        covered = 0
        for entry in profile_attributes():
            if entry.tag_value is None:  # repeating groups and private attributes: gone at every depth
                assert not [e for _, e in walk(original_ds) if entry.matches(e.tag)], entry
                continue
            olds = before.get(entry.tag_value, [])
            if not olds:
                continue
            covered += 1
            news = after.get(entry.tag_value, [])
            old_values = {v for e in olds for v in values_of(e)}
            op = expected_op(entry.action, olds[0].VR)
            if op == "remove":
                assert not news, f"{entry.keyword} ({entry.action}) survives"
            elif op == "empty":
                assert all(e.is_empty for e in news), f"{entry.keyword} ({entry.action}) not emptied"
            elif op == "dummy":
                for e in news:
                    if e.VR == "SQ":
                        continue  # its contents are checked by their own rows and the leak check below
                    assert not e.is_empty, f"{entry.keyword} ({entry.action}) empty, D wants a dummy"
                    assert not set(values_of(e)) & old_values, f"{entry.keyword} ({entry.action}) kept its value"
                    if e.VR not in BINARY_VRS:
                        assert e.value != olds[0].value
            elif op == "remap":
                mapped = {deid.uid_map[v] for v in old_values if v in deid.uid_map}  # (some sat in emptied sequences)
                new_values = {v for e in news for v in values_of(e)}
                assert new_values, f"{entry.keyword} lost"
                assert new_values <= mapped, f"{entry.keyword} not remapped consistently"
                assert not new_values & old_values
                assert all(UID(v).is_valid and len(v) <= 64 and v.startswith("2.25.") for v in new_values)
            elif op == "recurse":
                assert news and all(len(e.value) >= 1 for e in news), f"{entry.keyword} items lost"
        if original_ds is full:
            assert covered == n_listed  # every listed attribute was present and checked

        # no original value of a listed attribute (or of a private / overlay element) appears anywhere
        secrets_text, secrets_exact = set(), set()
        for _, elem in walk(original):
            entry = profile_entry_for(elem.tag)
            if entry is None or entry.action == "K":
                continue
            for v in values_of(elem):
                v = v.strip()
                if len(v) < 4:
                    continue
                (secrets_exact if re.fullmatch(r"[\d.+\-]+", v) else secrets_text).add(v)
        assert len(secrets_text) > 10
        remaining = [v for _, elem in walk(original_ds) for v in values_of(elem)]
        remaining += (
            [v for _, elem in walk(original_ds.file_meta) for v in values_of(elem)]
            if hasattr(original_ds, "file_meta")
            else []
        )
        text_blob = "\n".join(remaining)
        leaked = sorted(s for s in secrets_text if s in text_blob) + sorted(secrets_exact & set(remaining))
        assert not leaked, f"original identifying values survive: {leaked[:20]}"
        assert report.removed and report.emptied and report.replaced


def test_report_lists_what_was_done():
    patient = Patient(patient_id="PAT-77123")
    ds = identifying_mammogram(patient)
    original_sop = ds.SOPInstanceUID
    report = Deidentifier(salt=SALT).deidentify(ds)
    for keyword in (
        "OtherPatientIDs",
        "PatientAddress",
        "RequestAttributesSequence",
        "PerformingPhysicianName",
        "StudyDescription",
        "file_meta.SourceApplicationEntityTitle",
        "(0029,1010)",
        "(0029,0010)",
        "OverlayData",
        "OverlayRows",
    ):
        assert keyword in report.removed, keyword
    for keyword in ("PatientName", "PatientBirthDate", "AccessionNumber", "StudyDate", "ReferringPhysicianName"):
        assert keyword in report.emptied, keyword
    for keyword in ("PatientID", "ContentDate", "InstitutionName", "StationName", "SOPInstanceUID"):
        assert keyword in report.replaced, keyword
    assert report.uid_map[original_sop] == ds.SOPInstanceUID
    assert ds.PatientID.startswith("ANON-") and ds.ContentDate == "19000101"
    assert ds.InstitutionName == "ANONYMOUS" and ds.StationName == "ANONYMOUS"
    contributor = ds.ContributingEquipmentSequence[0]
    assert contributor.Manufacturer == "PACS Vendor"  # not listed: kept
    assert contributor.InstitutionName == "ANONYMOUS" and contributor.DeviceSerialNumber == "ANONYMOUS"
    assert "ContributionDescription" not in contributor and "ContributionDateTime" not in contributor
    assert "ContributingEquipmentSequence[0].ContributionDescription" in report.removed


# ---------------------------------------------------------------------------- UIDs
def test_uids_consistent_within_a_batch_and_references_follow():
    patient = Patient(patient_id="PAT-1")
    a = identifying_mammogram(patient, laterality="L")
    b = identifying_mammogram(patient, referenced_sop_uid=a.SOPInstanceUID, laterality="R")
    orig = {
        "study": a.StudyInstanceUID,
        "a_sop": a.SOPInstanceUID,
        "b_sop": b.SOPInstanceUID,
        "a_series": a.SeriesInstanceUID,
        "for": a.FrameOfReferenceUID,
    }
    deid = Deidentifier(salt=SALT)
    report_a, report_b = deid.deidentify(a), deid.deidentify(b)

    assert a.StudyInstanceUID == b.StudyInstanceUID != orig["study"]
    assert a.FrameOfReferenceUID == b.FrameOfReferenceUID != orig["for"]
    assert b.ReferencedImageSequence[0].ReferencedSOPInstanceUID == a.SOPInstanceUID != orig["a_sop"]
    assert a.SOPInstanceUID != b.SOPInstanceUID and a.SeriesInstanceUID != orig["a_series"]
    batch = deid.uid_map
    assert batch[orig["a_sop"]] == a.SOPInstanceUID and batch[orig["b_sop"]] == b.SOPInstanceUID
    assert orig["a_sop"] in report_b.uid_map and orig["b_sop"] not in report_a.uid_map
    assert deid.remap_uid(orig["a_sop"]) == a.SOPInstanceUID  # the exporter remaps its own JSON with this
    for new in batch.values():
        assert new.startswith("2.25.") and len(new) <= 64 and UID(new).is_valid
    # class UIDs are not remapped
    assert a.SOPClassUID == MG_PRESENTATION
    assert b.ReferencedImageSequence[0].ReferencedSOPClassUID == MG_PRESENTATION
    assert a.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert a.file_meta.MediaStorageSOPClassUID == MG_PRESENTATION
    assert a.file_meta.MediaStorageSOPInstanceUID == a.SOPInstanceUID


def test_salt_makes_batches_reproducible_and_distinct():
    patient = Patient(patient_id="PAT-2")
    ds = identifying_mammogram(patient)

    def run(salt, root="2.25."):
        copy_ = copy.deepcopy(ds)
        Deidentifier(uid_root=root, salt=salt).deidentify(copy_)
        return copy_.StudyInstanceUID, copy_.SOPInstanceUID, copy_.PatientID

    assert run(b"one") == run(b"one")
    first, second = run(b"one"), run(b"two")
    assert all(x != y for x, y in zip(first, second))
    assert run(None)[:2] != run(None)[:2]  # no salt: random, consistent only within one instance
    rooted = run(b"one", root="1.2.826.0.1.3680043.10.777")
    assert all(u.startswith("1.2.826.0.1.3680043.10.777.") and len(u) <= 64 and UID(u).is_valid for u in rooted[:2])


# ---------------------------------------------------------------------------- the file stays a valid image
def test_private_overlay_removed_training_attributes_kept_and_file_round_trips():
    patient = Patient(patient_id="PAT-3")
    ds = identifying_mammogram(patient)
    pixels_before = ds.pixel_array.copy()
    kept = {
        k: copy.deepcopy(ds[k].value)
        for k in (
            "ImageLaterality",
            "ViewPosition",
            "PixelSpacing",
            "ImagerPixelSpacing",
            "Rows",
            "Columns",
            "PhotometricInterpretation",
            "BitsStored",
            "WindowCenter",
            "WindowWidth",
            "VOILUTFunction",
            "PresentationIntentType",
            "Manufacturer",
            "ManufacturerModelName",
            "BurnedInAnnotation",
            "Modality",
            "SOPClassUID",
            "PatientOrientation",
            "ImageType",
        )
    }
    view_code = ds.ViewCodeSequence[0].CodeValue

    Deidentifier(salt=SALT).deidentify(ds)

    assert not [e for _, e in walk(ds) if e.tag.is_private]
    assert not [e for _, e in walk(ds) if 0x6000 <= e.tag.group <= 0x60FF or 0x5000 <= e.tag.group <= 0x50FF]
    for keyword, value in kept.items():
        assert ds[keyword].value == value, keyword
    assert ds.ViewCodeSequence[0].CodeValue == view_code
    assert ds.PatientIdentityRemoved == "YES"
    assert ds.DeidentificationMethod == DEIDENTIFICATION_METHOD
    code = ds.DeidentificationMethodCodeSequence[0]
    assert (code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning) == (
        "113100",
        "DCM",
        "Basic Application Confidentiality Profile",
    )
    assert "SourceApplicationEntityTitle" not in ds.file_meta

    buffer = io.BytesIO()
    dcmwrite(buffer, ds, enforce_file_format=True)
    buffer.seek(0)
    back = dcmread(buffer)
    assert back.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID == back.SOPInstanceUID
    assert back.PatientName == "" and back.PatientIdentityRemoved == "YES"
    assert np.array_equal(back.pixel_array, pixels_before)
    assert np.array_equal(ds.pixel_array, pixels_before)


def test_exhaustive_dataset_still_writes_after_deidentification():
    full, _ = exhaustive_dataset()
    full.SOPInstanceUID = "1.2.826.0.1.3680043.10.999.424242"
    with_meta(full)
    Deidentifier(salt=SALT).deidentify(full)
    buffer = io.BytesIO()
    dcmwrite(buffer, full, enforce_file_format=True)
    buffer.seek(0)
    back = dcmread(buffer)
    assert back.SOPInstanceUID == full.SOPInstanceUID == back.file_meta.MediaStorageSOPInstanceUID
    assert back.ContentSequence[0].CodeValue == "ANONYMOUS"


# ---------------------------------------------------------------------------- burned-in annotation
@pytest.mark.parametrize("value, flagged", [("NO", False), ("YES", True), (None, True), ("", True)])
def test_burned_in_annotation_is_flagged_not_altered(value, flagged):
    ds = identifying_mammogram(Patient(patient_id="PAT-4"))
    if value is None:
        del ds.BurnedInAnnotation
    else:
        ds.BurnedInAnnotation = value
    pixels = ds.pixel_array.copy()
    report = Deidentifier(salt=SALT).deidentify(ds)
    assert report.burned_in is flagged
    assert bool(report.warnings) is flagged
    if value is not None:
        assert ds.BurnedInAnnotation == value  # K: kept as it was
    else:
        assert "BurnedInAnnotation" not in ds
    assert np.array_equal(ds.pixel_array, pixels)


def test_unlisted_uids_class_uids_kept_instance_uids_remapped():
    ds = identifying_mammogram(Patient(patient_id="PAT-5"), referenced_sop_uid="1.2.826.0.1.3680043.10.4242.9")
    private_class = "1.2.840.113619.4.999"  # a vendor's own SOP class: not in pydicom's registry
    ds.ReferencedImageSequence[0].ReferencedSOPClassUID = private_class
    source = "1.2.826.0.1.3680043.10.4242.10"
    ds.SOPInstanceUIDOfConcatenationSource = source  # a UID the table does not list
    ds.CodingSchemeUID = "2.16.840.1.113883.6.96"  # SNOMED CT's registry UID
    assert profile_entry_for(0x00200242) is None
    deid = Deidentifier(salt=SALT)
    report = deid.deidentify(ds)
    assert ds.ReferencedImageSequence[0].ReferencedSOPClassUID == private_class
    assert ds.SOPInstanceUIDOfConcatenationSource == deid.remap_uid(source) != source
    assert "SOPInstanceUIDOfConcatenationSource" in report.replaced
    assert ds.CodingSchemeUID == "2.16.840.1.113883.6.96"

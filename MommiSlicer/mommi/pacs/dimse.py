"""DIMSE for a PACS without DICOMweb (pynetdicom; no hand-written PDUs): C-FIND to list mammography
studies, C-GET of the MG series into the cache (the server sends them back on the same association, so no
port of ours needs to be reachable, as C-MOVE would need), C-STORE of the SEG and SR results.

Addressed as ``dimse://CALLED_AET@host:port`` (our calling AE title: ``MOMMI_PACS_AET``, default
MOMMISLICER), a study as ``dimse://AET@host:port/studies/<StudyInstanceUID>``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset

from mommi.pacs.dicomweb import UID_PATTERN, PacsError, StudySummary

#: SOP classes a mammography study's images come in (C-GET must offer to receive each)
IMAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # - For Processing
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture (digitised film)
)
#: Study Root Query/Retrieve Information Model - FIND and - GET (pynetdicom builds its sop_class names at
#: run time, which a type checker cannot see: the UIDs themselves are plainer)
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
GET = "1.2.840.10008.5.1.4.1.2.2.3"
TIMEOUT_S = 30.0
PENDING = (0xFF00, 0xFF01)


@dataclass(frozen=True)
class DimseNode:
    called_aet: str
    host: str
    port: int

    @property
    def calling_aet(self) -> str:
        return os.environ.get("MOMMI_PACS_AET", "MOMMISLICER")[:16]

    @property
    def url(self) -> str:
        return f"dimse://{self.called_aet}@{self.host}:{self.port}"

    @classmethod
    def parse(cls, text: str) -> tuple[DimseNode, str | None]:
        """The node and, for ``.../studies/<UID>``, the study."""
        match = re.match(r"^dimse://([^@/]{1,16})@([^:/]+):(\d{1,5})(?:/studies/([^/?#]+))?/?$", text)
        if not match:
            raise PacsError(text, "a DIMSE PACS is given as dimse://AET@host:port[/studies/<StudyInstanceUID>]")
        aet, host, port, study = match.groups()
        if study is not None and (not UID_PATTERN.match(study) or len(study) > 64):
            raise PacsError(text, f"{study[:70]!r} is not a DICOM Study Instance UID")
        return cls(aet, host, int(port)), study


def is_dimse_url(text: str) -> bool:
    return text.startswith("dimse://")


def _associate(
    node: DimseNode, contexts: Sequence[str], roles: Sequence[str] = (), handlers: list | None = None
) -> Any:
    """An association offering ``contexts`` (SOP class UIDs) in the uncompressed transfer syntaxes every PACS
    takes; C-GET may still deliver compressed images where the server keeps them so."""
    from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian
    from pynetdicom import AE, build_role

    ae = AE(ae_title=node.calling_aet)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_S
    for context in contexts:
        ae.add_requested_context(context, [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
    assoc = ae.associate(
        node.host,
        node.port,
        ae_title=node.called_aet,
        ext_neg=[build_role(uid, scp_role=True) for uid in roles],
        evt_handlers=handlers or [],
    )
    if not assoc.is_established:
        why = (
            "the association was rejected (is our AE title allowed?)"
            if assoc.is_rejected
            else ("no answer (refused or unreachable: is the PACS running and is this its DICOM port?)")
        )
        raise PacsError(node.url, why)
    return assoc


def _find(node: DimseNode, query: Dataset) -> list[Dataset]:
    assoc = _associate(node, [FIND])
    found: list[Dataset] = []
    try:
        for status, identifier in assoc.send_c_find(query, FIND):
            if not status:
                raise PacsError(node.url, "the C-FIND was cut off (the association timed out or was aborted)")
            if status.Status in PENDING and identifier is not None:
                found.append(identifier)
            elif status.Status != 0x0000:
                raise PacsError(node.url, f"the C-FIND failed (status 0x{status.Status:04X})")
    finally:
        assoc.release()
    return found


def find_studies(
    node: DimseNode, patient_id: str | None = None, since: str | None = None, accession: str | None = None
) -> list[StudySummary]:
    query = Dataset()
    query.QueryRetrieveLevel = "STUDY"
    query.StudyInstanceUID = ""
    query.PatientID = patient_id or ""
    query.StudyDate = f"{since.replace('-', '')}-" if since else ""
    query.AccessionNumber = accession or ""
    query.ModalitiesInStudy = "MG"
    query.StudyDescription = ""
    query.NumberOfStudyRelatedInstances = ""
    rows = [
        StudySummary(
            study_uid=str(found.get("StudyInstanceUID", "")),
            patient_id=str(found.get("PatientID", "")),
            study_date=str(found.get("StudyDate", "")),
            accession=str(found.get("AccessionNumber", "")),
            description=str(found.get("StudyDescription", "")),
            instances=int(found.NumberOfStudyRelatedInstances)
            if str(found.get("NumberOfStudyRelatedInstances", "")).isdigit()
            else None,
        )
        for found in _find(node, query)
    ]
    return sorted(rows, key=lambda r: (r.study_date, r.study_uid), reverse=True)


def retrieve_study(node: DimseNode, study_uid: str, cache: Path, progress: Callable[[int], None] | None = None) -> Path:
    """The study's MG series into ``cache/<StudyInstanceUID>/`` by C-GET; that folder."""
    from pynetdicom import evt

    series_query = Dataset()
    series_query.QueryRetrieveLevel = "SERIES"
    series_query.StudyInstanceUID = study_uid
    series_query.SeriesInstanceUID = ""
    series_query.Modality = "MG"
    wanted = [
        str(s.SeriesInstanceUID)
        for s in _find(node, series_query)
        if UID_PATTERN.match(str(s.get("SeriesInstanceUID", "")))
    ]
    if not wanted:
        raise PacsError(node.url, f"study {study_uid} has no mammograms (MG series) on the server, or does not exist")
    folder = cache / study_uid
    folder.mkdir(parents=True, exist_ok=True)
    received: list[str] = []

    def store(event: Any) -> int:
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        sop = str(dataset.get("SOPInstanceUID", ""))
        if not UID_PATTERN.match(sop) or len(sop) > 64:
            return 0xC211  # refused: it would name a file
        dataset.save_as(folder / f"{sop}.dcm", enforce_file_format=True)
        received.append(sop)
        if progress is not None:
            progress(len(received))
        return 0x0000

    assoc = _associate(node, [GET, *IMAGE_CLASSES], roles=IMAGE_CLASSES, handlers=[(evt.EVT_C_STORE, store)])
    failed = 0
    try:
        for series_uid in wanted:
            query = Dataset()
            query.QueryRetrieveLevel = "SERIES"
            query.StudyInstanceUID = study_uid
            query.SeriesInstanceUID = series_uid
            for status, _ in assoc.send_c_get(query, GET):
                if not status:
                    raise PacsError(node.url, f"the retrieve of study {study_uid} was cut off (timed out or aborted)")
                if status.Status not in PENDING and status.Status != 0x0000:
                    failed += int(status.get("NumberOfFailedSuboperations", 0) or 1)
    finally:
        assoc.release()
    if failed or not received:
        raise PacsError(
            node.url, f"study {study_uid}: {len(received)} mammograms arrived, {failed} failed (partial retrieve)"
        )
    return folder


def store_results(node: DimseNode, files: Sequence[Path]) -> int:
    """C-STORE of the analysis's SEG and SR (their UIDs are the result's own: storing again replaces)."""
    datasets = [pydicom.dcmread(path) for path in files]
    if not datasets:
        return 0
    for dataset in datasets:  # a PACS need not take our RLE-compressed SEG: every one takes uncompressed
        if dataset.file_meta.TransferSyntaxUID.is_compressed:
            dataset.decompress(generate_instance_uid=False)  # the result's own UID: storing again replaces
    assoc = _associate(node, sorted({str(ds.SOPClassUID) for ds in datasets}))
    try:
        for dataset in datasets:
            try:
                status = assoc.send_c_store(dataset)
            except ValueError as exc:  # no accepted presentation context for it
                raise PacsError(node.url, f"the PACS does not accept {dataset.SOPClassUID.name} ({exc})") from None
            if not status or status.Status not in (0x0000, 0xB000, 0xB006, 0xB007):
                code = f"0x{status.Status:04X}" if status else "no answer"
                raise PacsError(node.url, f"the PACS did not store {dataset.SOPInstanceUID} ({code})")
    finally:
        assoc.release()
    return len(datasets)

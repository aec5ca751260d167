"""DIMSE for a PACS without DICOMweb (pynetdicom; no hand-written PDUs): C-FIND to list mammography
studies, C-GET or C-MOVE of the MG series into the cache, C-STORE of the SEG and SR results.

C-GET is the default: the server sends the images back on our own association, so no port of ours needs to
be reachable. Some PACS allow only C-MOVE: the PACS then opens a second association to a storage SCP of ours,
which it must know as a "modality" (our AE title, host and port). ``?move=PORT`` on the URL asks for that: we
listen on PORT (address ``MOMMI_PACS_LISTEN``, default 0.0.0.0, all interfaces) for the retrieve's duration.

Addressed as ``dimse://CALLED_AET@host:port[?move=PORT]`` (our calling AE title, also the move destination:
``MOMMI_PACS_AET``, default MOMMISLICER), a study as ``dimse://AET@host:port/studies/<StudyInstanceUID>``
(with ``?move=PORT`` after it for C-MOVE).
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pydicom
from pydicom.dataset import Dataset

from mommi.pacs.dicomweb import UID_PATTERN, PacsError, StudySummary, save_instance, study_folder

#: SOP classes a mammography study's images come in (C-GET must offer to receive each, C-MOVE's SCP accept each)
IMAGE_CLASSES = (
    "1.2.840.10008.5.1.4.1.1.1.2",  # Digital Mammography X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.1.2.1",  # - For Processing
    "1.2.840.10008.5.1.4.1.1.1.1",  # Digital X-Ray Image Storage - For Presentation
    "1.2.840.10008.5.1.4.1.1.7",  # Secondary Capture (digitised film)
)
#: Study Root Query/Retrieve Information Model - FIND, - GET and - MOVE (pynetdicom builds its sop_class names
#: at run time, which a type checker cannot see: the UIDs themselves are plainer)
FIND = "1.2.840.10008.5.1.4.1.2.2.1"
GET = "1.2.840.10008.5.1.4.1.2.2.3"
MOVE = "1.2.840.10008.5.1.4.1.2.2.2"
TIMEOUT_S = 30.0
PENDING = (0xFF00, 0xFF01)
#: C-MOVE "Refused: Move Destination unknown" (PS3.4 C.4.2.1.5)
MOVE_DESTINATION_UNKNOWN = 0xA801
#: C-STORE answers of our handler: "cannot understand" (not an instance of the study asked for, or a SOP
#: Instance UID that could not name a file) and "out of resources" (the cache cannot be written)
REFUSED, OUT_OF_RESOURCES = 0xC211, 0xA700
#: where the C-MOVE storage SCP listens: all interfaces, as a PACS on another machine must reach it
DEFAULT_LISTEN = "0.0.0.0"


@dataclass(frozen=True)
class DimseNode:
    called_aet: str
    host: str
    port: int
    #: C-MOVE to our storage SCP listening on this port; None: C-GET
    move_port: int | None = None

    @property
    def calling_aet(self) -> str:
        """Our AE title: the one the PACS must allow, and for C-MOVE the destination it must know."""
        return os.environ.get("MOMMI_PACS_AET", "MOMMISLICER")[:16]

    @property
    def url(self) -> str:
        return f"dimse://{self.called_aet}@{self.host}:{self.port}" + (
            f"?move={self.move_port}" if self.move_port is not None else ""
        )

    @classmethod
    def parse(cls, text: str) -> tuple[DimseNode, str | None]:
        """The node and, for ``.../studies/<UID>``, the study; ``?move=PORT`` (after either) asks for C-MOVE."""
        match = re.match(r"^dimse://([^@/?#]{1,16})@([^:/?#]+):(\d{1,5})(?:/studies/([^/?#]+))?/?(?:\?([^#]*))?$", text)
        if not match:
            raise PacsError(
                text,
                "a DIMSE PACS is given as dimse://AET@host:port[/studies/<StudyInstanceUID>][?move=PORT]",
            )
        aet, host, port, study, query = match.groups()
        if study is not None and (not UID_PATTERN.match(study) or len(study) > 64):
            raise PacsError(text, f"{study[:70]!r} is not a DICOM Study Instance UID")
        move_port = None
        for key, value in parse_qsl(query or "", keep_blank_values=True):
            if key != "move":
                raise PacsError(
                    text, f"unknown option {key[:30]!r}: the only one is ?move=PORT (retrieve by C-MOVE to that port)"
                )
            move_port = _port(text, value, "?move= (our storage port for C-MOVE)")
        return cls(aet, host, _port(text, port, "the PACS's port"), move_port), study


def _port(text: str, value: str, what: str) -> int:
    if not value.isdigit() or not 1 <= int(value) <= 65535:
        raise PacsError(text, f"{what} must be a port number from 1 to 65535, not {value[:20]!r}")
    return int(value)


def is_dimse_url(text: str) -> bool:
    return text.startswith("dimse://")


def listen_address() -> str:
    """The address the C-MOVE storage SCP binds: ``MOMMI_PACS_LISTEN`` (one interface, or 127.0.0.1 for a PACS
    on the same machine), else all interfaces."""
    return os.environ.get("MOMMI_PACS_LISTEN", "").strip() or DEFAULT_LISTEN


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


def _responses(
    node: DimseNode, what: str, send: Callable[[], Iterator[tuple[Dataset, Any]]]
) -> Iterator[tuple[Dataset, Any]]:
    """The statuses of one DIMSE request (with its identifier where one came), ending in a PacsError if the
    association broke off: pynetdicom then yields an empty status (aborted, timed out, the server gone), or
    refuses to send at all on an association that was aborted since the last request (RuntimeError)."""
    try:
        for status, identifier in send():
            if not status:
                raise PacsError(
                    node.url, f"{what} was cut off: the server stopped answering or the connection was lost"
                )
            yield status, identifier
    except RuntimeError as exc:  # "The association with a peer SCP must be established before ..."
        raise PacsError(node.url, f"{what} was cut off: the association was lost ({exc})") from None


def _find(node: DimseNode, query: Dataset) -> list[Dataset]:
    assoc = _associate(node, [FIND])
    found: list[Dataset] = []
    try:
        for status, identifier in _responses(node, "the C-FIND", lambda: assoc.send_c_find(query, FIND)):
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


class _Receiver:
    """The C-STORE handler of a retrieve, the same for C-GET (sub-operations on our own association) and
    C-MOVE (on the PACS's association to our SCP): each instance of the study asked for is saved as
    ``<SOPInstanceUID>.dcm`` (checked to be a UID: it names a file), ``progress`` called with the count.

    Anything else is refused: the SCP of a C-MOVE listens on a port others can reach, and only the study
    being retrieved belongs in its folder. pynetdicom turns an exception in a handler into a failure status
    and a log line, so a cache that cannot be written, or an exception from ``progress`` (a caller's way to
    stop the retrieve, as it does over DICOMweb), is kept here, raised by ``check``, and refuses the rest.
    """

    def __init__(self, url: str, study_uid: str, folder: Path, progress: Callable[[int], None] | None) -> None:
        self.url, self.study_uid, self.folder, self.progress = url, study_uid, folder, progress
        self.received = 0
        self.write_error: PacsError | None = None
        self.stopped: Exception | None = None  # raised by progress
        self._lock = threading.Lock()  # a C-MOVE SCP may serve more than one association at a time

    def __call__(self, event: Any) -> int:
        if self.stopped is not None or self.write_error is not None:
            return REFUSED
        dataset = event.dataset
        dataset.file_meta = event.file_meta
        sop = str(dataset.get("SOPInstanceUID", ""))
        if not UID_PATTERN.match(sop) or len(sop) > 64 or str(dataset.get("StudyInstanceUID", "")) != self.study_uid:
            return REFUSED
        try:
            save_instance(self.url, dataset, self.folder / f"{sop}.dcm")
        except PacsError as exc:
            self.write_error = exc
            return OUT_OF_RESOURCES
        with self._lock:
            self.received += 1
            count = self.received
        if self.progress is not None:
            try:
                self.progress(count)
            except Exception as exc:  # noqa: BLE001 - the caller's own, raised again in its thread by check
                self.stopped = exc
        return 0x0000

    @property
    def done(self) -> bool:
        """No further series need be asked for: the caller stopped the retrieve, or the cache is unwritable."""
        return self.stopped is not None or self.write_error is not None

    def check(self) -> None:
        if self.stopped is not None:
            raise self.stopped
        if self.write_error is not None:
            raise self.write_error


def _series(node: DimseNode, study_uid: str) -> dict[str, int | None]:
    """The study's MG series and how many instances each holds (None where the PACS does not say)."""
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study_uid
    query.SeriesInstanceUID = ""
    query.Modality = "MG"
    query.NumberOfSeriesRelatedInstances = ""
    series: dict[str, int | None] = {}
    for found in _find(node, query):
        uid = str(found.get("SeriesInstanceUID", ""))
        count = str(found.get("NumberOfSeriesRelatedInstances", ""))
        if UID_PATTERN.match(uid) and len(uid) <= 64:
            series[uid] = int(count) if count.isdigit() else None
    return series


def retrieve_study(node: DimseNode, study_uid: str, cache: Path, progress: Callable[[int], None] | None = None) -> Path:
    """The study's MG series into ``cache/<StudyInstanceUID>/`` by C-GET, or by C-MOVE for a node with a move
    port; that folder. As with WADO-RS (``dicomweb.study_folder``) the folder is replaced only by a complete
    retrieve: a failed, partial or interrupted one leaves no files of this attempt behind."""
    series = _series(node, study_uid)
    if not series:
        raise PacsError(node.url, f"study {study_uid} has no mammograms (MG series) on the server, or does not exist")
    counts = list(series.values())
    listed = sum(c for c in counts if c is not None) if None not in counts else None
    with study_folder(cache, study_uid) as folder:
        receiver = _Receiver(node.url, study_uid, folder, progress)
        retrieve = _get if node.move_port is None else _move
        try:
            failed = retrieve(node, study_uid, list(series), receiver)
        except PacsError as exc:
            receiver.check()
            if receiver.received:
                of = f" of its {listed}" if listed is not None else ""
                raise PacsError(
                    node.url, f"{exc.reason} (interrupted after {receiver.received}{of} mammograms arrived)"
                ) from None
            raise
        receiver.check()
        short = listed is not None and receiver.received < listed
        if failed or not receiver.received or short:
            of = f" of its {listed}" if listed is not None else ""
            raise PacsError(
                node.url,
                f"study {study_uid}: {receiver.received}{of} mammograms arrived, {failed} failed (partial retrieve)",
            )
    return cache / study_uid


def _series_query(study_uid: str, series_uid: str) -> Dataset:
    query = Dataset()
    query.QueryRetrieveLevel = "SERIES"
    query.StudyInstanceUID = study_uid
    query.SeriesInstanceUID = series_uid
    return query


def _failures(node: DimseNode, what: str, send: Callable[[], Iterator[tuple[Dataset, Any]]]) -> int:
    """Failed sub-operations of one C-GET or C-MOVE, from its final status (a failure that counts none: 1)."""
    failed = 0
    for status, _ in _responses(node, what, send):
        code = int(status.Status)
        if code == MOVE_DESTINATION_UNKNOWN:
            raise PacsError(node.url, _unknown_destination(node))
        if code not in PENDING and code != 0x0000:
            failed += int(status.get("NumberOfFailedSuboperations", 0) or 0) or 1
    return failed


def _unknown_destination(node: DimseNode) -> str:
    return (
        f"the PACS does not know {node.calling_aet} as a move destination (add it to its modalities: AE title "
        f"{node.calling_aet}, this machine's address, port {node.move_port}), or cannot reach that address and port"
    )


def _get(node: DimseNode, study_uid: str, wanted: list[str], receiver: _Receiver) -> int:
    """C-GET per series: the instances come back as C-STORE sub-operations on our association."""
    from pynetdicom import evt

    assoc = _associate(node, [GET, *IMAGE_CLASSES], roles=IMAGE_CLASSES, handlers=[(evt.EVT_C_STORE, receiver)])
    try:
        failed = 0
        for series_uid in wanted:
            if receiver.done:
                break
            failed += _failures(
                node,
                f"the retrieve (C-GET) of study {study_uid}",
                lambda s=series_uid: assoc.send_c_get(_series_query(study_uid, s), GET),  # type: ignore[misc]
            )
        return failed
    finally:
        assoc.release()


def _move(node: DimseNode, study_uid: str, wanted: list[str], receiver: _Receiver) -> int:
    """C-MOVE per series to our own AE title, with a storage SCP listening for the retrieve's duration.

    The SCP accepts the image classes in every transfer syntax pynetdicom knows (a PACS moves images as it
    stores them, JPEG 2000 or JPEG-LS included: the loader decodes them), and only associations that call our
    AE title. A PACS that does not know our AE title may answer "Move Destination unknown" (0xA801), but
    Orthanc answers a plain failure with nothing moved, as it does when the address it has for us does not
    answer: a failure before any connection reached the SCP is named as either.
    """
    from pynetdicom import ALL_TRANSFER_SYNTAXES, AE, evt

    assert node.move_port is not None
    scp = AE(ae_title=node.calling_aet)
    scp.acse_timeout = scp.dimse_timeout = scp.network_timeout = TIMEOUT_S
    scp.require_called_aet = True
    for uid in IMAGE_CLASSES:
        scp.add_supported_context(uid, ALL_TRANSFER_SYNTAXES)
    connections: list[str] = []  # peers that opened a connection to the SCP
    handlers: list[Any] = [
        (evt.EVT_C_STORE, receiver),
        (evt.EVT_CONN_OPEN, lambda event: connections.append(str(event.address[0]))),
    ]
    address = listen_address()
    try:
        server = scp.start_server((address, node.move_port), block=False, evt_handlers=handlers)
        assert server is not None  # non-blocking: the server is returned
    except OSError as exc:
        raise PacsError(
            node.url, f"cannot listen on port {node.move_port} ({address}) for the C-MOVE: {exc.strerror or exc}"
        ) from None
    try:
        assoc = _associate(node, [MOVE])
        try:
            failed = 0
            for series_uid in wanted:
                if receiver.done:
                    break
                failed += _failures(
                    node,
                    f"the retrieve (C-MOVE) of study {study_uid}",
                    lambda s=series_uid: assoc.send_c_move(  # type: ignore[misc]
                        _series_query(study_uid, s), node.calling_aet, MOVE
                    ),
                )
                if failed and not receiver.received:  # nothing arrived at all: the PACS did not send to us
                    if not connections:
                        raise PacsError(node.url, _unknown_destination(node))
                    raise PacsError(
                        node.url,
                        f"the PACS reached our storage SCP on port {node.move_port} but stored nothing there: does "
                        f"its modality entry call us {node.calling_aet}?",
                    )
            return failed
        finally:
            assoc.release()
    finally:
        server.shutdown()
        for association in list(server.active_associations):  # a PACS that keeps its store association open
            association.abort()


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

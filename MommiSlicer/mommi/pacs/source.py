"""One entry point for "a PACS", whichever protocol it speaks: the command line, the reader and the batch
code name a server by URL (``http(s)://.../dicom-web`` for DICOMweb, ``dimse://AET@host:port`` for DIMSE, with
``?move=PORT`` to retrieve by C-MOVE instead of C-GET) and a study by ``<server>/studies/<StudyInstanceUID>``
(options after it); this module picks the protocol so that no front end repeats the choice."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from mommi.pacs import dicomweb, dimse
from mommi.pacs.dicomweb import PacsError, StudySummary


def is_server_url(text: str) -> bool:
    """True for a DICOMweb base URL or a DIMSE node (with or without a study)."""
    return dicomweb.is_pacs_url(text) or dimse.is_dimse_url(text)


def study_url(server: str, study_uid: str) -> str:
    """The address of one study on a server, as ``analyze`` and ``retrieve`` take it: a server's options
    (``?move=PORT``) stay at the end, where they still apply to the study."""
    base, mark, options = server.partition("?")
    return f"{base.rstrip('/')}/studies/{study_uid}{mark}{options}"


def find(
    server: str, patient_id: str | None = None, since: str | None = None, accession: str | None = None
) -> list[StudySummary]:
    """Mammography studies on the server matching the filters, newest first (QIDO-RS or C-FIND).

    Raises:
        PacsError: the address is not a server, or the server cannot be queried.
    """
    if dimse.is_dimse_url(server):
        node, study = dimse.DimseNode.parse(server)
        if study is not None:
            raise PacsError(
                server, "give the server (dimse://AET@host:port[?move=PORT]) to search it, not one of its studies"
            )
        return dimse.find_studies(node, patient_id, since, accession)
    if not dicomweb.is_pacs_url(server):
        raise PacsError(
            server, "neither a DICOMweb base URL (http:// or https://) nor a DIMSE node (dimse://AET@host:port)"
        )
    return dicomweb.find_studies(server, patient_id, since, accession)


def retrieve(url: str, cache: Path | None = None, progress: Callable[[int], None] | None = None) -> Path:
    """The study's mammograms (WADO-RS, or C-GET / C-MOVE for a dimse:// node) in ``cache``; their folder.

    ``progress`` is called with the number of instances received so far (from the thread that received the
    last one). The folder is replaced only by a complete retrieve: after an error, no file of this attempt
    is in the cache.

    Raises:
        PacsError: the address is not a study, or the retrieve failed or was partial.
    """
    cache = cache or dicomweb.cache_root()
    if dimse.is_dimse_url(url):
        node, study_uid = dimse.DimseNode.parse(url)
        if study_uid is None:
            raise PacsError(url, "a study on a DIMSE PACS is given as dimse://AET@host:port/studies/<UID>[?move=PORT]")
        return dimse.retrieve_study(node, study_uid, cache, progress)
    return dicomweb.retrieve_study(dicomweb.StudyLocation.parse(url), cache, progress)


def send(url: str, files: Sequence[Path]) -> int:
    """DICOM result objects stored into the study they were made from (STOW-RS or C-STORE); how many.

    Raises:
        PacsError: the server refused them or could not be reached.
    """
    if dimse.is_dimse_url(url):
        node, _ = dimse.DimseNode.parse(url)
        return dimse.store_results(node, files)
    location = dicomweb.StudyLocation.parse(url)
    return dicomweb.store_results(location.base, location.study_uid, files)

"""DICOMweb: find mammography studies, retrieve one into a cache, store the results back into it.

Why a session of our own under dicomweb-client: a reading room's PACS sits behind TLS, asks for a login or
a token and is sometimes slow or briefly down. The ``requests`` session carries the credentials (from
``credentials``), verifies TLS certificates (on by default; a site CA bundle through ``MOMMI_PACS_CA_BUNDLE``),
and retries refused or failed requests with back-off (urllib3's Retry); every call has a timeout. Every
failure becomes a ``PacsError`` naming the server and the cause in words.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pydicom

from mommi.errors import MommiError
from mommi.pacs.credentials import auth_for

#: (connect, read) seconds: a PACS that does not answer is reported, not waited on forever
TIMEOUT_S = (10.0, 120.0)
RETRIES = 3
#: one page of answers (dicomweb-client's get_remaining pages by offset, which some servers ignore: it would
#: then never end); a worklist larger than this is narrowed with --patient, --since or --accession
MAX_STUDIES = 1000
MAX_INSTANCES = 1000
#: a DICOM UID: digits and dots, at most 64 characters (it names a cache folder and files)
UID_PATTERN = re.compile(r"^[0-9]+(\.[0-9]+)*$")
#: what a transfer that broke off is called, whichever layer noticed
LOST = "the connection was lost in the middle of the answer (the server stopped, or the network failed)"
#: seconds after which a partial retrieve folder is taken for one a killed process left
STALE_PARTIAL_S = 24 * 3600


class PacsError(MommiError):
    """A PACS that cannot be reached, refuses us, or does not have what was asked for."""

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


@dataclass(frozen=True)
class StudyLocation:
    """``<base URL>/studies/<StudyInstanceUID>`` split into the DICOMweb base and the study."""

    base: str
    study_uid: str

    @classmethod
    def parse(cls, text: str) -> StudyLocation:
        match = re.match(r"^(https?://.+?)/studies/([^/?#]+)/?$", text)
        if not match:
            raise PacsError(text, "a study on a PACS is given as <DICOMweb base URL>/studies/<StudyInstanceUID>")
        base, uid = match.groups()
        if not UID_PATTERN.match(uid) or len(uid) > 64:
            raise PacsError(text, f"{uid[:70]!r} is not a DICOM Study Instance UID")
        return cls(base, uid)


def is_pacs_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


@dataclass(frozen=True)
class StudySummary:
    study_uid: str
    patient_id: str
    study_date: str
    accession: str
    description: str
    instances: int | None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _session(base: str) -> Any:
    import requests
    from requests.adapters import HTTPAdapter
    from urllib3.util.retry import Retry

    session = requests.Session()
    session.auth = auth_for(base)
    bundle = os.environ.get("MOMMI_PACS_CA_BUNDLE")
    session.verify = bundle if bundle else True
    retry = Retry(
        total=RETRIES,
        connect=RETRIES,
        read=RETRIES,
        backoff_factor=0.5,
        status_forcelist=(429, 502, 503, 504),
        allowed_methods=frozenset({"GET", "POST"}),  # our POSTs (STOW-RS of fixed UIDs) may be repeated safely
        raise_on_status=False,
    )
    adapter = HTTPAdapter(max_retries=retry)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def client(base: str) -> Any:
    try:
        from dicomweb_client.api import DICOMwebClient
    except ImportError:
        raise PacsError(base, "PACS access needs the pacs extra: pip install 'mommislicer[pacs]'") from None

    if not is_pacs_url(base):
        raise PacsError(base, "a DICOMweb server is given by its http:// or https:// base URL")
    dicomweb = DICOMwebClient(url=base.rstrip("/"), session=_session(base), timeout=TIMEOUT_S)
    # one retry policy, the session's: dicomweb-client's own (5 attempts, 2 to 16 s apart, on any exception)
    # on top of it made a server that went away take some 20 attempts and 45 s to be reported
    dicomweb.set_http_retry_params(retry=False)
    return dicomweb


def _called(base: str, what: str | Callable[[], str], call: Callable[[], Any]) -> Any:
    """Run one DICOMweb request; turn every network and HTTP failure into a PacsError that says what happened.

    ``what`` may be a callable, read only on failure, so that a retrieve can say how far it got. A failure in
    the middle of an answer (a server stopped or restarted, a cable pulled) arrives from requests as a
    ChunkedEncodingError or a ConnectionError raised while the body is read, and from dicomweb-client as a
    part it cannot split or pydicom cannot read: each is named as a lost connection, never a traceback.
    """
    import http.client

    import requests
    import urllib3
    from pydicom.errors import InvalidDicomError

    def doing() -> str:
        return what() if callable(what) else what

    try:
        return call()
    except requests.exceptions.SSLError as exc:
        raise PacsError(
            base,
            f"{doing()}: the server's TLS certificate could not be verified ({_first(exc)}); give "
            "the site's CA bundle in MOMMI_PACS_CA_BUNDLE",
        ) from None
    except requests.exceptions.ConnectTimeout:
        raise PacsError(
            base, f"{doing()}: the server did not answer within {TIMEOUT_S[0]:.0f} s (unreachable?)"
        ) from None
    except requests.exceptions.ReadTimeout:
        raise PacsError(base, f"{doing()}: the server stopped answering (no data for {TIMEOUT_S[1]:.0f} s)") from None
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
        raise PacsError(base, f"{doing()}: {LOST} ({_first(exc)})") from None
    except requests.exceptions.ConnectionError as exc:
        raise PacsError(base, f"{doing()}: {_connection_cause(exc)}") from None
    except requests.exceptions.HTTPError as exc:
        raise PacsError(base, f"{doing()}: {_http_cause(exc)}") from None
    except requests.exceptions.RequestException as exc:
        raise PacsError(base, f"{doing()}: {_first(exc)}") from None
    except (urllib3.exceptions.HTTPError, http.client.HTTPException, ConnectionError) as exc:  # not wrapped
        raise PacsError(base, f"{doing()}: {LOST} ({_first(exc)})") from None
    except (InvalidDicomError, EOFError, ValueError) as exc:  # a cut or garbled multipart answer
        raise PacsError(
            base, f"{doing()}: the server's answer is not readable DICOM, cut off? ({_first(exc)})"
        ) from None


def _first(exc: BaseException) -> str:
    return str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__


def _connection_cause(exc: BaseException) -> str:
    """A requests ConnectionError in words: one raised while the answer was read (a read timeout, a connection
    aborted or reset) is a transfer that broke off; any other, a server that could not be reached."""
    text = str(exc)
    if "Read timed out" in text:  # a read timeout while the body streams comes as a ConnectionError
        return f"the server stopped answering (no data for {TIMEOUT_S[1]:.0f} s)"
    if "Connection aborted" in text or "reset by peer" in text or "Connection broken" in text:
        return f"{LOST} ({_first(exc)})"
    if "Connection refused" in text or "refused" in text.lower():
        cause = "connection refused: is the PACS running and is this its DICOMweb port?"
    elif "Name or service not known" in text or "getaddrinfo" in text or "NameResolution" in text:
        cause = "the host name is not known"
    elif "Max retries exceeded" in text:
        cause = f"no answer after {RETRIES} retries"
    else:
        cause = _first(exc)
    return f"cannot connect ({cause})"


def _http_cause(exc: Any) -> str:
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status is None:
        return _first(exc)
    return {
        401: "HTTP 401: the server asks for a login (set MOMMI_PACS_TOKEN, or MOMMI_PACS_USER and MOMMI_PACS_PASSWORD)",
        403: "HTTP 403: these credentials may not do this on the server",
        404: "HTTP 404: the server has no such study (or this is not its DICOMweb base URL)",
    }.get(int(status), f"HTTP {status}: {_first(exc)}")


def _value(item: dict[str, Any], tag: str) -> str:
    values = item.get(tag, {}).get("Value") or [""]
    value = values[0]
    if isinstance(value, dict):  # a person name
        return str(value.get("Alphabetic", ""))
    return str(value)


def find_studies(
    base: str, patient_id: str | None = None, since: str | None = None, accession: str | None = None
) -> list[StudySummary]:
    """Mammography studies (ModalitiesInStudy=MG) on the server matching the filters, newest first."""
    filters: dict[str, Any] = {"ModalitiesInStudy": "MG"}
    if patient_id:
        filters["PatientID"] = patient_id
    if since:
        filters["StudyDate"] = f"{since.replace('-', '')}-"
    if accession:
        filters["AccessionNumber"] = accession
    found = _called(
        base,
        "searching for studies",
        lambda: client(base).search_for_studies(
            search_filters=filters, fields=["StudyDescription", "NumberOfStudyRelatedInstances"], limit=MAX_STUDIES
        ),
    )
    rows = [
        StudySummary(
            study_uid=_value(item, "0020000D"),
            patient_id=_value(item, "00100020"),
            study_date=_value(item, "00080020"),
            accession=_value(item, "00080050"),
            description=_value(item, "00081030"),
            instances=int(_value(item, "00201208")) if _value(item, "00201208").isdigit() else None,
        )
        for item in found or []
    ]
    return sorted(rows, key=lambda r: (r.study_date, r.study_uid), reverse=True)


def retrieve_study(location: StudyLocation, cache: Path, progress: Callable[[int], None] | None = None) -> Path:
    """The study's mammograms (its MG series, WADO-RS) as files in ``cache/<StudyInstanceUID>/``; that folder.

    Only MG series: a study on a PACS also holds reports, presentation states and earlier CAD results (our
    own SEG and SR after ``--send``), which are not images to read. Files are saved as they arrive, under
    their SOP Instance UID (checked to be a UID: it names the file), into a folder that replaces the study's
    cache folder only once every listed instance arrived whole (``study_folder``). A study with no mammogram,
    fewer instances than the server lists, a transfer that broke off or an image cut short is an error: an
    analysis of part of a study would look complete.
    """
    base, uid = location.base, location.study_uid
    dicomweb = client(base)
    series = _called(
        base,
        "listing the study's mammography series",
        lambda: dicomweb.search_for_series(study_instance_uid=uid, search_filters={"Modality": "MG"}, limit=100),
    )
    wanted = [_value(item, "0020000E") for item in series or []]
    wanted = [s for s in wanted if UID_PATTERN.match(s) and len(s) <= 64]
    if not wanted:
        raise PacsError(base, f"study {uid} has no mammograms (MG series) on the server, or does not exist")
    listed = 0
    for series_uid in wanted:
        instances = _called(
            base,
            "listing the study's instances",
            lambda s=series_uid: dicomweb.search_for_instances(  # type: ignore[misc]  # a bound default
                study_instance_uid=uid, search_filters={"SeriesInstanceUID": s}, limit=MAX_INSTANCES
            ),
        )
        listed += len(instances or [])
    count = 0

    def doing() -> str:
        if not count:
            return f"retrieving study {uid}"
        return f"the retrieve of study {uid} was interrupted after {count} of its {listed} mammograms arrived"

    with study_folder(cache, uid) as folder:

        def fetch() -> None:
            nonlocal count
            for series_uid in wanted:
                for dataset in dicomweb.iter_series(uid, series_uid):
                    sop = str(dataset.get("SOPInstanceUID", ""))
                    if not UID_PATTERN.match(sop) or len(sop) > 64:
                        raise PacsError(
                            base, f"the server sent an instance whose SOP Instance UID {sop[:70]!r} is not a UID"
                        )
                    short = cut_short(dataset)
                    if short:
                        raise PacsError(base, f"{doing()}: instance {sop} arrived cut short ({short})")
                    save_instance(base, dataset, folder / f"{sop}.dcm")
                    count += 1
                    if progress is not None:
                        progress(count)

        _called(base, doing, fetch)
        if count < listed:
            raise PacsError(base, f"study {uid}: only {count} of its {listed} mammograms arrived (partial retrieve)")
    return cache / uid


def cut_short(dataset: pydicom.Dataset) -> str | None:
    """Why an image read from a transfer is incomplete (None: it is not, as far as can be told).

    A multipart answer that ends without its closing boundary (a server that stopped while the body was
    delimited by closing the connection) still gives dicomweb-client a last part, and pydicom reads a cut
    DICOM file without complaint, only with shorter or no pixel data: saved, it would be an image missing rows.
    """
    if "PixelData" not in dataset:
        return "no pixel data"
    meta = getattr(dataset, "file_meta", None)
    syntax = getattr(meta, "TransferSyntaxUID", None)
    if syntax is not None and syntax.is_compressed:
        return None  # encapsulated: pydicom itself fails on a fragment list without its delimiter
    try:
        bits = int(dataset.BitsAllocated)
        frames = int(dataset.get("NumberOfFrames", 1) or 1)
        expected = int(dataset.Rows) * int(dataset.Columns) * int(dataset.get("SamplesPerPixel", 1)) * frames
    except (AttributeError, TypeError, ValueError):
        return None  # not enough of a header to tell: the loader judges the file
    expected_bytes = (expected * bits + 7) // 8
    got = len(dataset.PixelData)
    return f"{got} of {expected_bytes} bytes of pixel data" if got < expected_bytes else None


def save_instance(url: str, dataset: pydicom.Dataset, path: Path) -> None:
    """One retrieved instance as a DICOM file; a full disk or an unwritable cache is a PacsError naming the
    cache (the retrieve cannot go on), not an OS error from the middle of a transfer."""
    try:
        dataset.save_as(path, enforce_file_format=True)
    except OSError as exc:
        raise PacsError(
            url, f"cannot save the study into the cache {path.parent.parent}: {exc.strerror or exc}"
        ) from None


@contextmanager
def study_folder(cache: Path, study_uid: str) -> Iterator[Path]:
    """A new, empty folder to retrieve one study into, which becomes ``cache/<StudyInstanceUID>`` only when
    the block completes; on any error (a partial retrieve, a server that stopped) it is deleted and an earlier
    complete copy stays as it was.

    Why not write into ``cache/<UID>`` directly: that folder is what ``analyze`` reads (and what a user may
    give it later), so it must never hold part of a study, nor files of an earlier version of the study that
    the server no longer has. The new folder is a hidden sibling (``.<UID>.partial-*``) on the same file
    system, so the swap is two renames. Partial folders left by a killed process are removed after a day.
    """
    try:
        cache.mkdir(parents=True, exist_ok=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{study_uid}.partial-", dir=cache))
    except OSError as exc:
        raise PacsError(str(cache), f"cannot create a folder in the PACS cache: {exc.strerror or exc}") from None
    for stale in cache.glob(f".{study_uid}.partial-*"):  # a process killed mid-retrieve left it
        try:
            if stale != partial and time.time() - stale.stat().st_mtime > STALE_PARTIAL_S:
                shutil.rmtree(stale, ignore_errors=True)
        except OSError:
            pass
    try:
        yield partial
        final = cache / study_uid
        old = cache / f".{study_uid}.old-{os.getpid()}-{time.monotonic_ns()}"
        try:
            final.rename(old)
        except FileNotFoundError:
            pass
        try:
            partial.rename(final)
        except OSError as exc:
            if not final.is_dir():  # not a race lost to another retrieve of the same study
                if old.is_dir():
                    old.rename(final)
                raise PacsError(str(final), f"cannot put the retrieved study in place: {exc.strerror or exc}") from None
            # else another retrieve of this study put its own complete copy in place first: that one stays
        shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def store_results(base: str, study_uid: str, files: Sequence[Path]) -> int:
    """Store DICOM objects (the SEG and SR of an analysis) into the study (STOW-RS); returns how many.

    Their UIDs are derived from the result (``dicom_outputs.result_uid``), so storing the same result again
    replaces, it does not duplicate."""
    datasets = [pydicom.dcmread(path) for path in files]
    if not datasets:
        return 0
    _called(
        base,
        f"storing {len(datasets)} result objects in study {study_uid}",
        lambda: client(base).store_instances(datasets, study_instance_uid=study_uid),
    )
    return len(datasets)


def cache_root() -> Path:
    """Where retrieved studies are kept: ``MOMMI_PACS_CACHE``, else the user's cache folder."""
    configured = os.environ.get("MOMMI_PACS_CACHE")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "mommislicer" / "pacs"


def host_of(url: str) -> str:
    return urlsplit(url).netloc

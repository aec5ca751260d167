"""Typed errors for everything a user can feed the engine.

Each error names the file it is about and carries a sentence that a radiographer
understands (``reason``), so the front ends can show it as is. One bad file never
stops the rest of a study from loading: loaders collect these errors instead of
raising them, and raise only when the caller asked for something that cannot be
delivered at all (for example ``load_study`` on a folder of two patients).
"""

from __future__ import annotations

from pathlib import Path


class MommiError(Exception):
    """Base class of every error the engine raises on purpose (bad input, a broken set-up, a refused review
    action, a zoo that fails its checks). Front ends catch this one root in one place - the command line's
    ``main``, the reader's analysis worker, the Slicer module's job - plus ``AnalysisCancelled`` (a user's
    cancel, not an error); anything else reaching them is a bug and is reported as one."""


class StudyInputError(MommiError):
    """A file or folder that cannot be used as (part of) a mammography study."""

    #: short machine-readable name, stable across releases (used in --json output)
    code = "study_input_error"

    def __init__(self, path: str | Path | None, reason: str) -> None:
        self.path = Path(path) if path is not None else None
        self.reason = reason
        #: the study the file belongs to, when its header could be read
        self.study_uid: str | None = None
        where = f"{self.path}: " if self.path is not None else ""
        super().__init__(f"{where}{reason}")

    def __reduce__(self):  # noqa: ANN204 - pickling: errors cross process boundaries (parallel decoding, batches)
        return type(self), (self.path, self.reason), self.__dict__

    def to_dict(self) -> dict[str, str | None]:
        return {
            "code": self.code,
            "type": type(self).__name__,
            "path": str(self.path) if self.path is not None else None,
            "reason": self.reason,
        }


class MissingPathError(StudyInputError):
    """A path given by the user does not exist or cannot be listed."""

    code = "missing_path"


class NotDicomError(StudyInputError):
    """The file is neither DICOM nor a supported research image format."""

    code = "not_dicom"


class TruncatedFileError(StudyInputError):
    """The file ends before its header or its pixel data is complete."""

    code = "truncated"


class InvalidHeaderError(StudyInputError):
    """A DICOM header element holds a value that breaks the standard (e.g. text in a number)."""

    code = "invalid_header"


class NotMammographyError(StudyInputError):
    """A valid DICOM file of another kind (CT, MR, a report, a presentation state...)."""

    code = "not_mammography"


class UnsupportedImageError(StudyInputError):
    """A mammography object this version cannot read (tomosynthesis, colour, ...)."""

    code = "unsupported_image"


class UnreadablePixelDataError(StudyInputError):
    """The header is fine but the pixels cannot be decoded."""

    code = "unreadable_pixels"


class UnknownViewError(StudyInputError):
    """Neither the tags nor the descriptions say which breast or which view this is."""

    code = "unknown_view"


class ConflictingLateralityError(StudyInputError):
    """Two explicit sources in one file disagree on left versus right."""

    code = "conflicting_laterality"


class SidecarError(StudyInputError):
    """The JSON sidecar of a PNG/PGM research image is missing or invalid."""

    code = "bad_sidecar"


class MixedPatientsError(StudyInputError):
    """Images of different patients were offered as one study."""

    code = "mixed_patients"


class NoStudyFoundError(StudyInputError):
    """The paths hold no usable mammogram at all (empty folder, only bad files)."""

    code = "no_study"


class MultipleStudiesError(StudyInputError):
    """One study was asked for, but the paths hold several (a prior and a current exam)."""

    code = "multiple_studies"


class RuntimeSetupError(MommiError):
    """The inference runtime is missing or installed twice (onnxruntime and -gpu)."""


class DatasetImportError(MommiError):
    """A public dataset folder that cannot be imported into a training manifest.

    Raised for a missing or malformed file of the dataset's documented layout (no
    Info.txt, a CSV without the expected columns, ...) and when nothing at all
    could be imported; ``path`` names that file and ``reason`` says why.
    """

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

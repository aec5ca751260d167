"""Grouping images into studies, never mixing patients, one image per view.

Rules, in order:
1. The same SOP Instance UID twice: the first file (path order) is kept, the
   others are set aside as duplicates.
2. Images are grouped by Study Instance UID (research images: the sidecar's
   study_id), or by the exam key of a dataset profile where a public dataset gives
   each view its own Study UID (CBIS-DDSM). Inside one study every image must belong
   to one patient (PatientID, else PatientName, or the woman a profile names);
   images of another patient under the same study UID are refused with
   MixedPatientsError, the majority patient's images are kept.
3. Work-up views (ML, XCCL, spot, magnification, ...), FOR PROCESSING images and
   files a dataset profile sets aside (ROI masks, crops, subtracted CESM images) are
   set aside with the reason (FOR PROCESSING only when not explicitly allowed).
4. Two images claiming the same screening view: the most recent acquisition is
   used (then the higher Instance Number, then the later path); the other is set
   aside and the study carries a warning naming both files.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict

from mommi.errors import MixedPatientsError, StudyInputError
from mommi.study.model import MammoImage, SetAside, Study, View


def patient_key(patient_id: str) -> str:
    """A pseudonymous, stable key for a patient (never the identifier itself)."""
    digest = hashlib.sha256(patient_id.encode("utf-8")).hexdigest()[:12]
    return f"P-{digest}"


def _patient_identity(image: MammoImage) -> str:
    return image.patient_id or image.patient_name or ""


def _recency(image: MammoImage) -> tuple[str, int, str]:
    return (image.acquisition_datetime, image.instance_number or 0, str(image.path))


def group_into_studies(
    images: list[MammoImage],
    file_errors: list[StudyInputError],
    allow_for_processing: bool = False,
) -> tuple[list[Study], list[StudyInputError]]:
    """Return the studies and the errors that belong to no study."""
    by_study: dict[str, list[MammoImage]] = defaultdict(list)
    duplicates: dict[str, list[SetAside]] = defaultdict(list)
    first_of_uid: dict[str, MammoImage] = {}
    for image in images:
        study_key = image.exam_key or image.study_uid or f"no-study-uid:{_patient_identity(image)}:{image.study_date}"
        # a file without a SOP Instance UID cannot be a duplicate by UID (an empty UID is not a shared one)
        earlier = first_of_uid.get(image.sop_instance_uid) if image.sop_instance_uid else None
        if earlier is not None:
            duplicates[study_key].append(SetAside(image, f"duplicate of {earlier.path} (same SOP Instance UID)"))
            continue
        if image.sop_instance_uid:
            first_of_uid[image.sop_instance_uid] = image
        by_study[study_key].append(image)

    studies: list[Study] = []
    for study_key, members in by_study.items():
        study = _build_study(study_key, members, allow_for_processing)
        study.set_aside = duplicates.pop(study_key, []) + study.set_aside
        studies.append(study)

    orphans: list[StudyInputError] = []
    by_uid = {s.study_uid: s for s in studies}  # an exam key where a profile grouped the files
    for error in file_errors:
        owner = by_uid.get(error.study_uid or "")
        (owner.errors if owner is not None else orphans).append(error)
    studies.sort(key=lambda s: (s.patient_key, s.study_date, s.study_uid))
    return studies, orphans


def _build_study(study_key: str, members: list[MammoImage], allow_for_processing: bool) -> Study:
    identities = Counter(_patient_identity(m) for m in members)
    # majority patient; ties go to the patient of the first file in path order
    first_identity = _patient_identity(members[0])
    patient = max(identities, key=lambda p: (identities[p], p == first_identity))
    sample = next(m for m in members if _patient_identity(m) == patient)
    study = Study(
        study_uid=sample.exam_key or sample.study_uid or study_key,
        patient_key=patient_key(patient),
        study_date=sample.study_date,
        profile=", ".join(sorted({m.profile for m in members if m.profile})),
    )
    if sample.exam_key:
        uids = {m.study_uid for m in members if m.study_uid}
        if len(uids) > 1:
            study.warnings.append(
                f"{sample.profile}: one exam gathered from {len(uids)} Study Instance UIDs "
                "(the dataset gives each view its own)"
            )
    elif not sample.study_uid:
        study.warnings.append("images carry no Study Instance UID; grouped by patient and date")

    candidates: dict[View, list[MammoImage]] = defaultdict(list)
    for image in members:
        if _patient_identity(image) != patient:
            error = MixedPatientsError(
                image.path,
                "this image belongs to another patient than the rest of its study "
                "(same Study Instance UID, different Patient ID); it was not loaded",
            )
            error.study_uid = study.study_uid
            study.errors.append(error)
        elif image.set_aside_reason:
            study.set_aside.append(SetAside(image, image.set_aside_reason))
        elif image.view is None:
            study.set_aside.append(SetAside(image, f"{image.label} is not a screening CC/MLO view"))
        elif image.is_for_processing and not allow_for_processing:
            study.set_aside.append(SetAside(image, "FOR PROCESSING image (raw data), not for reading"))
        else:
            candidates[image.view].append(image)

    for view, options in candidates.items():
        options.sort(key=_recency, reverse=True)
        chosen, *others = options
        study.images[view] = chosen
        for other in others:
            study.set_aside.append(
                SetAside(
                    other,
                    f"{view.value} appears more than once; {chosen.path.name} is used "
                    "(most recent acquisition, then the higher Instance Number)",
                )
            )
        if others:
            study.warnings.append(
                f"{view.value}: {len(options)} images; used {chosen.path.name} (most recent acquisition), "
                f"set aside {', '.join(o.path.name for o in others)}"
            )
    for view in study.missing_views:
        study.warnings.append(f"{view.value} is missing")
    return study

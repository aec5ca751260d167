"""The public datasets `mommi benchmark` knows: how each one's truth is imported and read.

One frozen ``BenchmarkDataset`` per dataset says what the benchmark may claim on
it: which importer reads it (``mommi.data.importers.importers()``), whether it has
an official split and where the importer keeps it, whether its lesions have
locations (no locations: no FROC), and which malignancy and BI-RADS truth it has.
The benchmark computes only what the declaration allows and says in the report
why the rest is missing, so a table never shows a number the data cannot support.
"""

from __future__ import annotations

from dataclasses import dataclass

from mommi.errors import MommiError
from mommi.data.manifest import Record

#: --split value -> the dataset's own name of that split (record.extra["source_split"])
SPLIT_NAMES = {"test": "test", "train": "training"}
SPLIT_CHOICES = ("test", "train", "all")


@dataclass(frozen=True)
class BenchmarkDataset:
    name: str  # the command-line name
    importer: str  # key of mommi.data.importers.importers()
    title: str  # as the dataset's publishers name it
    split_key: str | None  # record.extra key holding the official split; None: the dataset has none
    lesion_locations: bool  # masses have boxes (FROC possible)
    malignancy_truth: str | None  # "lesion": finding pathology; "breast": extra["breast_pathology"]; None
    birads_truth: str | None  # "finding": finding birads; "image": record.image_birads; None


DATASETS: dict[str, BenchmarkDataset] = {
    d.name: d
    for d in (
        BenchmarkDataset("cbis-ddsm", "cbis-ddsm", "CBIS-DDSM", "source_split", True, "lesion", "finding"),
        BenchmarkDataset("inbreast", "inbreast", "INbreast", None, True, "lesion", "image"),
        BenchmarkDataset("vindr-mammo", "vindr-mammo", "VinDr-Mammo", "source_split", True, None, "finding"),
        BenchmarkDataset("cmmd", "cmmd", "CMMD", None, False, "breast", None),
        BenchmarkDataset("cdd-cesm", "cdd-cesm", "CDD-CESM", None, True, "lesion", "image"),
    )
}


class BenchmarkSetupError(MommiError, ValueError):
    """A dataset or option the benchmark cannot run with; the message says which and why."""


def dataset(name: str) -> BenchmarkDataset:
    try:
        return DATASETS[name]
    except KeyError:
        raise BenchmarkSetupError(f"unknown dataset {name!r}; choose from {', '.join(DATASETS)}") from None


def select_records(spec: BenchmarkDataset, records: list[Record], split: str) -> tuple[list[Record], str]:
    """The records the benchmark evaluates for ``split`` and a sentence saying what was taken.

    A dataset without an official split is evaluated on every image whatever
    ``split`` says (there is nothing else to honour), and the sentence says so.
    """
    if split not in SPLIT_CHOICES:
        raise BenchmarkSetupError(f"split {split!r} is not one of {', '.join(SPLIT_CHOICES)}")
    if spec.split_key is None:
        note = f"{spec.title} has no official train/test split: every image is evaluated"
        if split != "all":
            note += f" (--split {split} cannot be honoured)"
        return list(records), note
    if split == "all":
        return list(records), f"every image of {spec.title} (official training and test splits together)"
    wanted = SPLIT_NAMES[split]
    chosen = [r for r in records if str(r.extra.get(spec.split_key, "")).lower() == wanted]
    return chosen, f"the official {spec.title} {wanted} split ({spec.split_key} = {wanted!r})"


def has_locations(spec: BenchmarkDataset, records: list[Record]) -> bool:
    """False when the dataset, or any chosen record, says its lesions have no location."""
    return spec.lesion_locations and all(r.extra.get("lesion_location_known", True) is not False for r in records)

"""mini-MIAS (original distribution: ``mdbNNN.pgm`` + ``Info.txt``) -> training manifest.

``Info.txt`` holds one line per abnormality after a free-text header::

    mdb001 G CIRC B 535 425 197     reference, tissue, class, severity, x, y, radius
    mdb003 D NORM                   normal image
    mdb216 D CALC M *NOTE 3*        widely distributed calcifications: no location
    mdb059 F CIRC B                 a mass without a location

Side: odd file numbers are LEFT breasts, even ones RIGHT, as the films' lead markers
say (mdb004, mdb020 "R ML"; mdb007 "L ML"); the films are mirrored relative to the
standard display, so a right breast's chest wall is on the image's left. Both rules
live in ``mommi.study.profiles.mias`` (study loading reads MIAS folders by them too);
each record names them in ``extra["laterality_source"]`` and ``extra["chest_wall"]``.

Only circumscribed (CIRC), spiculated (SPIC) and ill-defined (MISC) masses with a
location become findings; every other abnormality (and a mass without a location)
goes to ``record.extra["other_findings"]`` so that the image is never mistaken for
a normal one.

Coordinate convention
---------------------
MIAS gives integer (x, y) in pixels with the origin at the BOTTOM-left corner of
the 1024 x 1024 image. We convert with ``y_top_left = height - y`` (1024 - y),
not 1023 - y: MIAS counts y from the bottom EDGE of the image, so height - y is
the distance from the top edge; the pixel-centre row would be height - y - 0.5,
and both integer conventions are within half a pixel (0.1 mm) of it, far below
the precision of the hand-marked centres and radii. 1024 - y is the convention
of the manifest schema's own example (mdb001 -> centre [535, 599]) and of most
published MIAS work, so boxes agree with theirs. x is unchanged. Boxes are
centre +- radius clipped to the pixel grid [0, width - 1] x [0, height - 1]; a
centre outside the image (none in the real data) demotes that mass to an other
finding rather than producing an inverted box.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mommi.data.importers._common import require_dir, require_file, sort_records
from mommi.data.manifest import Finding, Manifest, Record
from mommi.errors import DatasetImportError
from mommi.study.profiles.mias import INFO_NAME, LATERALITY_RULE, chest_wall_of, laterality_of, patient_of

log = logging.getLogger(__name__)

SOURCE = "mias"
SPACING_MM = [0.2, 0.2]  # the mini-MIAS images were reduced to a 200 micron pixel edge
MASS_CLASSES = {"CIRC": "circumscribed", "SPIC": "spiculated", "MISC": "ill-defined"}
OTHER_CLASSES = {"CALC": "calcification", "ARCH": "architectural_distortion", "ASYM": "asymmetry"}
SEVERITY = {"B": "benign", "M": "malignant"}
_DATA_LINE = re.compile(r"^mdb(\d{3})\b")


@dataclass
class InfoLine:
    """One abnormality line of Info.txt; location fields are None when the line has none."""

    ref: str
    number: int
    tissue: str
    klass: str
    severity: str | None
    x: int | None
    y: int | None
    radius: int | None

    @property
    def located(self) -> bool:
        return self.x is not None and self.y is not None and self.radius is not None


def import_mias(source: Path) -> Manifest:
    """Read ``Info.txt`` and record every ``mdbNNN.pgm`` present in ``source``.

    The shared copy of MIAS may be a subset, so images listed in Info.txt but not
    on disk are skipped (logged at debug level: that is expected), and images on
    disk that Info.txt does not describe are skipped with a warning (their truth
    is unknown, so they must not be taken as normal).
    """
    root = require_dir(Path(source), "MIAS")
    lines = parse_info(require_file(root / INFO_NAME, "MIAS Info.txt"))
    by_ref: dict[str, list[InfoLine]] = {}
    for line in lines:
        by_ref.setdefault(line.ref, []).append(line)
    for pgm in sorted(root.glob("mdb*.pgm")):
        if pgm.stem not in by_ref:
            log.warning("%s: not listed in %s; skipped (its findings are unknown)", pgm, INFO_NAME)
    records = []
    for ref, ref_lines in by_ref.items():
        image = root / f"{ref}.pgm"
        if not image.is_file():
            log.debug("%s: listed in %s but not present; skipped", image, INFO_NAME)
            continue
        size = pgm_size(image)
        if size is None:
            log.warning("%s: not a readable binary/plain PGM header; skipped", image)
            continue
        records.append(_record(ref, ref_lines, image.name, *size))
    if not records:
        raise DatasetImportError(root, f"no mdbNNN.pgm file listed in {INFO_NAME} was found")
    return Manifest(source=SOURCE, root=str(root), records=sort_records(records))


def parse_info(path: Path) -> list[InfoLine]:
    """Every data line of Info.txt, whatever its shape; raises when there are none."""
    try:
        text = path.read_text(encoding="latin-1")
    except OSError as exc:
        raise DatasetImportError(path, f"cannot read the file ({exc})") from exc
    lines = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        match = _DATA_LINE.match(line)
        if not match:
            continue
        parsed = _parse_line(line.split(), int(match.group(1)))
        if parsed is None:
            log.warning("%s line %d: %r has no tissue/class; ignored", path, number, line)
            continue
        lines.append(parsed)
    if not lines:
        raise DatasetImportError(path, "no data lines such as 'mdb001 G CIRC B 535 425 197'")
    return lines


def _parse_line(tokens: list[str], number: int) -> InfoLine | None:
    """Tokens after the class are optional: severity, then x y radius when all three are integers."""
    if len(tokens) < 3:
        return None
    rest = tokens[3:]
    severity = None
    if rest and rest[0].upper() in SEVERITY:
        severity = SEVERITY[rest[0].upper()]
        rest = rest[1:]
    x = y = radius = None
    if len(rest) >= 3 and all(token.isdigit() for token in rest[:3]):
        x, y, radius = (int(token) for token in rest[:3])
    return InfoLine(tokens[0], number, tokens[1].upper(), tokens[2].upper(), severity, x, y, radius)


def pgm_size(path: Path) -> tuple[int, int] | None:
    """(width, height) from the PGM header (P5 binary or P2 plain); None when it is not one."""
    try:
        with path.open("rb") as handle:
            head = handle.read(512)
    except OSError:
        return None
    fields: list[bytes] = []
    for line in head.split(b"\n"):
        fields.extend(line.split(b"#", 1)[0].split())
        if len(fields) >= 3:
            break
    if len(fields) < 3 or fields[0] not in (b"P5", b"P2") or not (fields[1].isdigit() and fields[2].isdigit()):
        return None
    return int(fields[1]), int(fields[2])


def _record(ref: str, lines: list[InfoLine], image_path: str, width: int, height: int) -> Record:
    """One image: odd numbers are left breasts, even right; (odd n, n + 1) is one patient."""
    number = lines[0].number
    patient = patient_of(number)
    side = laterality_of(number)
    findings: list[Finding] = []
    others: list[dict[str, Any]] = []
    for line in lines:
        if line.klass == "NORM":
            continue
        if line.klass in MASS_CLASSES and line.located and _inside(line, width, height):
            findings.append(_mass(line, width, height))
        else:
            others.append(_other(line, height))
    extra: dict[str, Any] = {
        "background_tissue": lines[0].tissue,
        "laterality_source": LATERALITY_RULE,
        "chest_wall": chest_wall_of(side),
    }
    if others:
        extra["other_findings"] = others
    return Record(
        patient_id=patient,
        study_id=patient,
        image_id=ref,
        view="MLO",
        laterality=side.value,
        image_path=image_path,
        source=SOURCE,
        spacing_mm=list(SPACING_MM),
        width=width,
        height=height,
        findings=findings,
        extra=extra,
    )


def _top_left(line: InfoLine, height: int) -> list[int]:
    """[x, y] with the origin moved from the bottom-left to the top-left (see module docstring)."""
    assert line.x is not None and line.y is not None
    return [line.x, height - line.y]


def _inside(line: InfoLine, width: int, height: int) -> bool:
    """A centre outside the image would give an inverted box: such a mass is kept as 'other'."""
    cx, cy = _top_left(line, height)
    if 0 <= cx < width and 0 <= cy < height:
        return True
    log.warning(
        "%s: mass centre %s lies outside the %dx%d image; kept as an other finding", line.ref, [cx, cy], width, height
    )
    return False


def _mass(line: InfoLine, width: int, height: int) -> Finding:
    assert line.radius is not None
    cx, cy = _top_left(line, height)
    r = line.radius
    box: list[float] = [max(0, cx - r), max(0, cy - r), min(width - 1, cx + r), min(height - 1, cy + r)]
    return Finding(
        kind="mass",
        box=box,
        pathology=line.severity,
        birads=None,
        center=[cx, cy],
        extra={"mias_class": line.klass, "shape": MASS_CLASSES[line.klass], "radius": r},
    )


def _other(line: InfoLine, height: int) -> dict[str, Any]:
    """A non-mass abnormality, or a mass without a location, kept so the image is not 'normal'."""
    kind = "mass" if line.klass in MASS_CLASSES else OTHER_CLASSES.get(line.klass)
    if kind is None:
        log.warning("%s: unknown MIAS class %r kept as an other finding", line.ref, line.klass)
    entry: dict[str, Any] = {"mias_class": line.klass, "kind": kind or line.klass.lower(), "pathology": line.severity}
    if line.located:
        entry["center"] = _top_left(line, height)
        entry["radius"] = line.radius
    else:
        entry["located"] = False
    return entry

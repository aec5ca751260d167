"""The study inspection report: one dict for JSON, one text rendering for people.

Shared by `mommi study inspect` and the Slicer module so both say the same thing.
"""

from __future__ import annotations

from typing import Any

from mommi.study.model import StudyCollection
from mommi.study.profiles import PROFILES


def profile_rules(names: str) -> str:
    """The rules of the named profile(s) ("CBIS-DDSM" or "CMMD, INbreast"), as the README lists them."""
    wanted = {n.strip() for n in names.split(",")}
    return "; ".join(p.rules for p in PROFILES if p.name in wanted)


def inspection_report(collection: StudyCollection) -> dict[str, Any]:
    report = collection.summary()
    report["counts"] = {
        "studies": len(collection.studies),
        "views": sum(len(s.images) for s in collection.studies),
        "set_aside": sum(len(s.set_aside) for s in collection.studies),
        "errors": len(collection.errors) + sum(len(s.errors) for s in collection.studies),
        "ignored": len(collection.ignored),
    }
    return report


def _spacing_text(view: dict[str, Any]) -> tuple[str, str]:
    spacing = view["pixel_spacing"]
    if spacing is None:
        return "unknown", "-"
    value = f"{spacing['row_mm']:.4g}"
    if abs(spacing["row_mm"] - spacing["col_mm"]) > 1e-9:
        value += f"x{spacing['col_mm']:.4g}"
    return value, spacing["source"]


def render_inspection(report: dict[str, Any]) -> str:
    lines: list[str] = []
    for number, study in enumerate(report["studies"], start=1):
        date = study["study_date"] or "date unknown"
        lines.append(f"Study {number}: {study['study_uid']}  (patient {study['patient_key']}, {date})")
        if study.get("profile"):
            lines.append(f"  read with the {study['profile']} dataset profile: {profile_rules(study['profile'])}")
        sources = sorted({view["view_source"] for view in study["views"].values()})
        if sources:
            lines.append(f"  side and view from: {'; '.join(sources)}")
        header = f"  {'view':<6} {'size (cols x rows)':<18} {'spacing mm':<11} {'spacing from':<40} "
        header += f"{'photometric':<12} {'intent':<17} file"
        lines.append(header)
        for label, view in study["views"].items():
            spacing, source = _spacing_text(view)
            size = f"{view['cols']} x {view['rows']}"
            lines.append(
                f"  {label:<6} {size:<18} {spacing:<11} {source:<40} "
                f"{view['photometric_interpretation']:<12} {view['presentation_intent']:<17} {view['path']}"
            )
        if study["missing_views"]:
            lines.append(f"  missing views: {', '.join(study['missing_views'])}")
        for item in study["set_aside"]:
            lines.append(f"  set aside: {item['label']} {item['path']}: {item['reason']}")
        image_warnings = [f"{label}: {w}" for label, view in study["views"].items() for w in view["warnings"]]
        warnings = [w for w in study["warnings"] if not w.endswith(" is missing")] + image_warnings
        if warnings:
            lines.append("  warnings:")
            lines += [f"    - {w}" for w in warnings]
        if study["errors"]:
            lines.append("  errors:")
            lines += [f"    - {e['path']}: {e['reason']}" for e in study["errors"]]
        lines.append("")
    if report["errors"]:
        lines.append("Files that belong to no study:")
        lines += [f"  - {e['path']}: {e['reason']}" for e in report["errors"]]
        lines.append("")
    counts = report["counts"]
    lines.append(
        f"{counts['studies']} stud{'y' if counts['studies'] == 1 else 'ies'}, "
        f"{counts['views']} views, {counts['set_aside']} set aside, {counts['errors']} file errors, "
        f"{counts['ignored']} files ignored (not images, or PNG/PGM/JPEG that no sidecar or dataset profile explains)"
    )
    return "\n".join(lines)

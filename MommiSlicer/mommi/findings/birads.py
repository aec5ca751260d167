"""BI-RADS categories on [0, 1], as the malignancy head regresses them (METHOD.md, Table 1).

The paper places the categories 1, 2, 3, 4A, 4B, 4C, 5, 6 on a line by
radiologist-chosen distances between neighbours and divides by the total length,
so that the regression target grows with the malignancy risk rather than with
the category's index. The values are computed here from those distances (not
copied from the rounded table), so the table and the code cannot drift apart.

At inference the regressed value is shown as the nearest category
(``nearest_birads``); for a finding the product reports, as the nearest category a
reported finding can have (``finding_birads``: 2 to 5).
"""

from __future__ import annotations

import math

import numpy as np
from mommi.errors import MommiError


#: the categories a finding can carry (0, "incomplete", is not one: it has no place on the scale)
BIRADS_CATEGORIES: tuple[str, ...] = ("1", "2", "3", "4A", "4B", "4C", "5", "6")

#: distances between neighbouring categories of BIRADS_CATEGORIES (Table 1; sum 10.8)
BIRADS_DISTANCES: tuple[float, ...] = (1.0, 1.5, 2.0, 1.5, 1.5, 1.8, 1.5)

if len(BIRADS_DISTANCES) != len(BIRADS_CATEGORIES) - 1:  # pragma: no cover - guards an edit of either constant
    raise ImportError("BIRADS_DISTANCES needs one distance between each pair of neighbouring categories")

_POSITIONS = np.concatenate([[0.0], np.cumsum(BIRADS_DISTANCES)]) / sum(BIRADS_DISTANCES)

#: normalised value of each category: 1 -> 0.0, 2 -> 0.0926, ..., 6 -> 1.0
BIRADS_VALUES: dict[str, float] = {c: float(v) for c, v in zip(BIRADS_CATEGORIES, _POSITIONS)}

#: value of a plain "4" (datasets such as CBIS-DDSM and VinDr-Mammo have no 4A/4B/4C):
#: without further information every sub-category is equally likely, so the
#: regression target is their expected value, the mean of the three values.
BIRADS_4_VALUE: float = float(np.mean([BIRADS_VALUES[c] for c in ("4A", "4B", "4C")]))

__all__ = [
    "BIRADS_4_VALUE",
    "BIRADS_CATEGORIES",
    "BIRADS_DISTANCES",
    "BIRADS_VALUES",
    "BiradsError",
    "FINDING_ESTIMATE_CATEGORIES",
    "birads_value",
    "finding_birads",
    "nearest_birads",
]

#: the categories the estimate of a REPORTED finding may take. BI-RADS 1 means "negative: nothing
#: to report", so a mark that is shown cannot carry it, and 6 means "biopsy-proven malignancy",
#: which no image can tell; a reader shown "BI-RADS 1" on a mark cannot make sense of it.
FINDING_ESTIMATE_CATEGORIES: tuple[str, ...] = ("2", "3", "4A", "4B", "4C", "5")


class BiradsError(MommiError, ValueError):
    """A BI-RADS category or normalised value that cannot be used; the message names it."""


def birads_value(category: str | None) -> float | None:
    """Normalised value of a category ("1" ... "6", "4A", case-insensitive), None when unknown.

    ``None`` and "0" (incomplete assessment) give None: such findings carry no
    regression target and must be left out of the BI-RADS loss, not set to 0.
    A plain "4" gives ``BIRADS_4_VALUE``. Anything else raises ``BiradsError``,
    because a silently dropped typo would change the training targets unnoticed.
    """
    if category is None:
        return None
    if not isinstance(category, str):
        raise BiradsError(f"BI-RADS category must be a string such as '4A', got {category!r}")
    text = category.strip().upper()
    if text == "0":
        return None
    if text == "4":
        return BIRADS_4_VALUE
    if text in BIRADS_VALUES:
        return BIRADS_VALUES[text]
    raise BiradsError(f"unknown BI-RADS category {category!r}; expected one of {', '.join(BIRADS_CATEGORIES)}, 4 or 0")


def nearest_birads(value: float) -> str:
    """The category whose normalised value is nearest to ``value`` (a regression output).

    The value is clipped to [0, 1] first, since a regression head may overshoot
    the range slightly. An exact tie between two neighbours goes to the lower
    category (a tolerance absorbs floating-point noise at the midpoint), so that
    the same output is always shown as the same category.
    """
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise BiradsError(f"normalised BI-RADS value must be a number, got {value!r}") from None
    if not math.isfinite(number):
        raise BiradsError(f"normalised BI-RADS value must be finite, got {value!r}")
    number = min(max(number, 0.0), 1.0)
    distances = np.abs(_POSITIONS - number)
    index = int(np.flatnonzero(distances <= distances.min() + 1e-12)[0])
    return BIRADS_CATEGORIES[index]


def finding_birads(value: float) -> str:
    """The estimate shown for a reported finding: the nearest of ``FINDING_ESTIMATE_CATEGORIES``.

    On the ordered scale the nearest category of a subset is the full scale's nearest
    category clamped to the subset, so 1 becomes 2 and 6 becomes 5; the regressed value
    itself (``birads_value`` of the result) is kept as the model gave it.
    """
    category = nearest_birads(value)
    return {"1": FINDING_ESTIMATE_CATEGORIES[0], "6": FINDING_ESTIMATE_CATEGORIES[-1]}.get(category, category)

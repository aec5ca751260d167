"""Measuring that the multi-view cues MommiNet-v2 relies on exist in the phantom.

1. Ipsilateral: a mass's distance to the nipple in CC and in MLO agree, so the
   evidence in the other view of the same breast at the same nipple distance separates
   masses from normal tissue better than one view alone (ROC AUC of both).
2. Bilateral: a mass region differs from the same place in the other breast more
   than a normal region does, so a bilateral difference separates masses from
   normal tissue better than the intensity of one view alone (ROC AUC of both).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from scipy.stats import rankdata

from mommi.data.phantom.render import ViewRender
from mommi.data.phantom.study import SyntheticStudy
from mommi.study.orientation import breast_mask


@dataclass(frozen=True)
class CueReport:
    masses: int
    nipple_distance_within_15pct: float
    median_relative_difference: float
    mass_regions: int
    normal_regions: int
    single_view_auc: float
    bilateral_auc: float
    ipsilateral_auc: float
    #: single-view score plus the cue, weighted by a logistic regression fitted on other studies (5 folds by
    #: study): what the cue adds to a single view when it is given the weight it deserves
    bilateral_learned_auc: float
    ipsilateral_learned_auc: float

    def to_dict(self) -> dict[str, float | int]:
        return dict(self.__dict__)


def roc_auc(positive: np.ndarray, negative: np.ndarray) -> float:
    """AUC by the rank-sum (Mann-Whitney) identity; ties count one half."""
    scores = np.concatenate([positive, negative])
    ranks = rankdata(scores)
    n_pos, n_neg = len(positive), len(negative)
    return float((ranks[:n_pos].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def nipple_distances(study: SyntheticStudy, pixel_mm: float) -> list[tuple[float, float]]:
    """(CC distance, MLO distance) in mm from the nipple to each mass's centroid."""
    pairs = []
    for mass in study.masses:
        distances = []
        for projection in ("CC", "MLO"):
            lat = "L" if any(mass is m for m in study.breasts["L"].masses) else "R"
            view = study.views[f"{lat}-{projection}"]
            mask = view.mass_masks.get(mass.ident)
            if mask is None or not mask.any():
                break
            rows, cols = np.nonzero(mask)
            dx, dy = cols.mean() - view.nipple[0], rows.mean() - view.nipple[1]
            distances.append(float(np.hypot(dx, dy)) * pixel_mm)
        if len(distances) == 2:
            pairs.append((distances[0], distances[1]))
    return pairs


def _box_mean(image: np.ndarray, box: tuple[int, int, int, int]) -> float:
    r0, r1, c0, c1 = box
    return float(image[r0:r1, c0:c1].mean())


def ipsilateral_evidence(view: ViewRender, ipsi: ViewRender, box: tuple[int, int, int, int]) -> float:
    """How much a blob the box's size stands out where the box must reappear in the other view of the breast.

    Why there: both views keep the distance from the chest wall (image column) and a mass keeps its
    distance to the nipple, so its counterpart lies at the same column, on the rows (above or below the
    nipple line) whose nipple distance is within 5% of the box's (the median difference is 2%). A
    summation of normal
    tissue in one view does not repeat there. Blob contrast: box mean minus the mean of twice the box.
    """
    r0, r1, c0, c1 = box
    centre_row, centre_col = (r0 + r1) / 2.0, (c0 + c1) / 2.0
    distance = float(np.hypot(centre_col - view.nipple[0], centre_row - view.nipple[1]))
    w, h = max(c1 - c0, 1), max(r1 - r0, 1)
    local = cv2.blur(ipsi.image, (w, h)) - cv2.blur(ipsi.image, (2 * w, 2 * h))
    breast = breast_mask(ipsi.image)
    rows_total, cols_total = local.shape
    col_lo, col_hi = max(int(centre_col - w / 4), 0), min(int(centre_col + w / 4) + 1, cols_total)
    rows = np.arange(rows_total)
    at_distance = np.abs(np.hypot(ipsi.nipple[0] - centre_col, rows - ipsi.nipple[1]) - distance) <= 0.05 * distance
    window = breast[:, col_lo:col_hi] & at_distance[:, None]
    return float(local[:, col_lo:col_hi][window].max()) if window.any() else 0.0


def _normal_centres(
    image: np.ndarray,
    inside: np.ndarray,
    free: np.ndarray,
    size: tuple[int, int],
    rng: np.random.Generator,
    brightest: bool,
) -> tuple[int, int] | None:
    """Centre of a normal box of ``size`` wholly inside the breast: at random, or the brightest one left."""
    h, w = size
    fits = free & (inside > np.hypot(h, w) / 2)
    if not fits.any():
        return None
    if brightest:
        means = np.where(fits, cv2.blur(image, (w, h)), -np.inf)
        r, c = np.unravel_index(int(np.argmax(means)), means.shape)
        return int(r), int(c)
    candidates = np.argwhere(fits)
    r, c = candidates[rng.integers(len(candidates))]
    return int(r), int(c)


def region_scores(
    study: SyntheticStudy, rng: np.random.Generator, normals_per_view: int = 3, brightest: bool = False
) -> tuple[list[tuple[float, float, float]], list[tuple[float, float, float]]]:
    """(single-view score, bilateral score, ipsilateral evidence) for mass boxes and normal boxes.

    Normal boxes are drawn at random inside the breast, or (``brightest``) where a single view
    is most mass-like: the brightest mass-sized boxes of normal tissue, the false positives a
    single-view reader would make and the other views must explain away.

    Single-view score: box mean minus the breast mean of that view. Bilateral score:
    box mean minus the mean of the same box in the contralateral view (both views
    have the chest wall at column 0 and the nipple on the same row). Ipsilateral
    evidence: ``ipsilateral_evidence`` from the other view of the breast; ``measure_cues``
    adds it to the single-view score, both standardised.
    """
    masses: list[tuple[float, float, float]] = []
    normals: list[tuple[float, float, float]] = []
    for key, view in study.views.items():
        lat, projection = key.split("-")
        other = study.views[f"{'R' if lat == 'L' else 'L'}-{projection}"].image
        ipsi = study.views[f"{lat}-{'MLO' if projection == 'CC' else 'CC'}"]
        image = view.image
        breast = breast_mask(image)
        breast_mean = float(image[breast].mean())
        taken = np.zeros(image.shape, bool)
        sizes = []
        for mask in view.mass_masks.values():
            rows, cols = np.nonzero(mask)
            if rows.size == 0:
                continue
            box = (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1)
            taken[box[0] : box[1], box[2] : box[3]] = True
            sizes.append((box[1] - box[0], box[3] - box[2]))
            value = _box_mean(image, box)
            single = value - breast_mean
            masses.append((single, value - _box_mean(other, box), ipsilateral_evidence(view, ipsi, box)))
        # a normal region is a box of a mass's size wholly inside the breast, as every mass is
        inside = cv2.distanceTransform(breast.astype(np.uint8), cv2.DIST_L2, 5)
        free = breast & ~taken
        for _ in range(normals_per_view):
            h, w = sizes[rng.integers(len(sizes))] if sizes else (int(rng.integers(10, 40)),) * 2
            centre = _normal_centres(image, inside, free, (h, w), rng, brightest)
            if centre is None:
                continue
            r, c = centre
            box = (max(r - h // 2, 0), r - h // 2 + h, max(c - w // 2, 0), c - w // 2 + w)
            if brightest:  # the next one elsewhere
                free[max(r - h, 0) : r + h, max(c - w, 0) : c + w] = False
            if taken[box[0] : box[1], box[2] : box[3]].any():
                continue
            value = _box_mean(image, box)
            single = value - breast_mean
            normals.append((single, value - _box_mean(other, box), ipsilateral_evidence(view, ipsi, box)))
    return masses, normals


def learned_auc(features: np.ndarray, labels: np.ndarray, groups: np.ndarray, folds: int = 5) -> float:
    """ROC AUC of out-of-fold scores of an L2 logistic regression (folds by ``groups``: a study's regions are
    never scored by a model fitted on them)."""
    from mommi.data.realism.classifier import logistic_fit_predict  # scipy only; the same fit as the realism report

    scores = np.zeros(len(labels))
    fold = groups % folds
    for k in range(folds):
        test = fold == k
        scores[test] = logistic_fit_predict(features[~test], labels[~test], features[test], seed=k)
    return roc_auc(scores[labels == 1], scores[labels == 0])


def measure_cues(
    studies: list[SyntheticStudy], pixel_mm: float, seed: int = 0, brightest_normals: bool = False
) -> CueReport:
    """Nipple-distance agreement and the three cue AUCs (normal boxes as ``region_scores`` draws them)."""
    rng = np.random.default_rng(seed)
    pairs = [p for s in studies for p in nipple_distances(s, pixel_mm)]
    rel = np.array([abs(a - b) / ((a + b) / 2) for a, b in pairs]) if pairs else np.array([np.nan])
    mass_scores, normal_scores, mass_study, normal_study = [], [], [], []
    for index, study in enumerate(studies):
        m, n = region_scores(study, rng, brightest=brightest_normals)
        mass_scores += m
        normal_scores += n
        mass_study += [index] * len(m)
        normal_study += [index] * len(n)
    pos, neg = np.array(mass_scores), np.array(normal_scores)
    labels = np.r_[np.ones(len(pos)), np.zeros(len(neg))]
    groups = np.array(mass_study + normal_study)
    # single view plus the other view's evidence, each standardised over all regions so neither dominates
    both = np.concatenate([pos, neg])
    standard = (both - both.mean(axis=0)) / (both.std(axis=0) + 1e-12)
    ipsilateral = standard[:, 0] + standard[:, 2]
    return CueReport(
        masses=len(pairs),
        nipple_distance_within_15pct=float(np.mean(rel <= 0.15)),
        median_relative_difference=float(np.median(rel)),
        mass_regions=len(pos),
        normal_regions=len(neg),
        single_view_auc=roc_auc(pos[:, 0], neg[:, 0]),
        bilateral_auc=roc_auc(pos[:, 1], neg[:, 1]),
        ipsilateral_auc=roc_auc(ipsilateral[: len(pos)], ipsilateral[len(pos) :]),
        bilateral_learned_auc=learned_auc(both[:, [0, 1]], labels, groups),
        ipsilateral_learned_auc=learned_auc(both[:, [0, 2]], labels, groups),
    )

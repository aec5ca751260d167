"""A 3D breast phantom projected into four-view mammography studies.

Why a phantom: MommiNet-v2 learns from relations between views, so its training
data must contain them. Public sets are small or single-view (mini-MIAS has MLO
only). The phantom makes studies in which the priors the networks use exist by
construction, because every view is a projection of one 3D volume.

The model (all lengths in mm)
-----------------------------
Breast coordinates: x runs from the chest wall (x = 0) to the nipple (x = a),
y is medial -> lateral, z inferior -> superior. The compressed breast is the
half-ellipsoid (x/a)^2 + (y/b)^2 + (z/c)^2 <= 1, x >= 0, with

- a skin shell ``skin_mm`` thick (denser than fat);
- fibroglandular tissue: a 3D Gaussian random field with a power-law spectrum
  P(f) ~ f^-beta (beta ~ 3, the exponent measured on real mammograms), turned into
  a gland fraction by a soft threshold chosen for the patient's density, and
  confined to a cone that widens from the nipple toward the chest wall and stays
  clear of the subcutaneous fat. Left and right breasts share the low-frequency
  part of the field (breasts are roughly mirror images); the rest is independent;
- the pectoral muscle: the region x < slope * (v - v0) near the chest wall, where v
  is the oblique (axillary) direction, so it shows as a triangle in MLO and at most
  a sliver in CC;
- the nipple: a small ellipsoid at the apex (a, 0, 0);
- masses: 3D objects inside the glandular cone. Benign ones are smooth ellipsoids
  (round or oval, circumscribed). Malignant ones have an irregular surface (radius
  modulated by random low-order harmonics of the direction) and, usually, spicules
  (thin 3D segments radiating from the surface). Diameters 5-40 mm. Their
  attenuation is only slightly above glandular tissue, so a small mass over dense
  tissue is ambiguous in one view;
- look-alikes: 2-4 small glandular blobs placed along one ray of one view. They
  add up to a mass-like density in that view only and fall apart in the other.

Views: CC projects along z; MLO projects along the axis rotated by theta
(40-60 degrees) about x, v = y cos(theta) + z sin(theta). Each pixel value is the
line integral of (attenuation - fat) along its ray, i.e. a thickness-equalised
"for presentation" image: fat dark grey, gland bright, background black, then
quantum and electronic detector noise and a fine 2D texture. Because of the shared
volume, a mass appears in both views of its breast at almost the same distance
from the nipple (the cone keeps lateral offsets small relative to depth), and the
contralateral breast at the same position usually shows no such density.

The structured phantom (``PhantomConfig.anatomy == "structured"``, version v3) adds the fine
anatomy of ``structures`` (fat lobules with Cooper's ligament walls, lumps, strands, ducts,
vessels, lymph nodes), projected by ``fine_render``; renders a compressed breast in
attenuation units (``render_structured``); and shows it in a film or FFDM style drawn per
study (``styles``).

Everything is driven by one ``numpy.random.Generator``: the same seed gives the
same studies, byte for byte.
"""

from mommi.data.phantom.config import SIZES, PhantomConfig

__all__ = ["SIZES", "PhantomConfig"]

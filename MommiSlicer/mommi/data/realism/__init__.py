"""Realism report: how far synthetic mammograms are from real films, measured.

Why: every model of the zoo learns from the 3D phantom, and what it learned only
transfers to real films if the phantom looks like them. These modules measure that
on the images as the product reads them (``load_studies`` / ``load_record_image``),
all resampled to one pixel size (0.2 mm, mini-MIAS's) and analysed inside the
breast only:

- ``resample``: one pixel size, breast mask, where a region fits inside the breast;
- ``spectrum``: the anatomical-noise power-spectrum slope beta (Burgess);
- ``statistics``: intensity and GLCM texture statistics, patient bootstrap CIs;
- ``masses``: mass size and contrast distributions (truth.json / Info.txt);
- ``classifier``: the cheap texture-statistics discriminator (logistic regression);
- ``sources``: reading the synthetic and the real side into ``AnalysedImage``;
- ``report``: the figures together, ``realism.md`` and ``realism.json``.

The CNN discriminator needs torch, so it lives in ``mommi.train.realism_discriminator``
and is imported only when the report runs it. Nothing here imports torch.
"""

"""How large an image the product accepts, checked from the declared size BEFORE any pixel is decoded.

A 1 MB PNG can declare 30000 x 30000 pixels and an RLE DICOM 65535 x 65535: decoding them first
would take gigabytes (and the machine) before any check ran. The largest mammograms in use are
well under the limit: FFDM detectors up to about 4096 x 5600 (23 megapixels), DDSM films
digitised at 43.5 um about 6000 x 4000 (24 megapixels). The limit keeps the whole pipeline
under about 3 GB of memory (float32 working copies of four such views and their maps).
"""

from __future__ import annotations

from pathlib import Path

from mommi.errors import UnsupportedImageError

#: the most pixels (rows x columns) of one view the product decodes
MAX_IMAGE_PIXELS = 40_000_000
#: the fewest pixels on either side: a mammogram, even a thumbnail of one, is hundreds of pixels wide; a
#: smaller image is an icon or a mistake, and the networks' grids cannot read it
MIN_IMAGE_SIDE = 32


def check_declared_size(rows: int, cols: int, path: Path) -> None:
    """Refuse an image whose declared size is empty, smaller than MIN_IMAGE_SIDE or larger than MAX_IMAGE_PIXELS,
    naming the file."""
    if rows <= 0 or cols <= 0:
        raise UnsupportedImageError(path, f"the image declares {rows} x {cols} pixels: it has no pixels")
    if min(rows, cols) < MIN_IMAGE_SIDE:
        raise UnsupportedImageError(
            path,
            f"the image is {cols} x {rows} pixels, too small to be a mammogram (at "
            f"least {MIN_IMAGE_SIDE} pixels on each side)",
        )
    if rows * cols > MAX_IMAGE_PIXELS:
        raise UnsupportedImageError(
            path,
            f"the image declares {cols} x {rows} pixels ({rows * cols / 1e6:.0f} megapixels), more than the "
            f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels a mammogram needs; it was not decoded",
        )

"""Reading users' image files: every common format, never a bare traceback.

Photos are turned upright by their EXIF orientation, as viewers show them.
Grayscale becomes RGB, 16-bit is scaled to 8-bit, alpha is composited onto
white (transparent cartoon backgrounds become white, not black). Corrupt or
truncated files raise BadImage naming the file.
"""

import logging
import os
import threading

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")


class BadImage(ValueError):
    pass


def to_rgb8(arr):
    """Any image array (HxW, HxWx1..4; uint8/uint16/float) to uint8 HxWx3."""
    arr = np.asarray(arr)
    if arr.dtype == np.uint16 or (arr.dtype.kind in "iu" and arr.max(initial=0) > 255):
        arr = (arr.astype(np.float64) / 257.0)
    elif arr.dtype.kind == "f" and arr.max(initial=0) <= 1.0:
        arr = arr * 255.0
    arr = arr.astype(np.float64)
    if arr.ndim == 2:
        arr = arr[..., None]
    if arr.shape[-1] in (2, 4):  # grey+alpha or RGBA: composite on white
        alpha = arr[..., -1:] / 255.0
        arr = arr[..., :-1] * alpha + 255.0 * (1.0 - alpha)
    if arr.shape[-1] == 1:
        arr = np.repeat(arr, 3, axis=-1)
    return np.clip(np.rint(arr), 0, 255).astype(np.uint8)


def read_image(path):
    """Reads `path` as uint8 HxWx3 RGB; raises BadImage with the reason."""
    try:
        with Image.open(path) as raw:
            raw.load()
            im = ImageOps.exif_transpose(raw)      # upright, as viewers show it (EXIF orientation)
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                arr = np.asarray(im, dtype=np.uint32)
                arr = arr.astype(np.uint16) if arr.max(initial=0) <= 65535 else arr
                if arr.max(initial=0) <= 255 and im.mode == "I":
                    arr = arr.astype(np.uint8)
            elif im.mode == "P":
                arr = np.asarray(im.convert("RGBA"))
            elif im.mode in ("RGB", "RGBA", "L", "LA"):
                arr = np.asarray(im)
            else:
                arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise BadImage(f"{path}: unreadable image ({e})") from None
    if arr.size == 0:
        raise BadImage(f"{path}: empty image")
    return to_rgb8(arr)


def list_images(folder):
    """Sorted image paths below `folder` (recursively)."""
    paths = []
    for root, _, files in os.walk(folder):
        paths += [os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
    return sorted(paths)


class SkipLog:
    """Counts and names the files a pipeline skipped (thread-safe)."""

    def __init__(self):
        self._lock = threading.Lock()
        self.skipped = []

    def skip(self, path, reason):
        with self._lock:
            if any(p == path for p, _ in self.skipped):   # named once, not once per epoch
                return
            self.skipped.append((path, reason))
        logging.warning("skipped %s: %s", path, reason)

    def summary(self):
        return f"{len(self.skipped)} file(s) skipped" + (
            ": " + "; ".join(f"{p} ({r})" for p, r in self.skipped[:20]) if self.skipped else "")

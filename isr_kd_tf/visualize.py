"""Image grids a person looks at: previews, samples.png, TensorBoard."""

import cv2
import numpy as np

from isr_kd_tf.data.parsing import PALETTE as PARSING_PALETTE

def colour_parsing(labels):
    """uint8 label map (..., H, W) -> RGB image with BiSeNet's palette (background white)."""
    return PARSING_PALETTE[np.clip(np.asarray(labels), 0, len(PARSING_PALETTE) - 1)]


def tile(img, size):
    """Any HxW(xC) image (uint8 or float in [0,255]) as a size x size RGB tile.

    Smaller images are enlarged with nearest neighbour so LR pixels stay visible.
    """
    img = np.asarray(img)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    img = np.clip(np.rint(img.astype(np.float32)), 0, 255).astype(np.uint8)
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, -1)
    interp = cv2.INTER_NEAREST if img.shape[0] < size else cv2.INTER_AREA
    return cv2.resize(img, (size, size), interpolation=interp)


def grid(rows, size=128, labels=None, pad=2):
    """Rows of images -> one uint8 RGB grid, with column labels on top."""
    ncol = max(len(r) for r in rows)
    head = 16 if labels else 0
    out = np.full((head + len(rows) * (size + pad) + pad, ncol * (size + pad) + pad, 3), 255, np.uint8)
    for j, text in enumerate(labels or []):
        cv2.putText(out, text, (pad + j * (size + pad) + 2, 12), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
    for i, row in enumerate(rows):
        for j, img in enumerate(row):
            y, x = head + pad + i * (size + pad), pad + j * (size + pad)
            out[y:y + size, x:x + size] = tile(img, size)
    return out


def save_png(path, rgb):
    if not cv2.imwrite(path, cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}")

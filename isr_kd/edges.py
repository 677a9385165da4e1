"""ISR-KD's edge targets: Canny maps of HR at the edge blocks' three scales, made per batch in the
data pipeline (never inside the compiled step)."""

import dataclasses

import cv2
import numpy as np
import tensorflow as tf

from isr_kd_tf.data.degradation import box_downsample
from isr_kd_tf.errors import UserError


def canny(gray, thresholds="fixed"):
    """Canny edges of a uint8 grey image, as 0/255 float32.

    `fixed` uses the official code's 50/255; `adaptive` follows the paper's
    wording: high = Otsu's threshold, low = half of it.
    """
    if thresholds == "fixed":
        low, high = 50, 255
    elif thresholds == "adaptive":
        high, _ = cv2.threshold(gray, 0, 255, cv2.THRESH_BINARY + cv2.THRESH_OTSU)
        high = max(float(high), 1.0)
        low = 0.5 * high
    else:
        raise UserError(f"edge thresholds {thresholds!r} are unknown; use 'fixed' or 'adaptive'")
    return cv2.Canny(gray, low, high).astype(np.float32)


def _canny_batch(images, thresholds):
    """uint8 [B,H,W,3] RGB -> float32 [B,H,W,1] edges."""
    out = np.empty(images.shape[:3] + (1,), np.float32)
    for i, img in enumerate(images):
        out[i, ..., 0] = canny(cv2.cvtColor(img, cv2.COLOR_RGB2GRAY), thresholds)
    return out


def edge_targets(hr, scale=8, thresholds="fixed"):
    """Canny maps of HR and its box pyramid, from the finest to 1/(scale/2).

    For ISR-KD (x8) the three maps are at HR, HR/2 and HR/4 (128, 64, 32),
    returned coarse-first to line up with the generator's edge outputs.
    """
    thresholds = thresholds.decode() if isinstance(thresholds, bytes) else thresholds
    maps = []
    x = hr
    factor = 1
    while factor < scale:
        img = tf.cast(tf.clip_by_value(tf.round(x), 0, 255), tf.uint8)
        e = tf.numpy_function(lambda a: _canny_batch(a, thresholds), [img], tf.float32, stateful=False)
        e.set_shape(img.shape[:3].concatenate([1]))
        maps.append(e)
        x = box_downsample(x, 2)
        factor *= 2
    return maps[::-1]


@dataclasses.dataclass(frozen=True)
class EdgeTargets:
    """ISR-KD's batch features: Canny edge maps of HR at the edge blocks' three scales (edge_32,
    edge_64, edge_128 at 128 HR)."""
    scale: int
    thresholds: str

    def __call__(self, batch):
        return {f"edge_{e.shape[1]}": e for e in edge_targets(batch["hr"], self.scale, self.thresholds)}

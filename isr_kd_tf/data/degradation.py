"""HR -> LR degradations and Canny edge targets.

`box` is the official ISR-KD degradation: the code resizes 128 -> 64 -> 32
-> 16 with cv2 INTER_LINEAR, and an exact x0.5 bilinear resize is a 2x2 mean,
so the cascade is an 8x8 box mean. `bicubic` is PIL-style anti-aliased
bicubic, the PKDN / KDFSRNet / DIC protocol.
"""

import cv2
import numpy as np
import tensorflow as tf

from isr_kd_tf.errors import UserError

METHODS = ("box", "bicubic")


def box_downsample(x, factor):
    """Mean over non-overlapping factor x factor blocks (NHWC float)."""
    return tf.nn.avg_pool2d(x, factor, factor, "VALID")


def degrade(hr, scale=8, method="box", noise_sigma=0.0, seed=None, rows=None):
    """LR image from float HR in [0, 255], NHWC or HWC.

    rows=(start, stop, n): `hr` is rows start..stop of a batch of n, and
    gets those rows of the noise the whole batch would get.
    """
    if method not in METHODS:
        raise UserError(f"degradation method {method!r} is unknown; use one of {METHODS}")
    hr = tf.convert_to_tensor(hr, tf.float32)
    single = hr.shape.rank == 3
    x = hr[None] if single else hr
    h, w = x.shape[1], x.shape[2]
    if h is not None and w is not None and (h % scale or w % scale):
        raise UserError(f"HR size {h}x{w} is not divisible by the scale {scale}; "
                        "crop or resize it to a multiple first")
    if method == "box":
        lr = box_downsample(x, scale)
    else:
        size = tf.shape(x)[1:3] // scale
        lr = tf.image.resize(x, size, method="bicubic", antialias=True)
    if noise_sigma:
        shape = tf.shape(lr)
        if rows is not None:
            shape = tf.concat([[rows[2]], shape[1:]], 0)
        noise = (tf.random.stateless_normal(shape, seed) if seed is not None
                 else tf.random.normal(shape))
        if rows is not None:
            noise = noise[rows[0]:rows[1]]
        lr = lr + noise_sigma * noise
    lr = tf.clip_by_value(lr, 0.0, 255.0)
    return lr[0] if single else lr


def upsample_bicubic(lr, size):
    """The PKDN / KDFSRNet input convention: LR bicubic-upsampled to HR size."""
    return tf.clip_by_value(tf.image.resize(lr, size, method="bicubic"), 0.0, 255.0)


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

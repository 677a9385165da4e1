"""PSNR / SSIM under both papers' protocols.

ISR-KD (official code): RGB, no border crop. PKDN / KDFSRNet / DIC: the Y
channel of BT.601 (Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255) with
an 8-pixel border crop. SSIM is the 11x11 Gaussian, sigma 1.5 form.
"""

import tensorflow as tf

_Y = (65.481, 128.553, 24.966)     # BT.601 weights of R, G, B (/ 255); no tensor at import: see cluster.py


def to_y(img):
    """BT.601 luma of [0, 255] RGB, in [16, 235]."""
    return tf.reduce_sum(tf.cast(img, tf.float32) * (tf.constant(_Y) / 255.0), axis=-1, keepdims=True) + 16.0


def _prepare(img, crop_border, y_channel, quantize):
    img = tf.cast(img, tf.float32)
    if quantize:
        img = tf.round(tf.clip_by_value(img, 0.0, 255.0))
    if img.shape.rank == 3:
        img = img[None]
    if y_channel:
        img = to_y(img)
    if crop_border:
        img = img[:, crop_border:-crop_border, crop_border:-crop_border]
    return img


def psnr(a, b, crop_border=0, y_channel=False, quantize=True):
    """Per-image PSNR (peak 255) of [0, 255] images, single or batched."""
    a, b = (_prepare(x, crop_border, y_channel, quantize) for x in (a, b))
    return tf.image.psnr(a, b, max_val=255.0)


def ssim(a, b, crop_border=0, y_channel=False, quantize=True):
    """Per-image SSIM (11x11 Gaussian, sigma 1.5, k1 0.01, k2 0.03)."""
    a, b = (_prepare(x, crop_border, y_channel, quantize) for x in (a, b))
    return tf.image.ssim(a, b, max_val=255.0, filter_size=11, filter_sigma=1.5, k1=0.01, k2=0.03)

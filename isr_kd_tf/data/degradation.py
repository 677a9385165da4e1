"""HR -> LR degradations.

`box` is the official ISR-KD degradation: the code resizes 128 -> 64 -> 32
-> 16 with cv2 INTER_LINEAR, and an exact x0.5 bilinear resize is a 2x2 mean,
so the cascade is an 8x8 box mean. `bicubic` is PIL-style anti-aliased
bicubic, the PKDN / KDFSRNet / DIC protocol.
"""

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
    """LR bicubic-upsampled to HR size: the bicubic baseline of every table, and PKDN's input."""
    return tf.clip_by_value(tf.image.resize(lr, size, method="bicubic"), 0.0, 255.0)

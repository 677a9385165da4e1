"""Facial parsing maps as network input: BiSeNet's 19 classes, colour or one-hot.

KDFSRNet feeds its teacher a 3-channel colour-coded parsing image in [0, 1];
we render it with BiSeNet's own visualisation palette (face-parsing.PyTorch,
`vis_parsing_maps`: background white, class k = part_colors[k]). One-hot
with 19 channels is the cleaner alternative.
"""

import numpy as np
import tensorflow as tf

from isr_kd_tf.errors import UserError

NUM_CLASSES = 19
ENCODINGS = {"color": 3, "onehot": NUM_CLASSES}

PALETTE = np.array([
    [255, 255, 255], [255, 85, 0], [255, 170, 0], [255, 0, 85], [255, 0, 170],
    [0, 255, 0], [85, 255, 0], [170, 255, 0], [0, 255, 85], [0, 255, 170],
    [0, 0, 255], [85, 0, 255], [170, 0, 255], [0, 85, 255], [0, 170, 255],
    [255, 255, 0], [255, 255, 85], [255, 255, 170], [255, 0, 255]], np.uint8)


def channels(encoding):
    if encoding not in ENCODINGS:
        raise UserError(f"--parsing_encoding={encoding!r} is unknown; use one of {', '.join(ENCODINGS)}")
    return ENCODINGS[encoding]


def encode_parsing(labels, encoding="color"):
    """Integer label maps (..., H, W) -> float network input (..., H, W, C) in [0, 1]."""
    labels = tf.clip_by_value(tf.cast(labels, tf.int32), 0, NUM_CLASSES - 1)
    if channels(encoding) == 3:
        return tf.gather(tf.constant(PALETTE, tf.float32) / 255.0, labels)
    return tf.one_hot(labels, NUM_CLASSES, dtype=tf.float32)

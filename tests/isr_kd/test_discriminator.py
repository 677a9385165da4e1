"""The ISR-KD discriminator: the official parameter count."""

import numpy as np
import tensorflow as tf

from isr_kd.discriminator import build_discriminator


def _params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def test_discriminator_has_the_official_parameter_count():
    d = build_discriminator(1.0, 128)
    assert _params(d) == 64_149_889
    assert d(tf.zeros((2, 128, 128, 3))).shape == (2, 1)

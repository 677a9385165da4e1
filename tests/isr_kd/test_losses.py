"""ISR-KD losses: zero on identical inputs, positive otherwise, masks, the official formulas."""

import numpy as np
import pytest
import tensorflow as tf

from isr_kd import losses


def _pair(seed=0, shape=(2, 16, 16, 3)):
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.uniform(0, 255, shape), tf.float32), tf.constant(rng.uniform(0, 255, shape), tf.float32))


@pytest.mark.parametrize("fn", [losses.reconstruction_loss, losses.luminance_chrominance_loss,
                                lambda a, b, m: losses.edge_loss([a], [b], m)])
def test_image_losses_zero_on_identical_positive_otherwise(fn):
    a, b = _pair()
    ones = tf.ones([2])
    assert float(fn(a, a, ones)) == 0.0
    assert float(fn(a, b, ones)) > 0.0


def test_empty_mask_gives_zero_not_nan():
    a, b = _pair()
    none = tf.zeros([2])
    for value in (losses.reconstruction_loss(a, b, none), losses.generator_adversarial_loss(tf.ones([2, 1]), none),
                  losses.discriminator_loss(tf.ones([2, 1]), tf.ones([2, 1]), none),
                  losses.distill_loss({"sr": a, "bottleneck": a}, {"sr": b, "bottleneck": b}, none)[0]):
        assert float(value) == 0.0


def test_mask_selects_samples():
    a, b = _pair()
    only_first = losses.reconstruction_loss(a, b, tf.constant([1.0, 0.0]))
    np.testing.assert_allclose(float(only_first), float(tf.reduce_mean(tf.square(a[0] - b[0]))), rtol=1e-5)


def test_lce_uses_tf_rgb_to_yuv_with_equal_channel_weights():
    a, b = _pair()
    ref = tf.reduce_mean(tf.square(tf.image.rgb_to_yuv(a) - tf.image.rgb_to_yuv(b)))
    np.testing.assert_allclose(float(losses.luminance_chrominance_loss(a, b, tf.ones([2]))), float(ref), rtol=1e-4)


def test_identity_loss_is_jensen_shannon():
    e1 = tf.constant([[1.0, 0.0, -1.0]])
    e2 = tf.constant([[0.0, 1.0, 0.5]])
    p, q = tf.nn.softmax(e1 / 0.5).numpy()[0], tf.nn.softmax(e2 / 0.5).numpy()[0]
    m = (p + q) / 2
    js = 0.5 * np.sum(p * np.log(p / m)) + 0.5 * np.sum(q * np.log(q / m))
    np.testing.assert_allclose(float(losses.identity_loss(e1, e2, tf.ones([1]), 0.5)), js, rtol=1e-5)
    assert float(losses.identity_loss(e1, e1, tf.ones([1]))) == pytest.approx(0.0, abs=1e-7)


def test_adversarial_losses_are_bce():
    logits = tf.constant([[2.0], [-1.0]])
    expected = np.mean(np.log1p(np.exp(-np.array([2.0, -1.0]))))
    np.testing.assert_allclose(float(losses.generator_adversarial_loss(logits, tf.ones([2]))), expected, rtol=1e-5)

"""The ISR-KD generator and its edge blocks: the official parameter count, any size, widths."""

import numpy as np
import tensorflow as tf

from isr_kd.generator import EdgeBlock, build_generator


def _params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


# --- models ------------------------------------------------------------------

def test_generator_has_the_official_parameter_count_and_outputs():
    g = build_generator(1.0)
    assert _params(g) == 11_912_582
    out = g(tf.zeros((2, 16, 16, 3)))
    assert out["sr"].shape == (2, 128, 128, 3)
    assert [e.shape[1] for e in out["edges"]] == [32, 64, 128]
    assert out["bottleneck"].shape == (2, 16, 16, 512)


def test_generator_takes_any_size_and_scales_width():
    g = build_generator(0.125)
    out = g(tf.zeros((1, 20, 24, 3)))
    assert out["sr"].shape == (1, 160, 192, 3)
    assert out["bottleneck"].shape == (1, 20, 24, 64)
    ext = build_generator(0.125, extra_convs=6)
    assert len(ext.extra) == 6 and _params(ext) > _params(g)


def test_edge_block_is_relu_of_x_minus_its_average():
    block = EdgeBlock(5)
    x = tf.random.uniform((1, 12, 12, 4)) * 255
    out, edge = block(x)
    pooled = tf.nn.avg_pool2d(x, 5, 1, "SAME")
    np.testing.assert_allclose(out[..., 4:], tf.nn.relu(x - pooled), atol=1e-4)
    np.testing.assert_allclose(out[..., :4], x)
    assert edge.shape == (1, 12, 12, 1) and float(tf.reduce_min(edge)) >= 0

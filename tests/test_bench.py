"""The benchmark's own measuring tools (its timings are printed, never asserted)."""

import pytest
import tensorflow as tf

from isr_kd_tf import bench


def test_union_length_counts_overlaps_once():
    assert bench.union_length([]) == 0
    assert bench.union_length([(20, 25), (0, 10), (5, 15), (6, 7)]) == 20
    assert bench.union_length([(0, 10), (10, 12)]) == 12


def test_contraction_share_sees_convolutions_and_nothing_else():
    x = tf.random.normal((4, 64, 64, 32))
    k = tf.random.normal((3, 3, 32, 32))
    conv = tf.function(lambda b: tf.reduce_sum(tf.nn.conv2d(b, k, 1, "SAME")))
    elementwise = tf.function(lambda b: tf.reduce_sum(tf.sin(b) * 2.0 + 1.0))
    conv(x), elementwise(x)                           # traced and warm, as the benchmark leaves them
    assert 0 < bench.contraction_share(conv, x) <= 1
    assert bench.contraction_share(elementwise, x) == 0


def test_pytorch_eager_runs_the_same_distillation_step():
    pytest.importorskip("torch")
    from pkdn_tf import bench as pkdn_bench
    batch = pkdn_bench._pkdn_batch(batch_size=2, hr_size=32)
    assert pkdn_bench.torch_eager_step_seconds(batch, width=0.125, steps=1) > 0


def test_steal_share_is_the_stolen_part_of_the_cpu_time():
    assert bench.steal_share((10, 1000), (40, 1200)) == 0.15
    assert bench.steal_share(None, (40, 1200)) is None
    now = bench.cpu_times()
    assert now is None or (0 <= now[0] <= now[1])

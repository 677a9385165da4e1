"""The benchmark's own measuring tools (its timings are printed, never asserted)."""

import pytest
import tensorflow as tf

from isr_kd_tf import timing


def test_union_length_counts_overlaps_once():
    assert timing.union_length([]) == 0
    assert timing.union_length([(20, 25), (0, 10), (5, 15), (6, 7)]) == 20
    assert timing.union_length([(0, 10), (10, 12)]) == 12


def test_contraction_share_sees_convolutions_and_nothing_else():
    x = tf.random.normal((4, 64, 64, 32))
    k = tf.random.normal((3, 3, 32, 32))
    conv = tf.function(lambda b: tf.reduce_sum(tf.nn.conv2d(b, k, 1, "SAME")))
    elementwise = tf.function(lambda b: tf.reduce_sum(tf.sin(b) * 2.0 + 1.0))
    conv(x), elementwise(x)                           # traced and warm, as the benchmark leaves them
    assert 0 < timing.contraction_share(conv, x) <= 1
    assert timing.contraction_share(elementwise, x) == 0


def test_op_categories_read_tensorflow_s_and_pytorch_s_op_names_alike():
    cat = timing.op_category
    assert cat("_MklNativeConv2DWithBias") == cat("_FusedConv2D") == cat("aten::mkldnn_convolution") == "conv forward"
    assert cat("Conv2DBackpropInput") == cat("_MklNativeConv2DBackpropInput") == "conv backward-data"
    assert cat("Conv2DBackpropFilterWithBias") == cat("BiasAddGrad") == "conv backward-filter"
    assert cat("aten::convolution_backward") == "conv backward (data and filter)"
    assert cat("ResourceApplyAdam") == cat("aten::_foreach_mul_") == "optimizer"
    assert cat("Mean") == cat("aten::adaptive_avg_pool2d") == "channel attention (pool, sigmoid)"
    assert cat("AddV2") == cat("aten::relu_") == "elementwise (add, mul, ReLU, shifts)"
    assert cat("Transpose") == cat("aten::copy_") == "layout reorders and copies"
    assert cat("SpaceToDepth") == "other"


def test_a_step_profile_puts_a_convolution_step_s_time_in_its_convolutions():
    x = tf.random.normal((4, 64, 64, 32))
    k = tf.Variable(tf.random.normal((3, 3, 32, 32)))

    @tf.function
    def step(b):
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(tf.nn.relu(tf.nn.conv2d(b, k, 1, "SAME")))
        k.assign_sub(1e-6 * tape.gradient(loss, k))
        return loss
    step(x)
    ms = timing.step_profile(step, x)
    assert ms["wall"] > 0 and "Process" not in ms
    convs = sum(v for c, v in ms.items() if c.startswith("conv"))
    assert ms["conv forward"] > 0 and ms["conv backward-filter"] > 0
    assert convs > ms.get("other", 0) and convs <= 2.5 * ms["wall"]      # kernels on at most 2 threads, and a bit


@pytest.mark.slow          # both frameworks' profilers over their training steps (5 s)
def test_the_profile_benchmark_puts_both_steps_in_their_categories():
    pytest.importorskip("torch")
    from pkdn_tf import bench
    result = bench.bench_kdfsrnet_step_profile(batch_size=1, hr_size=32, width=0.0625, blocks=1)
    tf_ms, torch_ms = result["ms"]["tensorflow"], result["ms"]["torch_eager_channels_last"]
    assert tf_ms["conv forward"] > 0 and tf_ms["conv backward-filter"] > 0 and tf_ms["wall"] > 0
    assert torch_ms["conv forward"] > 0 and torch_ms["conv backward (data and filter)"] > 0 and torch_ms["optimizer"] > 0


def test_time_steps_leaves_the_warm_up_out_and_averages_the_rest(monkeypatch):
    """A step whose first calls are slow (tracing) and whose later ones take 20 ms is timed at 20 ms."""
    import time
    calls = []

    def step(batch):
        calls.append(batch)
        time.sleep(0.3 if len(calls) <= 2 else 0.02)
        return tf.zeros([])
    seconds = timing.time_steps(step, "batch", steps=5)
    assert 0.018 <= seconds < 0.1 and len(calls) >= 7


def test_the_median_step_leaves_one_slow_step_out():
    """Warm-up calls are not timed, and one hiccup among five 20 ms steps leaves the median at 20 ms."""
    import time
    calls = []

    def step(batch):
        calls.append(batch)
        time.sleep(0.3 if len(calls) <= 2 or len(calls) == 4 else 0.02)
        return tf.zeros([])
    assert 0.018 <= timing.median_step_seconds(step, "batch", steps=5) < 0.1 and len(calls) == 7


def test_pytorch_eager_runs_the_same_distillation_step():
    """The PyTorch step the benchmark times is KDFSRNet's: on the same batch its loss starts where this
    package's distillation loss does for the same (converted) weights, and it trains the student."""
    torch = pytest.importorskip("torch")
    import numpy as np
    from pkdn_tf import bench as pkdn_bench, torch_reference
    batch = pkdn_bench._pkdn_batch(batch_size=2, hr_size=32)
    torch.manual_seed(0)
    student, teacher = torch_reference.KDFSRNet(3, 8), torch_reference.KDFSRNet(6, 8, blocks=2).eval()
    before = [p.detach().clone() for p in student.parameters()]
    optimizer = torch.optim.Adam(student.parameters(), 1e-3)
    args = [torch.from_numpy(np.ascontiguousarray(batch[k].numpy().transpose(0, 3, 1, 2))).float() / d
            for k, d in (("lr_up", 255.0), ("parsing_input", 1.0), ("hr", 255.0))]
    losses = [float(torch_reference.distillation_step(student, teacher, optimizer, *args)) for _ in range(5)]
    assert all(np.isfinite(losses)) and losses[-1] < losses[0]
    assert any(not torch.equal(a, b) for a, b in zip(before, student.parameters()))
    assert all(torch.equal(a, b) for a, b in zip(
        [p.detach().clone() for p in teacher.parameters()], teacher.parameters()))
    times = pkdn_bench.torch_step_seconds(batch, width=0.125, steps=1, forms=("eager_channels_last",))
    assert set(times) == {("float32", "eager_channels_last"), ("bfloat16", "eager_channels_last")}
    assert all(t > 0 for t in times.values())


def test_the_step_is_put_beside_the_fastest_pytorch_form_of_each_precision():
    from pkdn_tf import bench as pkdn_bench
    r = pkdn_bench.against_torch({"float32": 2.0, "bfloat16": 1.0},
                                 {("float32", "eager_nchw"): 8.0, ("float32", "compiled"): 1.6,
                                  ("bfloat16", "eager_channels_last"): 1.25, ("bfloat16", "compiled"): 2.0})
    assert r["best_torch_float32"] == "compiled" and r["ratio_to_best_torch_float32"] == 1.25
    assert r["best_torch_bfloat16"] == "eager_channels_last" and r["ratio_to_best_torch_bfloat16"] == 0.8
    assert r["torch_float32_eager_nchw_step_s"] == 8.0 and r["bfloat16_step_s"] == 1.0


def test_the_pytorch_benchmark_times_ours_in_both_precisions_beside_the_forms_it_was_given(monkeypatch):
    """The benchmark's glue, with the timings given (the timings themselves are tested above)."""
    from pkdn_tf import bench as pkdn_bench
    asked = {}
    monkeypatch.setattr(pkdn_bench, "torch_step_seconds", lambda batch, width, steps, forms: asked.update(
        forms=forms, steps=steps) or {(p, f): 2.0 for p in ("float32", "bfloat16") for f in forms})
    monkeypatch.setattr(pkdn_bench, "_tf_step_seconds", lambda make, batch, steps, precision: {
        "float32": 1.0, "bfloat16": 3.0}[precision])
    r = pkdn_bench.bench_kdfsrnet_against_torch(batch_size=1, hr_size=32, width=0.0625, steps=2)
    assert asked == {"forms": pkdn_bench.TORCH_FORMS, "steps": 2} and "eager_nchw" not in pkdn_bench.TORCH_FORMS
    assert r["ratio_to_best_torch_float32"] == 0.5 and r["ratio_to_best_torch_bfloat16"] == 1.5
    monkeypatch.setattr(pkdn_bench, "torch_step_seconds", lambda *a: {})
    assert "not installed" in pkdn_bench.bench_kdfsrnet_against_torch(batch_size=1, hr_size=32, width=0.0625)["torch"]


def test_steal_share_is_the_stolen_part_of_the_cpu_time():
    assert timing.steal_share((10, 1000), (40, 1200)) == 0.15
    assert timing.steal_share(None, (40, 1200)) is None
    now = timing.cpu_times()
    assert now is None or (0 <= now[0] <= now[1])

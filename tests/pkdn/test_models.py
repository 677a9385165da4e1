"""PKDN / KDFSRNet networks: exact parameter counts, nine taps, ablations, PyTorch's initialisation."""

import numpy as np
import pytest
import tensorflow as tf

from pkdn_tf import models


def _inputs(model, n=1, size=128):
    lr = tf.random.uniform((n, size, size, 3))
    parsing = tf.random.uniform((n, size, size, model.config_["parsing_channels"])) if model.needs_parsing else None
    return lr, parsing


def test_student_and_kdfsrnet_teacher_have_the_exact_parameter_counts():
    assert models.build(models.Student()).count_params() == 5_203_995
    assert models.build(models.KDFSRNetTeacher()).count_params() == 2_526_027


@pytest.mark.parametrize("factory", [models.Student, models.KDFSRNetTeacher, models.Teacher])
def test_nine_feature_taps_at_the_stage_resolutions(factory):
    m = models.build(factory(n_feats=8), 128)
    out = m(*_inputs(m))
    assert out["sr"].shape == (1, 128, 128, 3)
    assert [f.shape[1] for f in out["features"]] == [64, 32, 16, 8, 8, 16, 32, 64, 128]
    assert all(f.shape[-1] == 8 for f in out["features"])


def test_any_size_divisible_by_16_works():
    m = models.build(models.Teacher(n_feats=8), 64)
    lr, parsing = _inputs(m, 2, 48)
    assert m(tf.image.resize(lr, (48, 80)), tf.image.resize(parsing, (48, 80)))["sr"].shape == (2, 48, 80, 3)


@pytest.mark.slow
def test_teacher_variants_differ_where_the_ablations_say():
    def n(**kw):
        return models.build(models.Teacher(n_feats=16, **kw), 32).count_params()
    full, no_ffb, no_pfb_ffb = n(), n(ffb=False), n(pfb=False, ffb=False)
    # counted by hand at 16 channels (conv k x k, a -> b: k*k*a*b + b; the gates' reductions 4 and 16)
    c = 16
    conv3, conv1 = (lambda a, b: 9 * a * b + b), (lambda a, b: a * b + b)
    pooled_gate = c * (c // 4) + c // 4 + (c // 4) * c + c                     # two dense layers
    ffb = 2 * 2 * conv3(c, c) + pooled_gate                                    # two residual blocks, the gate
    pfb = conv3(c, c) + conv3(3, c) + conv3(2 * c, c) + conv1(c, 2 * c) + conv1(2 * c, c) + pooled_gate \
        + conv1(2 * c, c)                                                      # projections, fuse, gates, merge
    rcab = 2 * conv3(c, c) + conv1(c, 1) + conv1(1, c)
    assert full - no_ffb == 4 * ffb                                            # one FFB per decoder stage
    assert no_pfb_ffb - no_ffb == 9 * (6 * rcab - 2 * pfb)                     # 2 PFBs -> 6 RCABs, 9 stages
    one_hot = models.build(models.Teacher(parsing_channels=19, n_feats=16), 32)
    assert one_hot.count_params() > full
    s = models.build(models.Student(ffb=True, n_feats=16), 32)
    assert s.count_params() > models.build(models.Student(n_feats=16), 32).count_params()


def test_a_parsing_guided_network_refuses_to_run_without_parsing():
    m = models.build(models.Teacher(n_feats=8), 32)
    with pytest.raises(ValueError, match="parsing"):
        m(tf.zeros((1, 32, 32, 3)))


def test_torch_init_draws_as_pytorchs_default_conv_and_linear():
    """U(-1/sqrt(fan_in), 1/sqrt(fan_in)) for kernels and biases, PyTorch's Conv2d / Linear default."""
    torch = pytest.importorskip("torch")
    m = models.build(models.Teacher(3, n_feats=16, blocks=1), 32, "torch", seed=3)
    for layer, ref in ((m.stages[0][0].fuse, torch.nn.Conv2d(32, 16, 3)),
                       (m.stages[0][0].channel.hidden, torch.nn.Linear(16, 4))):
        fan_in = int(np.prod(layer.kernel.shape[:-1]))
        bound = 1 / np.sqrt(fan_in)
        for got, want in ((layer.kernel.numpy(), ref.weight.detach().numpy()),
                          (layer.bias.numpy(), ref.bias.detach().numpy())):
            assert np.abs(got).max() <= bound and np.abs(want).max() <= bound
            if got.size >= 64:       # a uniform's standard deviation, where there are values enough
                assert got.std() == pytest.approx(bound / np.sqrt(3), rel=0.2)
                assert want.std() == pytest.approx(bound / np.sqrt(3), rel=0.2)
    keras_init = models.build(models.Teacher(3, n_feats=16, blocks=1), 32, "keras")
    assert not keras_init.head.bias.numpy().any() and m.head.bias.numpy().any()


def test_channel_attention_in_bfloat16_pools_as_keras_mean_does():
    """tf.reduce_mean on the bfloat16 map (no float32 copy of it) gives the gate keras.ops.mean's float32
    detour gives, exactly."""
    from keras import ops
    x = tf.cast(tf.random.stateless_uniform((2, 16, 16, 32), seed=(1, 2), minval=-3, maxval=3), tf.bfloat16)
    direct = tf.reduce_mean(x, axis=(1, 2), keepdims=True)
    detour = ops.mean(x, axis=(1, 2), keepdims=True)
    assert direct.dtype == detour.dtype == tf.bfloat16
    np.testing.assert_array_equal(tf.cast(direct, tf.float32).numpy(), tf.cast(detour, tf.float32).numpy())
    import keras
    keras.mixed_precision.set_global_policy("mixed_bfloat16")     # as --mixed_precision sets it
    try:
        ca = models.ChannelAttention(32)
        got, expected = ca(x), x * ca.excite(ca.squeeze(detour))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert got.dtype == tf.bfloat16
    np.testing.assert_array_equal(tf.cast(got, tf.float32).numpy(), tf.cast(expected, tf.float32).numpy())


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
def test_a_pointwise_conv_is_conv2d_with_a_1x1_kernel(policy):
    """Same variables (a Conv2D's weights load into it), same outputs and gradients, on the pooled maps the
    channel attention gives it and on whole maps, in float32 and under the bfloat16 policy."""
    import keras
    keras.mixed_precision.set_global_policy(policy)
    try:
        conv = keras.layers.Conv2D(8, 1, activation="relu")
        point = models.PointwiseConv(8, activation="relu")
        for shape in ((3, 1, 1, 16), (2, 5, 7, 16)):
            x = tf.random.stateless_normal(shape, seed=(3, 4))
            conv(x), point(x)
            point.set_weights(conv.get_weights())
            assert [w.shape for w in point.weights] == [w.shape for w in conv.weights]
            with tf.GradientTape(persistent=True) as tape:
                tape.watch(x)
                a, b = conv(x), point(x)
                la, lb = tf.reduce_sum(tf.cast(a, tf.float32) ** 2), tf.reduce_sum(tf.cast(b, tf.float32) ** 2)
            assert a.dtype == b.dtype and a.shape == b.shape
            tol = 1e-5 if policy == "float32" else 2e-2
            np.testing.assert_allclose(tf.cast(b, tf.float32), tf.cast(a, tf.float32), rtol=tol, atol=tol)
            for ga, gb in zip(tape.gradient(la, [x, *conv.trainable_variables]),
                              tape.gradient(lb, [x, *point.trainable_variables])):
                scale = float(tf.reduce_max(tf.abs(ga))) + 1e-6
                np.testing.assert_allclose(np.asarray(gb) / scale, np.asarray(ga) / scale, atol=tol * 3)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert models.PointwiseConv.from_config(point.get_config()).kernel_size == (1, 1)


@pytest.mark.parametrize("policy", ["float32", "mixed_bfloat16"])
@pytest.mark.parametrize("form", ["gate", "gate and residual", "gate and residual as XLA kernels"])
def test_the_channel_attention_gradient_written_out_is_autodiffs(policy, form):
    """gated_by_mean's own gradient (the mean's part added once, broadcast) against autodiff of the same
    forward, for the input, the residual and the gate's variables, eagerly and in a tf.function; fused
    (the multiply-adds as XLA kernels, as RCAB trains in bfloat16) within the same tolerance."""
    import keras
    keras.mixed_precision.set_global_policy(policy)
    try:
        ca = models.ChannelAttention(32, name="attention")
        x = tf.random.stateless_normal((2, 12, 10, 32), seed=(5, 6))
        r = tf.random.stateless_normal((2, 12, 10, 32), seed=(9, 10))
        ca(x)
        w = tf.random.stateless_normal((2, 12, 10, 32), seed=(7, 8))
        residual = form != "gate"

        def grads(fn):
            with tf.GradientTape() as tape:
                tape.watch([x, r])
                loss = tf.reduce_sum(tf.cast(fn(x, r), tf.float32) * w)
            return tape.gradient(loss, [x, r, *ca.trainable_variables]) if residual else \
                tape.gradient(loss, [x, *ca.trainable_variables])

        def autodiff(x, r):      # the layer's forward as written before, its inputs cast as Keras casts them
            x, r = tf.cast(x, ca.compute_dtype), tf.cast(r, ca.compute_dtype)
            y = x * ca.excite(ca.squeeze(tf.reduce_mean(x, axis=(1, 2), keepdims=True)))
            return r + y if residual else y

        def layer(x, r):
            return ca(x, residual=r, fused="XLA" in form) if residual else ca(x)
        # each against autodiff in the same mode: graph mode rounds bfloat16 differently from eager, and a
        # gate bias's gradient, a sum that can cancel, then differs by more than the tolerance between modes
        for got, expected in ((grads(layer), grads(autodiff)),
                              tf.function(lambda: (grads(layer), grads(autodiff)))()):
            assert len(got) == len(expected) == 5 + residual
            for g, e in zip(got, expected):
                tol = 1e-5 if policy == "float32" else 3e-2
                scale = float(tf.reduce_max(tf.abs(tf.cast(e, tf.float32))))
                np.testing.assert_allclose(tf.cast(g, tf.float32) / scale, tf.cast(e, tf.float32) / scale, atol=tol)
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_rcab_fuses_only_in_a_train_step_in_bfloat16(monkeypatch):
    """The XLA kernels only where they were measured faster: the PKDN trainer's step (the student's and the
    frozen teacher's calls) in bfloat16; inference, exports and float32 keep TensorFlow's ops."""
    import keras
    from pkdn_tf.trainer import PKDNTrainer
    seen = []
    real = models.gated_by_mean
    monkeypatch.setattr(models, "gated_by_mean", lambda *a: seen.append(a[3]) or real(*a))
    x = tf.random.stateless_normal((1, 8, 8, 16), seed=(1, 2))
    for policy in ("float32", "mixed_bfloat16"):
        keras.mixed_precision.set_global_policy(policy)
        try:
            block = models.RCAB(16)
            block(x, training=True)
            with models.fused_gates():
                block(x)
        finally:
            keras.mixed_precision.set_global_policy("float32")
    assert seen == [False, False, False, True]
    seen.clear()
    keras.mixed_precision.set_global_policy("mixed_bfloat16")
    try:
        student = models.build(models.Student(n_feats=4, blocks=1), 32)
        teacher = models.build(models.KDFSRNetTeacher(n_feats=4, blocks=1), 32)
        seen.clear()
        trainer = PKDNTrainer(student, teacher, steps_per_epoch=10)
        trainer.compile(optimizer=keras.optimizers.Adam(1e-4))
        from pkdn_tf.bench import _pkdn_batch
        trainer.train_step(_pkdn_batch(1, 32))
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert len(seen) == 2 * 9 and all(seen)       # one RCAB per stage in each network

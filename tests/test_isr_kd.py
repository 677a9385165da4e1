import json
import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from isr_kd_tf import data, losses, metrics, train_lib
from isr_kd_tf.errors import UserError
from isr_kd_tf.models import EdgeBlock, build_discriminator, build_generator
from isr_kd_tf.trainer import ISRKDTrainer, copy_generator
from tests.conftest import TINY_SOURCE, TINY_TARGET


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


def test_discriminator_has_the_official_parameter_count():
    d = build_discriminator(1.0, 128)
    assert _params(d) == 64_149_889
    assert d(tf.zeros((2, 128, 128, 3))).shape == (2, 1)


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


# --- losses ------------------------------------------------------------------

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


# --- metrics -----------------------------------------------------------------

def test_psnr_ssim_match_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a, b = (x.numpy().round() for x in _pair(shape=(1, 48, 48, 3)))
    np.testing.assert_allclose(float(metrics.psnr(a, b)[0]), peak_signal_noise_ratio(a[0], b[0], data_range=255), rtol=1e-4)
    ref = structural_similarity(a[0], b[0], data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    np.testing.assert_allclose(float(metrics.ssim(a, b)[0]), ref, atol=2e-3)


def test_y_channel_psnr_with_crop_matches_numpy():
    a, b = (x.numpy().round() for x in _pair(shape=(1, 40, 40, 3)))

    def y(img):
        return 16 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255

    ya, yb = y(a[0])[8:-8, 8:-8], y(b[0])[8:-8, 8:-8]
    ref = 10 * np.log10(255 ** 2 / np.mean((ya - yb) ** 2))
    np.testing.assert_allclose(float(metrics.psnr(a, b, crop_border=8, y_channel=True)[0]), ref, rtol=1e-4)


# --- training step -------------------------------------------------------------

def _batch(n=4, size=64):
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 255, (n, size, size, 3)).astype("float32")
    b = {"hr": tf.constant(hr), "lr": tf.constant(hr.reshape(n, size // 8, 8, size // 8, 8, 3).mean((2, 4))),
         "domain": tf.constant([0, 1] * (n // 2), tf.int32)}
    for s in (size // 4, size // 2, size):
        b[f"edge_{s}"] = tf.zeros((n, s, s, 1))
    return b


def _trainer(stage="incremental"):
    g = build_generator(0.0625, lr_size=8)
    d = build_discriminator(0.0625, 64)
    teacher = copy_generator(g) if stage == "incremental" else None
    tr = ISRKDTrainer(g, d, teacher, stage)
    tr.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    return tr


def test_teacher_stays_frozen_and_student_learns():
    tr = _trainer()
    before_t = [w.numpy().copy() for w in tr.teacher.weights]
    before_g = [w.numpy().copy() for w in tr.generator.weights]
    assert tr.teacher.trainable_weights == []
    step = tf.function(tr.train_step)
    for _ in range(2):
        logs = step(_batch())
    for a, w in zip(before_t, tr.teacher.weights):
        np.testing.assert_array_equal(a, w.numpy())
    assert any(not np.array_equal(a, w.numpy()) for a, w in zip(before_g, tr.generator.weights))
    assert float(logs["kd_response"]) > 0 and np.isfinite(float(logs["g_loss"]))


def test_no_gradient_reaches_the_teacher():
    tr = _trainer()
    b = _batch()
    with tf.GradientTape() as tape:
        out = tr.generator(b["lr"], training=True)
        _, total = tr.generator_losses(b, out, tf.zeros([4, 1]), tf.ones([4]), tf.ones([4]))
    grads = tape.gradient(total, tr.teacher.weights)
    assert all(g is None for g in grads)


def test_source_samples_get_only_distillation():
    tr = _trainer()
    b = _batch()
    b["domain"] = tf.zeros([4], tf.int32)  # all source
    out = tr.generator(b["lr"])
    task, kd = tr._masks(b["domain"])
    terms, _ = tr.generator_losses(b, out, tr.discriminator(out["sr"]), task, kd)
    for k in ("rec", "edge", "lce", "adv"):
        assert float(terms[k]) == 0.0
    # a fresh copy is the teacher: distillation is exactly zero at the start
    assert float(terms["kd_response"]) == 0.0 and float(terms["kd_feature"]) == 0.0


def test_incremental_without_teacher_is_refused():
    with pytest.raises(ValueError, match="teacher"):
        ISRKDTrainer(build_generator(0.0625), build_discriminator(0.0625, 64), None, "incremental")


# --- experiments -------------------------------------------------------------

def _cfg(tmp_path, data_dir, **kw):
    base = dict(workdir=str(tmp_path / "run"), data_dir=data_dir, source_data=TINY_SOURCE, target_data=TINY_TARGET,
                source_count=8, target_count=16, width=0.0625, hr_size=64, batch_size=4, epochs=1,
                steps_per_epoch=2, checkpoint_every=1, log_every=1, verbose=0, eval_limit=4)
    base.update(kw)
    return train_lib.Config(**base)


def test_a_stopped_stage_resumes_from_its_checkpoint(tmp_path, data_dir, capsys):
    cfg = _cfg(tmp_path, data_dir, stages=("pretrain",), steps_per_epoch=2)
    train_lib.train_stage(cfg, "pretrain", "")
    os.remove(os.path.join(cfg.workdir, "pretrain", "DONE"))
    longer = _cfg(tmp_path, data_dir, stages=("pretrain",), steps_per_epoch=3)
    train_lib.train_stage(longer, "pretrain", "")
    assert "resuming stage pretrain at step 2" in capsys.readouterr().out


@pytest.mark.parametrize("kw, message", [
    (dict(stages=("incremental",)), "init_from"),
    (dict(stages=("warmup",)), "not one of"),
    (dict(batch_size=0), "batch_size"),
    (dict(hr_size=60), "multiple"),
])
def test_bad_settings_are_rejected_before_work(tmp_path, kw, message):
    with pytest.raises(UserError, match=message):
        train_lib.check(_cfg(tmp_path, "", **kw))


def test_init_from_a_missing_or_mismatched_checkpoint(tmp_path, data_dir):
    with pytest.raises(UserError, match="no generator.weights.h5"):
        train_lib.load_generator(_cfg(tmp_path, data_dir), str(tmp_path))
    g = build_generator(0.125, lr_size=8)
    g.save_weights(str(tmp_path / "generator.weights.h5"))
    with pytest.raises(UserError, match="does not fit"):
        train_lib.load_generator(_cfg(tmp_path, data_dir, width=0.0625), str(tmp_path))


def test_the_extended_generator_starts_from_every_layer_of_g_s(tmp_path, data_dir):
    """Table V: the extra convs keep the channel count, so RGB loads too; the teacher is G_S itself."""
    g_s = build_generator(0.0625, lr_size=8)
    g_s.save_weights(str(tmp_path / "generator.weights.h5"))
    cfg = _cfg(tmp_path, data_dir, extra_convs=6)
    ext = train_lib.load_generator(cfg, str(tmp_path))
    assert len(ext.extra) == 6
    for layer in g_s.layers:
        for a, b in zip(layer.get_weights(), ext.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)
    teacher = train_lib.load_pretrained(cfg, str(tmp_path))
    assert teacher.extra == [] and _params(teacher) == _params(g_s)
    x = tf.random.uniform((1, 8, 8, 3), 0, 255)
    np.testing.assert_allclose(teacher(x)["sr"], g_s(x)["sr"], atol=1e-4)


def test_incremental_starts_from_the_pretraining_discriminator_and_adam_state(tmp_path, data_dir, capsys):
    pre = _cfg(tmp_path, data_dir, stages=("pretrain",), workdir=str(tmp_path / "pre"))
    train_lib.run(pre)
    ckpt = train_lib.init_checkpoint(pre.workdir)
    assert ckpt.endswith("ckpt-2")
    cfg = _cfg(tmp_path, data_dir, stages=("incremental",), init_from=pre.workdir)
    d = build_discriminator(cfg.width, cfg.hr_size)
    g_opt, d_opt = train_lib.optimizer(cfg, 0.9, 0.999), train_lib.optimizer(cfg, 0.9, 0.999)
    g = train_lib.load_generator(cfg, pre.workdir)
    g_opt.build(g.trainable_variables)
    d_opt.build(d.trainable_variables)
    train_lib.restore_gan_state(cfg, pre.workdir, d, g_opt, d_opt)
    reader = tf.train.load_checkpoint(ckpt)       # the pre-trained D, as its optimizer tracked it
    assert int(d_opt.iterations) == 2 and int(g_opt.iterations) == 2
    for i, var in enumerate(d.trainable_variables):
        np.testing.assert_array_equal(var.numpy(), reader.get_tensor(
            f"d_optimizer/_trainable_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE"))
    assert "restored from" in capsys.readouterr().out
    with pytest.raises(UserError, match="fresh_discriminator"):
        train_lib.restore_gan_state(cfg, pre.workdir, build_discriminator(0.125, cfg.hr_size), g_opt, d_opt)


def test_fused_adam_matches_keras_adam():
    from isr_kd_tf.optim import FusedAdam
    results = []
    for cls in (keras.optimizers.Adam, FusedAdam):
        v = keras.Variable(np.linspace(-1, 1, 12).reshape(3, 4).astype("float32"))
        opt = cls(1e-2, beta_1=0.9, beta_2=0.99, epsilon=1e-8)
        opt.build([v])
        grads = [tf.constant(np.sin(np.arange(12) + i).reshape(3, 4), tf.float32) for i in range(5)]

        @tf.function
        def steps():
            for g in grads:
                opt.apply_gradients([(g, v)])
        steps()
        results.append(v.numpy())
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)


@pytest.mark.parametrize("method", ["isr_kd", "pkdn"])
def test_mixed_precision_trains_with_float32_losses_and_variables(tmp_path, method):
    from isr_kd_tf import precision
    cfg = train_lib.Config(method=method, width=0.0625, student_blocks=1, pfb_per_stage=1, mixed_precision=True,
                           hr_size=32)
    try:
        assert precision.set_policy(True) == "mixed_bfloat16"      # no GPU here
        if method == "isr_kd":
            g = build_generator(cfg.width)
            tr = ISRKDTrainer(g, build_discriminator(cfg.width, 32), copy_generator(g), "incremental")
            tr.compile(train_lib.optimizer(cfg, 0.9, 0.999), train_lib.optimizer(cfg, 0.9, 0.999))
            batch = data.finish({"hr": tf.cast(tf.random.uniform((4, 32, 32, 3), 0, 255), tf.uint8),
                                 "domain": tf.constant([0, 1, 0, 1])}, data.PipelineConfig(hr_size=32))
            model = g
        else:
            from pkdn_tf import experiment
            from pkdn_tf.trainer import PKDNTrainer
            model = experiment.build_model(cfg, "student")
            tr = PKDNTrainer(model, experiment.build_model(cfg, "teacher"))
            tr.compile(optimizer=train_lib.optimizer(cfg, 0.9, 0.99))
            batch = data.finish({"hr": tf.cast(tf.random.uniform((2, 32, 32, 3), 0, 255), tf.uint8),
                                 "parsing": tf.zeros((2, 32, 32), tf.uint8), "domain": tf.constant([0, 0])},
                                experiment.pipeline_cfg(cfg))
        assert model.compute_dtype == "bfloat16" and model.weights[0].dtype == "float32"
        before = [w.copy() for w in model.get_weights()]
        logs = tf.function(tr.train_step)(batch)
        assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in logs.values())
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    finally:
        precision.set_policy(False)


@pytest.mark.parametrize("kind", ["keras", "saved_model"])
def test_identity_network_loads_and_its_loss_trains_the_generator(tmp_path, kind):
    from isr_kd_tf.pretrained import load_identity_net
    keras.utils.set_random_seed(0)
    embed = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(8, 3, strides=4),
                              keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(16)])
    if kind == "keras":
        path = str(tmp_path / "embed.keras")
        embed.save(path)
    else:
        path = str(tmp_path / "embed_savedmodel")
        embed.export(path)
    net = load_identity_net(path)
    x = tf.random.uniform((2, 32, 32, 3), 0, 255)
    np.testing.assert_allclose(np.asarray(net(x)), embed(x).numpy(), rtol=1e-5, atol=1e-5)
    g = build_generator(0.0625, lr_size=4)
    tr = ISRKDTrainer(g, build_discriminator(0.0625, 32), None, "pretrain", identity_net=net)
    tr.compile(keras.optimizers.Adam(1e-3), keras.optimizers.Adam(1e-3))
    batch = data.finish({"hr": tf.cast(x, tf.uint8), "domain": tf.constant([0, 0])}, data.PipelineConfig(hr_size=32))
    logs = tr.train_step(batch)
    assert float(logs["identity"]) > 0
    assert net.trainable_variables == []
    with pytest.raises(UserError, match="identity_net"):
        load_identity_net(str(tmp_path / "missing.keras"))

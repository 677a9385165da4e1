"""The ISR-KD GAN step: the frozen teacher stays frozen, routing by domain, gradients where they belong."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from isr_kd.discriminator import build_discriminator
from isr_kd.generator import build_generator
from isr_kd.trainer import ISRKDTrainer, copy_generator


def _params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


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


@pytest.mark.slow
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


def _perturbed(model, seed=1):
    """The same network with every weight moved a little: a teacher that differs from the student."""
    rng = np.random.default_rng(seed)
    model.set_weights([w + 0.05 * rng.standard_normal(w.shape).astype(w.dtype) for w in model.get_weights()])
    return model


def test_no_gradient_reaches_the_teacher():
    """Even with the teacher's weights watched (a frozen model's are not by default) and a teacher
    that differs from the student, the distillation terms send nothing into it."""
    tr = _trainer()
    _perturbed(tr.teacher)
    b = _batch()
    teacher_vars = [w.value for w in tr.teacher.weights]
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(teacher_vars)
        out = tr.generator(b["lr"], training=True)
        terms, total = tr.generator_losses(b, out, tf.zeros([4, 1]), tf.ones([4]), tf.ones([4]))
    assert float(terms["kd_response"]) > 0 and float(terms["kd_feature"]) > 0
    assert all(g is None for g in tape.gradient(total, teacher_vars))
    assert all(g is not None for g in tape.gradient(terms["kd_response"], tr.generator.trainable_variables[:2]))


def test_source_samples_get_only_distillation():
    tr = _trainer()
    b = _batch()
    b["domain"] = tf.zeros([4], tf.int32)  # all source
    out = tr.generator(b["lr"])
    masks = tr.masks(b)
    terms, _ = tr.generator_losses(b, out, tr.discriminator(out["sr"]), masks["task"], masks["kd"])
    for k in ("rec", "edge", "lce", "adv"):
        assert float(terms[k]) == 0.0
    # a fresh copy is the teacher: distillation is exactly zero at the start
    assert float(terms["kd_response"]) == 0.0 and float(terms["kd_feature"]) == 0.0
    # a teacher that differs: distillation on the source samples, still no task loss
    _perturbed(tr.teacher)
    terms, _ = tr.generator_losses(b, out, tr.discriminator(out["sr"]), masks["task"], masks["kd"])
    assert float(terms["kd_response"]) > 0 and float(terms["kd_feature"]) > 0
    assert all(float(terms[k]) == 0.0 for k in ("rec", "edge", "lce", "adv"))
    # all target: the task losses, no distillation whatever the teacher
    b["domain"] = tf.ones([4], tf.int32)
    masks = tr.masks(b)
    terms, _ = tr.generator_losses(b, out, tr.discriminator(out["sr"]), masks["task"], masks["kd"])
    assert float(terms["kd_response"]) == 0.0 and float(terms["kd_feature"]) == 0.0
    assert all(float(terms[k]) > 0 for k in ("rec", "lce", "adv"))


def test_incremental_without_teacher_is_refused():
    with pytest.raises(ValueError, match="teacher"):
        ISRKDTrainer(build_generator(0.0625), build_discriminator(0.0625, 64), None, "incremental")


def test_on_selected_runs_the_selected_samples_and_leaves_zeros_elsewhere():
    from isr_kd.trainer import on_selected
    from isr_kd_tf.losses import Mask
    conv = keras.layers.Conv2D(4, 3, padding="same", bias_initializer="ones")
    x = tf.random.stateless_normal((4, 8, 8, 3), seed=(0, 1))
    full = conv(x)
    for wrap in (lambda f: f, tf.function):
        got = wrap(lambda x, m: on_selected(conv, x, m))(x, tf.constant([1.0, 0.0, 1.0, 0.0]))
        np.testing.assert_allclose(got.numpy()[[0, 2]], full.numpy()[[0, 2]], atol=1e-5)
        assert not got.numpy()[[1, 3]].any()
        none = wrap(lambda x, m: on_selected(conv, x, m))(x, tf.zeros([4]))      # sample 0 runs, weight 0
        assert none.shape == (4, 8, 8, 4) and not none.numpy()[1:].any()
    mask = Mask(tf.constant([0.0, 1.0, 1.0, 0.0]), tf.constant(2.0))
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        selected = tf.reduce_sum(on_selected(conv, x, mask) * mask.weights[:, None, None, None])
        everything = tf.reduce_sum(conv(x) * mask.weights[:, None, None, None])
    np.testing.assert_allclose(tf.convert_to_tensor(tape.gradient(selected, x)).numpy(),    # gather's: IndexedSlices
                               tape.gradient(everything, x).numpy(), atol=1e-5)
    np.testing.assert_allclose(tape.gradient(selected, conv.kernel).numpy(),
                               tape.gradient(everything, conv.kernel).numpy(), rtol=1e-5, atol=1e-5)


def test_the_incremental_step_on_selected_samples_equals_the_whole_batch_step(monkeypatch):
    """D on the new domain's samples only and the teacher on the old domain's only: the same losses and the same
    updated weights as running both on the whole batch (whose other samples the masks zero), within float noise;
    also with no old-domain sample in the batch."""
    from isr_kd import trainer as trainer_lib
    selected = trainer_lib.on_selected
    for domains in ([0, 1, 0, 1], [1, 1, 1, 1]):
        b = _batch()
        b["domain"] = tf.constant(domains, tf.int32)
        runs = []
        for whole in (False, True):
            monkeypatch.setattr(trainer_lib, "on_selected", (lambda fn, x, mask: fn(x)) if whole else selected)
            keras.utils.set_random_seed(0)
            tr = _trainer()
            _perturbed(tr.teacher)
            logs = tr.train_step(b)         # eagerly: nothing to trace for two tiny steps
            runs.append(({k: float(v) for k, v in logs.items()},
                         [w.numpy() for w in tr.generator.weights + tr.discriminator.weights]))
        (logs_a, weights_a), (logs_b, weights_b) = runs
        assert logs_a.keys() == logs_b.keys()
        for k in logs_a:
            assert logs_a[k] == pytest.approx(logs_b[k], rel=1e-5, abs=1e-6), (domains, k)
        for a, w in zip(weights_a, weights_b):
            np.testing.assert_allclose(a, w, rtol=1e-4, atol=1e-6)

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

"""PKDN distillation: KDFSRNet's schedule, the frozen teacher, gradients only into the student."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from pkdn_tf.parsing import encode_parsing
from pkdn_tf import models
from pkdn_tf.trainer import PKDNTrainer, feature_distill_loss


def test_feature_distillation_is_zero_on_identical_features_and_positive_otherwise():
    f = [tf.random.uniform((2, 4, 4, 3)) for _ in range(9)]
    assert feature_distill_loss(f, f).numpy().tolist() == [0.0, 0.0]
    np.testing.assert_allclose(feature_distill_loss(f, [x + 0.5 for x in f]).numpy(), [0.5, 0.5], rtol=1e-6)


def test_distillation_weights_follow_kdfsrnets_epoch_schedule():
    """train_student.py: epoch i <= 10 gets lambda_fs * (10 - i) / 10 and lambda_ts; i > 10 neither."""
    t = PKDNTrainer(models.Student(n_feats=4), None, lambda_ts=0.1, lambda_fs=10.0, distill_epochs=10,
                    steps_per_epoch=5)
    steps = (0, 4, 25, 49, 50, 54, 55, 99)
    got = [tuple(float(v) for v in t.distill_weights(tf.constant(step, tf.int64))) for step in steps]
    want = [(0.1, 10.0), (0.1, 10.0), (0.1, 5.0), (0.1, 1.0), (0.1, 0.0), (0.1, 0.0), (0.0, 0.0), (0.0, 0.0)]
    np.testing.assert_allclose(got, want, rtol=1e-6)


def _batch(n=2, size=32):
    hr = tf.random.uniform((n, size, size, 3), 0, 255)
    labels = tf.random.uniform((n, size, size), 0, 19, tf.int32)
    return {"hr": hr, "lr_up": tf.image.resize(tf.image.resize(hr, (size // 8, size // 8)), (size, size)),
            "parsing": labels, "parsing_input": encode_parsing(labels), "domain": tf.zeros([n], tf.int32)}


@pytest.mark.slow
def test_student_steps_leave_the_frozen_teacher_bit_for_bit_unchanged():
    teacher = models.build(models.Teacher(n_feats=8), 32)
    before = [w.copy() for w in teacher.get_weights()]
    student = models.build(models.Student(n_feats=8, blocks=2), 32)
    trainer = PKDNTrainer(student, teacher, steps_per_epoch=1)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    s_before = [w.copy() for w in student.get_weights()]
    for _ in range(2):
        logs = trainer.train_step(_batch())
    assert teacher.trainable_variables == []
    for a, b in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(s_before, student.get_weights()))
    assert float(logs["ts"]) > 0 and float(logs["fs"]) > 0


def test_the_students_step_sends_no_gradient_into_the_teacher():
    """The trainer's own step: its distillation terms reach the student and, even with the teacher's
    weights watched, nothing of the teacher (the step must stop the gradient itself)."""
    teacher = models.build(models.KDFSRNetTeacher(n_feats=8), 32)
    student = models.build(models.Student(n_feats=8, blocks=1), 32)
    trainer = PKDNTrainer(student, teacher, steps_per_epoch=1)
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    teacher_vars = [w.value for w in teacher.weights]
    student_vars = [w.value for w in student.trainable_weights[:-2]]       # all but the tail, which fs skips
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(teacher_vars)
        logs = trainer.train_step(_batch())
    for term in ("ts", "fs"):
        assert all(g is None for g in tape.gradient(logs[term], teacher_vars)), term
    assert all(g is not None for g in tape.gradient(logs["fs"], student_vars))
    assert all(g is not None for g in tape.gradient(logs["ts"], student_vars))

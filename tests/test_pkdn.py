"""PKDN: exact KDFSRNet parameter counts, teacher variants, distillation, experiments."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from tests.conftest import TINY_SOURCE, TINY_TARGET
from isr_kd_tf import data, train_lib
from isr_kd_tf.data.parsing import PALETTE, encode_parsing
from isr_kd_tf.errors import UserError
from pkdn_tf import models
from pkdn_tf.trainer import PKDNTrainer, feature_distill_loss


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


def test_teacher_variants_differ_where_the_ablations_say():
    def n(**kw):
        return models.build(models.Teacher(n_feats=16, **kw), 32).count_params()
    full, no_ffb, no_pfb_ffb = n(), n(ffb=False), n(pfb=False, ffb=False)
    assert full > no_ffb != no_pfb_ffb
    one_hot = models.build(models.Teacher(parsing_channels=19, n_feats=16), 32)
    assert one_hot.count_params() > full
    s = models.build(models.Student(ffb=True, n_feats=16), 32)
    assert s.count_params() > models.build(models.Student(n_feats=16), 32).count_params()


def test_a_parsing_guided_network_refuses_to_run_without_parsing():
    m = models.build(models.Teacher(n_feats=8), 32)
    with pytest.raises(ValueError, match="parsing"):
        m(tf.zeros((1, 32, 32, 3)))


def test_parsing_encodings_eager_and_in_tf_data_agree():
    labels = np.array([[0, 1], [17, 18]], np.uint8)
    color = encode_parsing(labels, "color").numpy()
    np.testing.assert_allclose(color[1, 1], PALETTE[18] / 255.0)
    assert color[0, 0].tolist() == [1.0, 1.0, 1.0]        # background white, as BiSeNet draws it
    onehot = encode_parsing(labels, "onehot").numpy()
    assert onehot.shape == (2, 2, 19) and onehot.sum() == 4 and onehot[1, 0, 17] == 1
    in_graph = next(iter(tf.data.Dataset.from_tensors(labels).map(lambda x: encode_parsing(x, "color"))))
    np.testing.assert_array_equal(in_graph.numpy(), color)
    with pytest.raises(UserError, match="parsing_encoding"):
        encode_parsing(labels, "grey")


def test_feature_distillation_is_zero_on_identical_features_and_positive_otherwise():
    f = [tf.random.uniform((2, 4, 4, 3)) for _ in range(9)]
    assert float(feature_distill_loss(f, f)) == 0.0
    assert float(feature_distill_loss(f, [x + 0.5 for x in f])) == pytest.approx(0.5)


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


def test_student_steps_leave_the_frozen_teacher_bit_for_bit_unchanged():
    teacher = models.build(models.Teacher(n_feats=8), 32)
    before = [w.copy() for w in teacher.get_weights()]
    student = models.build(models.Student(n_feats=8, blocks=2), 32)
    trainer = PKDNTrainer(student, teacher, steps_per_epoch=1)
    import keras
    trainer.compile(optimizer=keras.optimizers.Adam(1e-3))
    s_before = [w.copy() for w in student.get_weights()]
    for _ in range(2):
        logs = trainer.train_step(_batch())
    assert teacher.trainable_variables == []
    for a, b in zip(before, teacher.get_weights()):
        np.testing.assert_array_equal(a, b)
    assert any(not np.array_equal(a, b) for a, b in zip(s_before, student.get_weights()))
    assert float(logs["ts"]) > 0 and float(logs["fs"]) > 0


def test_distillation_gradients_reach_only_the_student():
    teacher = models.build(models.KDFSRNetTeacher(n_feats=8), 32)
    student = models.build(models.Student(n_feats=8, blocks=1), 32)
    batch = _batch()
    with tf.GradientTape(persistent=True) as tape:
        t = teacher(batch["lr_up"] / 255, batch["parsing_input"])
        s = student(batch["lr_up"] / 255)
        loss = feature_distill_loss([tf.stop_gradient(f) for f in t["features"]], s["features"])
    assert all(g is None for g in tape.gradient(loss, teacher.trainable_variables))
    assert all(g is not None for g in tape.gradient(loss, student.trainable_variables[:-2]))  # all but the tail


def _cfg(tmp_path, data_dir, **kw):
    base = dict(method="pkdn", workdir=str(tmp_path / "pkdn"), data_dir=data_dir, source_data=TINY_SOURCE,
                source_count=0, stages=("teacher", "student", "student_no_kd"), width=0.125, pfb_per_stage=1,
                student_blocks=1, hr_size=32, batch_size=4, epochs=2, steps_per_epoch=2, distill_epochs=1,
                degradation="bicubic", checkpoint_every=2, log_every=2, val_images=4, verbose=0, eval_limit=8,
                eval_y_channel=True, eval_crop_border=8, g_beta2=0.99)
    base.update(kw)
    return train_lib.Config(**base)


def test_a_teacher_needs_a_dataset_with_parsing_maps(tmp_path, data_dir):
    with pytest.raises(UserError, match="no parsing maps"):
        train_lib.run(_cfg(tmp_path, data_dir, source_data=TINY_TARGET, stages=("teacher",)))


def test_the_pipeline_gives_the_pkdn_inputs(tmp_path, data_dir):
    from pkdn_tf.experiment import pipeline_cfg
    cfg = pipeline_cfg(_cfg(tmp_path, data_dir, hr_size=64, parsing_encoding="onehot"))
    batch = next(iter(data.eval_dataset(TINY_SOURCE, "test", data.SOURCE, cfg, 2, data_dir)))
    assert batch["lr"].shape == (2, 8, 8, 3) and batch["lr_up"].shape == (2, 64, 64, 3)
    assert batch["parsing_input"].shape == (2, 64, 64, 19)
    assert "edge_64" not in batch


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

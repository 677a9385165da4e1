"""ISR-KD as a method: stages, resume, G_S for Table V, D and Adam from --init_from, bad settings."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from isr_kd_tf import config, data, experiment, layout, methods
from isr_kd_tf.errors import UserError
from isr_kd import method as isr_method
from isr_kd.discriminator import build_discriminator
from isr_kd.generator import build_generator
from isr_kd.trainer import ISRKDTrainer
from tests.conftest import TINY_SOURCE, TINY_TARGET, pipeline


def _params(model):
    return sum(int(np.prod(w.shape)) for w in model.trainable_weights)


def _cfg(tmp_path, data_dir, **kw):
    base = dict(workdir=str(tmp_path / "run"), data_dir=data_dir, source_data=TINY_SOURCE, target_data=TINY_TARGET,
                source_count=8, target_count=16, width=0.0625, hr_size=64, batch_size=4, epochs=1,
                steps_per_epoch=2, checkpoint_every=1, log_every=1, verbose=0, eval_limit=4)
    base.update(kw)
    return config.make(**base)


@pytest.mark.slow
def test_a_stopped_stage_resumes_from_its_checkpoint(tmp_path, data_dir, capsys):
    cfg = _cfg(tmp_path, data_dir, stages=("pretrain",), steps_per_epoch=2)
    experiment.train_stage(cfg, "pretrain", "")
    os.remove(os.path.join(cfg.workdir, "pretrain", "DONE"))
    longer = _cfg(tmp_path, data_dir, stages=("pretrain",), steps_per_epoch=3)
    experiment.train_stage(longer, "pretrain", "")
    assert "resuming stage pretrain at step 2" in capsys.readouterr().out


@pytest.mark.parametrize("kw, message", [
    (dict(stages=("incremental",)), "init_from"),
    (dict(stages=("warmup",)), "not one of"),
    (dict(batch_size=0), "batch_size"),
    (dict(hr_size=60), "multiple"),
])
def test_bad_settings_are_rejected_before_work(tmp_path, kw, message):
    with pytest.raises(UserError, match=message):
        experiment.check(_cfg(tmp_path, "", **kw))


def test_init_from_a_missing_or_mismatched_checkpoint(tmp_path, data_dir):
    with pytest.raises(UserError, match="no finished pretrain"):
        isr_method.load_generator(_cfg(tmp_path, data_dir), str(tmp_path))
    g = build_generator(0.125, lr_size=8)
    g.save_weights(str(tmp_path / "model.weights.h5"))
    with pytest.raises(UserError, match="does not fit"):
        isr_method.load_generator(_cfg(tmp_path, data_dir, width=0.0625), str(tmp_path))


@pytest.mark.slow
def test_the_extended_generator_starts_from_every_layer_of_g_s(tmp_path, data_dir):
    """Table V: the extra convs keep the channel count, so RGB loads too; the teacher is G_S itself."""
    g_s = build_generator(0.0625, lr_size=8)
    g_s.save_weights(str(tmp_path / "model.weights.h5"))
    cfg = _cfg(tmp_path, data_dir, extra_convs=6)
    ext = isr_method.load_generator(cfg, str(tmp_path))
    assert len(ext.extra) == 6
    for layer in g_s.layers:
        for a, b in zip(layer.get_weights(), ext.get_layer(layer.name).get_weights()):
            np.testing.assert_array_equal(a, b)
    teacher = isr_method.load_pretrained(cfg, str(tmp_path))
    assert teacher.extra == [] and _params(teacher) == _params(g_s)
    x = tf.random.uniform((1, 8, 8, 3), 0, 255)
    np.testing.assert_allclose(teacher(x)["sr"], g_s(x)["sr"], atol=1e-4)


@pytest.mark.slow
def test_incremental_starts_from_the_pretraining_discriminator_and_adam_state(tmp_path, data_dir, capsys):
    pre = _cfg(tmp_path, data_dir, stages=("pretrain",), workdir=str(tmp_path / "pre"))
    experiment.run(pre)
    ckpt = layout.newest_checkpoint_behind(pre.workdir, "pretrain")
    assert ckpt.endswith("ckpt-2")
    cfg = _cfg(tmp_path, data_dir, stages=("incremental",), init_from=pre.workdir)
    d = build_discriminator(cfg.width, cfg.hr_size)
    g = isr_method.load_generator(cfg, pre.workdir)
    stage = methods.Stage(cfg, "incremental", pre.workdir, steps_per_epoch=10, total_steps=10)
    g_opt, d_opt = stage.optimizer(g.trainable_variables), stage.optimizer(d.trainable_variables)
    isr_method.restore_gan_state(cfg, pre.workdir, d, g_opt, d_opt)
    reader = tf.train.load_checkpoint(ckpt)       # the pre-trained D, as its optimizer tracked it
    assert int(d_opt.iterations) == 2 and int(g_opt.iterations) == 2
    for i, var in enumerate(d.trainable_variables):
        np.testing.assert_array_equal(var.numpy(), reader.get_tensor(
            f"d_optimizer/_trainable_variables/{i}/.ATTRIBUTES/VARIABLE_VALUE"))
    assert "restored from" in capsys.readouterr().out
    # the incremental stage's own rate (the checkpoint holds G_S's) and a cosine schedule over its own
    # steps, not G_S's two
    cfg.run.lr_schedule, cfg.run.learning_rate = "cosine", pre.learning_rate / 4
    stage = methods.Stage(cfg, "incremental", pre.workdir, steps_per_epoch=10, total_steps=10)
    g_opt = stage.optimizer(g.trainable_variables)
    tf.train.Checkpoint(g_optimizer=g_opt).restore(ckpt).expect_partial()
    assert int(g_opt.iterations) == 2 and float(g_opt.learning_rate) == pytest.approx(pre.learning_rate)
    stage.begin({"generator": g_opt})
    assert g_opt.scheduled_learning_rate() == pytest.approx(pre.learning_rate / 4)
    with pytest.raises(TypeError, match="stage.optimizer"):       # one made elsewhere gets no schedule
        stage.begin({"generator": methods.adam(cfg.run)})
    with pytest.raises(UserError, match="fresh_discriminator"):
        isr_method.restore_gan_state(cfg, pre.workdir, build_discriminator(0.125, cfg.hr_size), g_opt, d_opt)


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
    batch = data.finish({"hr": tf.cast(x, tf.uint8), "domain": tf.constant([0, 0])}, pipeline("isr_kd", hr_size=32))
    logs = tr.train_step(batch)
    assert float(logs["identity"]) > 0
    assert net.trainable_variables == []
    with pytest.raises(UserError, match="identity_net"):
        load_identity_net(str(tmp_path / "missing.keras"))

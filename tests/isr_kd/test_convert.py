"""Official TF1 ISR-KD checkpoints load into the Keras networks with equal outputs."""

import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf

from isr_kd import convert
from isr_kd_tf.errors import UserError
from isr_kd.discriminator import build_discriminator
from isr_kd.generator import build_generator

WIDTH = 0.0625


def _write_tf1_checkpoint(prefix, values):
    with tf.Graph().as_default():
        for name, value in values.items():
            tf.compat.v1.Variable(value, name=name)
        saver = tf.compat.v1.train.Saver()
        with tf.compat.v1.Session() as sess:
            sess.run(tf.compat.v1.global_variables_initializer())
            saver.save(sess, prefix)


def _official_values(seed=0):
    """Random values under the official names, shaped by the layer table (via fresh Keras models)."""
    rng = np.random.default_rng(seed)
    g, d = build_generator(WIDTH), build_discriminator(WIDTH)
    out = {}
    for model, scope in ((g, "generator"), (d, "discriminator")):
        for var, name in convert.official_names(model, scope):
            out[name] = (rng.standard_normal(var.shape) * 0.05).astype("float32")
    out["generator/Conv1/w/Adam"] = np.zeros((1,), "float32")     # optimizer slots are ignored
    return out


def _reference_generator(v, x):
    """The official forward, in raw tf.nn ops, from the layer table (paper-details §1.3-1.4)."""
    def conv(h, name, relu=True):
        y = tf.nn.conv2d(h, v[f"generator/{name}/w"], 1, "SAME") + v[f"generator/{name}/b"]
        return tf.nn.relu(y) if relu else y
    h = conv(x, "Conv1", relu=False)
    h = h + conv(conv(h, "Step1_1"), "Step1_2")
    for i, pool in enumerate((5, 7, 10), start=1):
        k = v[f"generator/Step{i}_de/conv2d_transpose/kernel"]
        shape = [h.shape[0], 2 * h.shape[1], 2 * h.shape[2], k.shape[2]]
        up = tf.nn.relu(tf.nn.conv2d_transpose(h, k, shape, 2, "SAME") + v[f"generator/Step{i}_de/conv2d_transpose/bias"])
        sub = tf.nn.relu(up - tf.nn.avg_pool2d(up, pool, 1, "SAME"))
        h = tf.concat([up, sub], -1)
        if i < 3:
            h = up + conv(conv(h, f"Step{i + 1}_1"), f"Step{i + 1}_2")
    return conv(h, "RGB", relu=False)


def _reference_discriminator(v, x):
    names = ["di_conv1_1", "di_conv1_2", "di_conv2_1", "di_conv2_2", "di_conv3_1", "di_conv3_2", "di_conv4_1"]
    for i, name in enumerate(names):
        stride, pad = (2, "VALID") if name.endswith("_2") else (1, "SAME")
        x = tf.nn.conv2d(x, v[f"discriminator/{name}/w"], stride, pad) + v[f"discriminator/{name}/b"]
        if i < 6:
            x = tf.nn.leaky_relu(x, 0.2)
    x = tf.reshape(x, [x.shape[0], -1])
    x = tf.nn.leaky_relu(x @ v["discriminator/dense/kernel"] + v["discriminator/dense/bias"], 0.2)
    return x @ v["discriminator/dense_1/kernel"] + v["discriminator/dense_1/bias"]


def test_official_checkpoint_gives_the_reference_outputs(tmp_path):
    values = _official_values()
    prefix = str(tmp_path / "model.ckpt-100")
    _write_tf1_checkpoint(prefix, values)
    g, d = convert.load_official_checkpoint(prefix, WIDTH)
    lr = tf.random.uniform((2, 16, 16, 3), 0, 255, seed=1)
    np.testing.assert_allclose(g(lr)["sr"].numpy(), _reference_generator(values, lr).numpy(), rtol=1e-4, atol=1e-3)
    hr = tf.random.uniform((2, 128, 128, 3), 0, 255, seed=2)
    np.testing.assert_allclose(d(hr).numpy(), _reference_discriminator(values, hr).numpy(), rtol=1e-4, atol=1e-3)


def test_mismatched_checkpoints_name_the_variables(tmp_path):
    values = _official_values()
    del values["generator/RGB/b"]
    values["discriminator/dense/bias"] = np.zeros((7,), "float32")
    prefix = str(tmp_path / "bad.ckpt")
    _write_tf1_checkpoint(prefix, values)
    with pytest.raises(UserError, match=r"generator/RGB/b missing.*discriminator/dense/bias is \(7,\)"):
        convert.load_official_checkpoint(prefix, WIDTH)
    with pytest.raises(UserError, match="not a readable TF checkpoint"):
        convert.load_official_checkpoint(str(tmp_path / "nothing"), WIDTH)


@pytest.mark.slow
def test_cli_writes_weights_usable_with_init_from(tmp_path):
    prefix = str(tmp_path / "model.ckpt-1")
    values = _official_values(3)
    _write_tf1_checkpoint(prefix, values)
    out = tmp_path / "official"
    res = subprocess.run([sys.executable, "-m", "isr_kd.convert", f"--checkpoint={prefix}", f"--output={out}",
                          f"--width={WIDTH}"], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stderr[-1500:]
    from isr_kd_tf import config
    from isr_kd import method as isr_method
    g = isr_method.load_generator(config.make(width=WIDTH), str(out))
    np.testing.assert_array_equal(g.get_layer("RGB").kernel.numpy(), values["generator/RGB/w"])

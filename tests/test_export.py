"""SavedModel export, loading trained models, and inference on users' files."""

import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from isr_kd_tf import config, export, infer, methods, serving
from isr_kd_tf.errors import UserError
from isr_kd.generator import build_generator
from pkdn_tf import method as pkdn_method
from tests.conftest import ROOT



def _workdir(tmp_path, method):
    """A work directory as training leaves it: config.json and a stage checkpoint (random weights)."""
    own = {"student_blocks": 1} if method == "pkdn" else {}
    cfg = config.make(method=method, workdir=str(tmp_path / method), width=0.0625 if method == "isr_kd" else 0.125,
                      hr_size=64, **own)
    os.makedirs(cfg.workdir)
    config.save(cfg)
    tf.random.set_seed(1)
    if method == "isr_kd":
        model, stage = build_generator(cfg.width), "pretrain"
    else:
        model, stage = pkdn_method.build_model(cfg, "student"), "student"
    for w in model.weights:   # non-trivial biases too
        w.assign(w + tf.random.normal(w.shape, stddev=0.02))
    tf.train.CheckpointManager(tf.train.Checkpoint(model=methods.model_variables(model)),
                               os.path.join(cfg.workdir, stage, "checkpoints"), 1).save(7)
    return cfg, model


@pytest.mark.slow
@pytest.mark.parametrize("method", ["isr_kd", "pkdn"])
def test_export_matches_the_in_memory_model(tmp_path, method):
    cfg, model = _workdir(tmp_path, method)
    out = str(tmp_path / "export")
    export.export(cfg.workdir, out)
    loaded = tf.saved_model.load(out)
    lr = np.random.default_rng(0).integers(0, 256, (2, 10, 13, 3)).astype(np.uint8)   # not a multiple of 16/8
    resolver = serving.SuperResolver(cfg, model)
    want = resolver.sr_float(lr.astype(np.float32))["sr"].numpy()
    got = loaded.signatures["sr_float"](images=tf.constant(lr, tf.float32))["sr"].numpy()
    assert got.shape == (2, 80, 104, 3)
    np.testing.assert_allclose(got, want, atol=1e-3)
    u8 = loaded.signatures["serving_default"](images=tf.constant(lr))["sr"].numpy()
    assert u8.dtype == np.uint8
    assert np.abs(u8.astype(int) - np.clip(np.rint(want), 0, 255)).max() <= 1
    if method == "pkdn":   # the in-graph pre-upsampling is the training pipeline's
        from isr_kd_tf.data import upsample_bicubic
        lr8 = lr[:, :8, :8].astype(np.float32)
        direct = model(upsample_bicubic(tf.constant(lr8), [64, 64]) / 255.0)["sr"].numpy() * 255.0
        np.testing.assert_allclose(resolver.sr_float(lr8)["sr"].numpy(), direct,
                                   atol=1e-3)


@pytest.mark.slow
def test_saved_model_cli_describes_the_export(tmp_path):
    cfg, _ = _workdir(tmp_path, "isr_kd")
    out = str(tmp_path / "export")
    export.export(cfg.workdir, out)
    cli = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")
    shown = subprocess.run([cli, "show", "--dir", out, "--all"], capture_output=True, text=True, timeout=300)
    assert shown.returncode == 0, shown.stderr[-1000:]
    assert "serving_default" in shown.stdout and "DT_UINT8" in shown.stdout and "(-1, -1, -1, 3)" in shown.stdout


def test_loading_says_what_is_missing(tmp_path):
    with pytest.raises(UserError, match="not a training work directory"):
        export.load_trained(str(tmp_path))
    cfg, _ = _workdir(tmp_path, "isr_kd")
    with pytest.raises(UserError, match="has no checkpoint yet"):
        export.load_trained(cfg.workdir, "incremental")
    with pytest.raises(UserError, match="no such checkpoint"):
        export.load_trained(cfg.workdir, "pretrain", str(tmp_path / "ckpt-3"))
    with pytest.raises(UserError, match="stages"):
        export.load_trained(cfg.workdir, "student")


def test_tiled_inference_equals_whole_image_inference(tmp_path):
    cfg, model = _workdir(tmp_path, "isr_kd")
    resolver = serving.SuperResolver(cfg, model)
    fn = resolver.sr_float
    lr = np.random.default_rng(1).integers(0, 256, (37, 29, 3)).astype(np.uint8)
    whole = np.clip(np.rint(fn(lr[None].astype(np.float32))["sr"].numpy()[0]), 0, 255)
    tiled = infer.super_resolve_tiled(fn, lr, tile=16, overlap=8)
    assert tiled.shape == (296, 232, 3)
    assert np.abs(tiled.astype(int) - whole).max() <= 1


def _write(path, arr):
    Image.fromarray(arr).save(path)


def test_infer_reads_every_kind_of_file_and_skips_the_bad_ones(tmp_path):
    cfg, _ = _workdir(tmp_path, "isr_kd")
    src = tmp_path / "in"
    src.mkdir()
    rng = np.random.default_rng(2)
    _write(src / "rgb.jpg", rng.integers(0, 256, (12, 10, 3), dtype=np.uint8))
    _write(src / "grey.png", rng.integers(0, 256, (9, 9), dtype=np.uint8))
    _write(src / "rgba.webp", rng.integers(0, 256, (8, 8, 4), dtype=np.uint8))
    Image.fromarray(rng.integers(0, 65535, (8, 11), dtype=np.uint16)).save(src / "deep.png")
    _write(src / "plain.bmp", rng.integers(0, 256, (8, 8, 3), dtype=np.uint8))
    (src / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    out = tmp_path / "out"
    written, skipped, _ = infer.run(cfg.workdir, str(src), str(out), compare=True)
    assert sorted(os.path.basename(p) for p in written) == [
        "deep_x8.png", "grey_x8.png", "plain_x8.png", "rgb_x8.png", "rgba_x8.png"]
    assert np.asarray(Image.open(out / "rgb_x8.png")).shape == (96, 80, 3)
    assert np.asarray(Image.open(out / "deep_compare.png")).shape == (64, 3 * 88, 3)
    assert [os.path.basename(p) for p, _ in skipped] == ["broken.png"]


@pytest.mark.slow
def test_infer_cli_exit_status_and_never_overwrites(tmp_path):
    cfg, _ = _workdir(tmp_path, "isr_kd")
    src = tmp_path / "in"
    src.mkdir()
    _write(src / "a.png", np.zeros((8, 8, 3), np.uint8))
    _write(src / "a_x8.png", np.full((8, 8, 3), 7, np.uint8))   # the name a's output would take
    cmd = [sys.executable, "-m", "isr_kd_tf.infer", f"--model={cfg.workdir}", f"--input={src}", f"--output={src}"]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 1
    assert "would overwrite an input" in res.stderr
    assert np.asarray(Image.open(src / "a_x8.png")).max() == 7     # untouched
    res = subprocess.run(cmd[:4] + [f"--input={tmp_path / 'missing'}", f"--output={tmp_path}"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert res.returncode == 2 and "no such file or folder" in res.stderr


@pytest.mark.slow
def test_onnx_export_of_isr_kd_matches_and_pkdn_is_refused(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    pytest.importorskip("tf2onnx")
    cfg, model = _workdir(tmp_path, "isr_kd")
    out = str(tmp_path / "export")
    export.export(cfg.workdir, out, onnx=True)
    sess = ort.InferenceSession(os.path.join(out, "model.onnx"))
    lr = np.random.default_rng(3).integers(0, 256, (2, 10, 13, 3)).astype(np.float32)
    got = sess.run(None, {sess.get_inputs()[0].name: lr})[0]
    resolver = serving.SuperResolver(cfg, model)
    np.testing.assert_allclose(got, resolver.sr_float(lr)["sr"].numpy(), atol=1e-3)
    pcfg, _ = _workdir(tmp_path / "p", "pkdn")
    with pytest.raises(UserError, match="not offered as ONNX"):
        export.export(pcfg.workdir, str(tmp_path / "pexport"), onnx=True)


def _nearest_x2(images):
    images = tf.convert_to_tensor(images, tf.float32)
    return {"sr": tf.repeat(tf.repeat(images, 2, 1), 2, 2)}


def _with_a_left_to_right_ramp(images):
    sr = _nearest_x2(images)["sr"]
    return {"sr": sr + tf.range(tf.shape(sr)[2], dtype=tf.float32)[None, None, :, None]}


@pytest.mark.parametrize("n", serving.ENSEMBLES)
def test_the_self_ensemble_turns_each_output_back(n):
    """A network that commutes with flips and rotations is its own ensemble (every output was turned back onto
    the input's frame); one that adds a left-to-right ramp gets, with flips, the ramp's mean everywhere; the same
    eagerly and inside a tf.function."""
    lr = np.random.default_rng(0).uniform(0, 255, (2, 5, 7, 3)).astype(np.float32)   # not square: rot90 mixes h, w
    for wrap in (lambda f: f, tf.function):
        ensembled = wrap(serving.self_ensemble(_nearest_x2, n))
        np.testing.assert_allclose(ensembled(lr)["sr"].numpy(), _nearest_x2(lr)["sr"].numpy(), atol=1e-4)
    ramped = serving.self_ensemble(_with_a_left_to_right_ramp, n)(lr)["sr"].numpy() - _nearest_x2(lr)["sr"].numpy()
    if n == 1:
        np.testing.assert_allclose(ramped[0, 0, :, 0], np.arange(14))
    else:   # a flip pairs column j with 13 - j: 6.5 in every column (with turns, rows bring their own mean)
        assert np.ptp(ramped[0, 0, :, 0]) < 1e-4 and np.ptp(ramped[..., 0]) < 10


def test_a_self_ensemble_outside_the_choices_is_refused():
    with pytest.raises(ValueError, match="choose one of"):
        serving.self_ensemble(_nearest_x2, 4)

"""Faults: SIGKILL at any moment, corrupt checkpoints, NaN, unwritable or full disks, bad images."""

import errno
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from isr_kd_tf import config, experiment, loop
from isr_kd_tf.errors import UserError
from isr_kd.trainer import ISRKDTrainer
from tests.conftest import ROOT, TINY_SOURCE, TINY_TARGET

STEPS = 12


def _cmd(workdir, data_dir):
    return [sys.executable, "-m", "isr_kd_tf.train", f"--workdir={workdir}", f"--data_dir={data_dir}",
            f"--source_data={TINY_SOURCE}", f"--target_data={TINY_TARGET}", "--stages=pretrain", "--width=0.0625",
            "--hr_size=32", "--batch_size=4", "--epochs=1", f"--steps_per_epoch={STEPS}", "--checkpoint_every=2",
            "--log_every=1", "--val_images=0", "--eval_limit=2", "--deterministic", "--verbose=0"]


def _run_until(cmd, ckpt_dir, ready, delay=0.0):
    """Starts `cmd` and SIGKILLs it once ready(files in ckpt_dir) holds (after `delay` s)."""
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    while proc.poll() is None:
        files = os.listdir(ckpt_dir) if os.path.isdir(ckpt_dir) else []
        if ready(files):
            time.sleep(delay)
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.002)
    out = proc.communicate()[0]
    return proc.returncode, out


def _checkpoint_values(workdir):
    reader = tf.train.load_checkpoint(os.path.join(workdir, "pretrain", "checkpoints", f"ckpt-{STEPS}"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map() if "OBJECT_GRAPH" not in k}


def _logged_steps(workdir):
    from tensorflow.core.util import event_pb2
    logdir = os.path.join(workdir, "tensorboard", "pretrain")
    steps = []
    for name in os.listdir(logdir):
        for record in tf.data.TFRecordDataset(os.path.join(logdir, name)):
            event = event_pb2.Event.FromString(record.numpy())
            steps += [event.step for v in event.summary.value if v.tag == "loss/g_loss"]
    return sorted(steps)


@pytest.mark.slow
def test_sigkill_at_any_moment_then_resume_gives_bit_identical_weights(tmp_path, data_dir):
    reference = subprocess.Popen(_cmd(tmp_path / "reference", data_dir), cwd=ROOT, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    workdir = tmp_path / "killed"
    ckpt_dir = str(workdir / "pretrain" / "checkpoints")
    cmd = _cmd(workdir, data_dir)
    kill_points = [
        lambda f: any("_temp" in n for n in f) or "ckpt-2.index" in f,    # while writing the first checkpoint
        lambda f: "ckpt-6.index" in f,                                     # between checkpoints (after a delay)
        lambda f: any("_temp" in n for n in f) or "checkpoint" in f and "ckpt-10.index" in f,
    ]
    outputs = []
    for ready, delay in zip(kill_points, (0.0, 0.05, 0.0)):
        code, out = _run_until(cmd, ckpt_dir, ready, delay)
        outputs.append(out)
        assert code in (-signal.SIGKILL, 0), out
    final = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=600,
                           env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"})
    assert final.returncode == 0, final.stderr[-2000:]
    assert "resuming stage pretrain at step" in "".join(outputs[1:]) + final.stdout
    assert reference.wait(timeout=600) == 0
    want, got = _checkpoint_values(tmp_path / "reference"), _checkpoint_values(workdir)
    assert want.keys() == got.keys() and len(want) > 20
    for k in want:
        np.testing.assert_array_equal(got[k], want[k], err_msg=k)
    assert _logged_steps(workdir) == list(range(1, STEPS + 1))      # no gap, no duplicate


@pytest.mark.slow
def test_tensorboard_s_flags_text_has_the_paper_settings_too(tmp_path, data_dir):
    from tensorflow.core.util import event_pb2
    cfg = _cfg(tmp_path, data_dir, steps_per_epoch=1, alpha=7.5)
    experiment.run(cfg)
    logdir = os.path.join(cfg.workdir, "tensorboard", "pretrain")
    texts = [tf.make_ndarray(v.tensor).item().decode() for name in os.listdir(logdir)
             for record in tf.data.TFRecordDataset(os.path.join(logdir, name))
             for v in event_pb2.Event.FromString(record.numpy()).summary.value if v.tag.startswith("flags")]
    assert len(texts) == 1
    assert "| alpha | 7.5 |" in texts[0] and "| lambda_edge | 0.3 |" in texts[0] and "| width | 0.0625 |" in texts[0]


def _cfg(tmp_path, data_dir, **kw):
    base = dict(workdir=str(tmp_path / "run"), data_dir=data_dir, source_data=TINY_SOURCE, target_data=TINY_TARGET,
                stages=("pretrain",), width=0.0625, hr_size=32, batch_size=4, epochs=1, steps_per_epoch=4,
                checkpoint_every=2, log_every=10, val_images=0, verbose=0, eval_limit=2)
    base.update(kw)
    return config.make(**base)


@pytest.mark.slow
def test_a_corrupt_latest_checkpoint_falls_back_to_the_previous_one(tmp_path, data_dir, capsys):
    cfg = _cfg(tmp_path, data_dir)
    experiment.train_stage(cfg, "pretrain", "")
    ckpt_dir = os.path.join(cfg.workdir, "pretrain", "checkpoints")
    data_file = next(os.path.join(ckpt_dir, f) for f in os.listdir(ckpt_dir) if f.startswith("ckpt-4.data"))
    with open(data_file, "r+b") as f:
        f.truncate(100)
    os.remove(os.path.join(cfg.workdir, "pretrain", "DONE"))
    experiment.train_stage(_cfg(tmp_path, data_dir, steps_per_epoch=6), "pretrain", "")
    captured = capsys.readouterr()
    assert "ckpt-4 is corrupt or truncated" in captured.err
    assert "resuming stage pretrain at step 2" in captured.out
    assert tf.train.latest_checkpoint(ckpt_dir).endswith("ckpt-6")


@pytest.mark.slow
def test_nan_stops_at_once_naming_step_and_term_and_keeps_the_last_checkpoint(tmp_path, data_dir, monkeypatch):
    real = ISRKDTrainer.train_step

    def poisoned(self, batch, global_counts=None):   # the 3rd step's reconstruction loss turns NaN
        logs = real(self, batch, global_counts)
        bad = tf.where(self.g_optimizer.iterations >= 3, float("nan"), 1.0)
        return {**logs, "rec": logs["rec"] * bad}

    monkeypatch.setattr(ISRKDTrainer, "train_step", poisoned)
    cfg = _cfg(tmp_path, data_dir)
    with pytest.raises(loop.NonFiniteLoss, match=r"'rec' is nan at step 3"):
        experiment.train_stage(cfg, "pretrain", "")
    ckpt_dir = os.path.join(cfg.workdir, "pretrain", "checkpoints")
    assert tf.train.latest_checkpoint(ckpt_dir).endswith("ckpt-2")
    assert not any(f.startswith("ckpt-3") or f.startswith("ckpt-4") for f in os.listdir(ckpt_dir))


def test_an_unwritable_workdir_is_refused_before_any_work(tmp_path):
    (tmp_path / "a_file").write_text("x")
    with pytest.raises(UserError, match="not writable"):
        experiment.run(_cfg(tmp_path, "", workdir=str(tmp_path / "a_file" / "run")))


@pytest.mark.slow
def test_a_full_disk_at_a_checkpoint_names_it_and_keeps_the_previous(tmp_path, data_dir, monkeypatch):
    real = tf.train.CheckpointManager.save
    calls = {"n": 0}

    def save(self, *args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return real(self, *args, **kwargs)

    monkeypatch.setattr(tf.train.CheckpointManager, "save", save)
    cfg = _cfg(tmp_path, data_dir)
    with pytest.raises(UserError, match=r"step-4 checkpoint.*No space left on device.*ckpt-2, is intact"):
        experiment.train_stage(cfg, "pretrain", "")
    assert tf.train.latest_checkpoint(os.path.join(cfg.workdir, "pretrain", "checkpoints")).endswith("ckpt-2")


@pytest.mark.slow          # trains a stage
def test_training_on_a_folder_of_bad_images_finishes_and_names_what_it_skipped(tmp_path, data_dir, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (48, 40, 3), dtype=np.uint8)).save(folder / f"good{i}.jpg")
    Image.fromarray(rng.integers(0, 256, (40, 40), dtype=np.uint8)).save(folder / "grey.png")
    Image.fromarray(rng.integers(0, 256, (40, 40, 4), dtype=np.uint8)).save(folder / "rgba.png")
    Image.fromarray(rng.integers(0, 65535, (40, 40), dtype=np.uint16)).save(folder / "deep16.png")
    Image.fromarray(rng.integers(0, 256, (10, 10, 3), dtype=np.uint8)).save(folder / "tiny.png")
    (folder / "corrupt.jpg").write_bytes(b"not an image")
    good = (folder / "good0.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    cfg = _cfg(tmp_path, data_dir, source_data=f"folder:{folder}", steps_per_epoch=3)
    experiment.train_stage(cfg, "pretrain", "")
    out = capsys.readouterr().out
    assert "file(s) skipped" in out
    for name in ("corrupt.jpg", "truncated.jpg", "tiny.png"):
        assert name in out
    for name in ("grey.png", "rgba.png", "deep16.png", "good0.jpg"):
        assert name not in out
    assert os.path.exists(os.path.join(cfg.workdir, "pretrain", "DONE"))

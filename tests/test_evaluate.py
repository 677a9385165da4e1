"""Evaluation: FID against SciPy, the whole FID path on a random network, the evaluate CLI."""

import json
import os

import keras
import numpy as np
import pytest
import scipy.linalg

from isr_kd_tf import evaluate, fid, train_lib
from isr_kd_tf.errors import UserError
from tests.conftest import TINY_SOURCE, TINY_TARGET


def test_frechet_distance_matches_a_direct_scipy_computation():
    rng = np.random.default_rng(0)
    a, b = rng.standard_normal((50, 6)), rng.standard_normal((60, 6)) * 1.5 + 0.3
    mu1, s1, mu2, s2 = a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    root = scipy.linalg.sqrtm(scipy.linalg.sqrtm(s1) @ s2 @ scipy.linalg.sqrtm(s1))   # symmetric form
    want = np.sum((mu1 - mu2) ** 2) + np.trace(s1 + s2 - 2 * np.real(root))
    assert fid.frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-6)
    assert fid.frechet_distance(mu1, s1, mu1, s1) == pytest.approx(0.0, abs=1e-6)


def test_fid_path_end_to_end_on_a_small_random_network():
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.layers.Conv2D(4, 3, strides=2), keras.layers.GlobalAveragePooling2D()])
    extract = fid.feature_extractor(net, 32)
    rng = np.random.default_rng(1)
    hr = [rng.uniform(0, 255, (8, 20, 20, 3)).astype("float32") for _ in range(2)]
    same = fid.fid_of([(h, h) for h in hr], extract)
    noisy = fid.fid_of([(np.clip(h + rng.normal(0, 60, h.shape), 0, 255), h) for h in hr], extract)
    assert same == pytest.approx(0.0, abs=1e-6) and noisy > same


def test_without_inception_weights_fid_is_not_computed(tmp_path, monkeypatch):
    monkeypatch.setattr(fid, "CACHED_WEIGHTS", str(tmp_path / "absent.h5"))
    assert fid.inception_extractor("") is None
    with pytest.raises(UserError, match="no such file"):
        fid.inception_extractor(str(tmp_path / "missing.h5"))


def _trained(tmp_path, data_dir, name):
    cfg = train_lib.Config(workdir=str(tmp_path / name), data_dir=data_dir, source_data=TINY_SOURCE,
                           target_data=TINY_TARGET, stages=("pretrain", "incremental"), source_count=8,
                           target_count=16, width=0.0625, hr_size=64, batch_size=4, epochs=1, steps_per_epoch=1,
                           checkpoint_every=1, log_every=1, val_images=0, verbose=0, eval_limit=4)
    train_lib.run(cfg)
    return cfg


def test_evaluate_makes_one_table_of_several_runs_and_a_similarity_table(tmp_path, data_dir):
    a, b = _trained(tmp_path, data_dir, "run_a"), _trained(tmp_path, data_dir, "run_b")
    rows = evaluate.evaluate([a.workdir, b.workdir], limit=4)
    assert {r["model"] for r in rows} == {"run_a/pretrained", "run_a/incremental_kd",
                                          "run_b/pretrained", "run_b/incremental_kd"}
    own = json.load(open(os.path.join(a.workdir, "results.json")))["rows"]
    mine = {(r["model"], r["test"]): r["psnr"] for r in rows}
    for r in own:   # the CLI's numbers are the run's own
        assert mine[("run_a/" + r["model"], r["test"])] == pytest.approx(r["psnr"], abs=1e-4)
    sim = evaluate.evaluate([a.workdir], limit=4, similarity_to="pretrained")
    assert [r["model"] for r in sim] == ["incremental_kd", "incremental_kd"]
    assert all(r["psnr"] > 20 for r in sim)      # one step of training: outputs still close
    with pytest.raises(UserError, match="similarity_to"):
        evaluate.evaluate([a.workdir], similarity_to="teacher")
    from isr_kd_tf import export
    exported = str(tmp_path / "export")
    export.export(a.workdir, exported)
    rows = evaluate.evaluate([exported], limit=4, data_dir=data_dir)
    assert [r["model"] for r in rows] == ["incremental_kd", "incremental_kd"]
    for r in rows:   # the export scores as its checkpoint did
        assert r["psnr"] == pytest.approx(mine[("run_a/incremental_kd", r["test"])], abs=1e-3)

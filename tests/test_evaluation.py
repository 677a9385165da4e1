"""Scoring: the official ISR-KD JPEG protocol against files written and read as its test.py does."""

import numpy as np
import pytest


def test_jpeg_scoring_equals_scoring_files_written_and_read_as_the_official_test_does(tmp_path):
    """test.py: cv2.imwrite(<name>.jpg, BGR float) for SR and HR, then scores the re-read files."""
    import cv2
    from skimage.metrics import peak_signal_noise_ratio
    from isr_kd_tf import evaluation
    rng = np.random.default_rng(0)
    hr = rng.uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    sr = np.clip(hr + rng.normal(0, 12, hr.shape), 0, 255).astype("float32")
    batch = {"hr": hr}
    got = evaluation.score(lambda b: sr, [batch], jpeg_quality=95)["psnr"]
    want = []
    for i in range(2):
        for name, img in (("sr", sr[i]), ("hr", hr[i])):
            cv2.imwrite(str(tmp_path / f"{name}.jpg"), cv2.cvtColor(np.round(img) / 255, cv2.COLOR_RGB2BGR) * 255)
        a, b = (cv2.imread(str(tmp_path / f"{n}.jpg"))[..., ::-1] for n in ("sr", "hr"))
        want.append(peak_signal_noise_ratio(b, a, data_range=255))
    assert got == pytest.approx(np.mean(want), abs=1e-3)
    assert got != pytest.approx(evaluation.score(lambda b: sr, [batch])["psnr"], abs=1e-3)


def test_identity_scores_are_cosines_and_nearest_own_matches():
    from isr_kd_tf import evaluation
    rng = np.random.default_rng(0)
    hr = rng.normal(size=(5, 8))
    sr = hr + rng.normal(scale=0.1, size=hr.shape)
    sr[4] = hr[1]                                           # face 5 looks like face 2's HR
    got = evaluation.identity_scores(sr, hr)
    cos = [float(np.dot(a, b) / np.linalg.norm(a) / np.linalg.norm(b)) for a, b in zip(sr, hr)]
    assert got["id_cos"] == pytest.approx(np.mean(cos), abs=1e-12)
    assert got["id_verified"] == pytest.approx(4 / 5)


def test_a_table_with_identity_has_its_columns():
    from isr_kd_tf import evaluation
    rows = [{"model": "bicubic", "test": "source", "psnr": 20.0, "ssim": 0.5, "fid": None, "id_cos": 0.9,
             "id_verified": 0.25},
            {"model": "g", "test": "source", "psnr": 22.0, "ssim": 0.6, "fid": None, "id_cos": 0.95,
             "id_verified": 0.5}]
    md = evaluation.results_markdown(rows, "g")
    assert "ID cos | ID verified |" in md and "| 0.9500 | 50.0 % |" in md

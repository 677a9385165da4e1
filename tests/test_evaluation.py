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

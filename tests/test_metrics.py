"""PSNR / SSIM against scikit-image and NumPy."""

import numpy as np
import tensorflow as tf

from isr_kd_tf import metrics


def _pair(seed=0, shape=(2, 16, 16, 3)):
    rng = np.random.default_rng(seed)
    return (tf.constant(rng.uniform(0, 255, shape), tf.float32), tf.constant(rng.uniform(0, 255, shape), tf.float32))


def test_psnr_ssim_match_scikit_image():
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    a, b = (x.numpy().round() for x in _pair(shape=(1, 48, 48, 3)))
    np.testing.assert_allclose(float(metrics.psnr(a, b)[0]), peak_signal_noise_ratio(a[0], b[0], data_range=255), rtol=1e-4)
    ref = structural_similarity(a[0], b[0], data_range=255, channel_axis=-1, gaussian_weights=True, sigma=1.5,
                                use_sample_covariance=False)
    np.testing.assert_allclose(float(metrics.ssim(a, b)[0]), ref, atol=2e-3)


def test_y_channel_psnr_with_crop_matches_numpy():
    a, b = (x.numpy().round() for x in _pair(shape=(1, 40, 40, 3)))

    def y(img):
        return 16 + (65.481 * img[..., 0] + 128.553 * img[..., 1] + 24.966 * img[..., 2]) / 255

    ya, yb = y(a[0])[8:-8, 8:-8], y(b[0])[8:-8, 8:-8]
    ref = 10 * np.log10(255 ** 2 / np.mean((ya - yb) ** 2))
    np.testing.assert_allclose(float(metrics.psnr(a, b, crop_border=8, y_channel=True)[0]), ref, rtol=1e-4)

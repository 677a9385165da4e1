"""FID: Frechet distance between InceptionV3 pool features (2048-d) of SR and HR.

Weights come from `--inception_weights=FILE` or the Keras cache
(~/.keras/models/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5,
which `keras.applications.InceptionV3(weights="imagenet")` leaves there on a
machine with internet). Nothing is downloaded here; without weights FID is
reported as "n/a", never computed on random weights.
"""

import logging
import os

import keras
import numpy as np
import scipy.linalg
import tensorflow as tf

from isr_kd_tf.errors import UserError

CACHED_WEIGHTS = os.path.join(os.path.expanduser("~"), ".keras", "models",
                              "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
NO_WEIGHTS = ("FID is n/a: no Inception weights (pass --inception_weights=FILE, the Keras InceptionV3 "
              "'notop' .h5, or place it at " + CACHED_WEIGHTS + ")")


def frechet_distance(mu1, sigma1, mu2, sigma2):
    """||mu1 - mu2||^2 + Tr(S1 + S2 - 2 (S1 S2)^1/2)."""
    mu1, mu2 = np.atleast_1d(mu1).astype(np.float64), np.atleast_1d(mu2).astype(np.float64)
    sigma1, sigma2 = np.atleast_2d(sigma1).astype(np.float64), np.atleast_2d(sigma2).astype(np.float64)
    covmean = scipy.linalg.sqrtm(sigma1 @ sigma2)
    if not np.isfinite(covmean).all():   # singular product: nudge the diagonals, as pytorch-fid does
        eps = 1e-6 * np.eye(sigma1.shape[0])
        covmean = scipy.linalg.sqrtm((sigma1 + eps) @ (sigma2 + eps))
    covmean = np.real(covmean)
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(covmean))


def inception_extractor(weights=""):
    """InceptionV3 pool features of [0, 255] images (resized to 299), or None without weights."""
    path = weights or (CACHED_WEIGHTS if os.path.isfile(CACHED_WEIGHTS) else "")
    if not path:
        logging.warning(NO_WEIGHTS)
        return None
    if not os.path.isfile(path):
        raise UserError(f"--inception_weights={path}: no such file")
    net = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg", input_shape=(299, 299, 3))
    try:
        net.load_weights(path)
    except ValueError as e:
        raise UserError(f"--inception_weights={path} is not InceptionV3 'notop' weights: {e}") from None
    return feature_extractor(net, 299)


def feature_extractor(net, size):
    """Wraps any Keras image model: [0, 255] batch -> features, Inception preprocessing."""
    @tf.function(reduce_retracing=True)
    def features(images):
        x = tf.image.resize(tf.cast(images, tf.float32), [size, size], "bilinear")
        return tf.reshape(net(x / 127.5 - 1.0, training=False), [tf.shape(images)[0], -1])
    return features


class FeatureStats:
    """Running features of one image set; mean and covariance at the end."""

    def __init__(self):
        self.chunks = []

    def add(self, feats):
        self.chunks.append(np.asarray(feats, np.float64))

    def stats(self):
        f = np.concatenate(self.chunks)
        if len(f) < 2:
            raise UserError("FID needs at least 2 images per set")
        return f.mean(0), np.cov(f, rowvar=False)


class FID:
    """Accumulates SR and HR features batch by batch; value() is their Frechet distance."""

    def __init__(self, extractor):
        self.extractor = extractor
        self.sr, self.hr = FeatureStats(), FeatureStats()

    def add(self, sr, hr):
        self.sr.add(self.extractor(sr))
        self.hr.add(self.extractor(hr))

    def value(self):
        return frechet_distance(*self.sr.stats(), *self.hr.stats())


def fid_of(pairs, extractor):
    """FID between the SR and HR images of (sr, hr) batches."""
    acc = FID(extractor)
    for sr, hr in pairs:
        acc.add(sr, hr)
    return acc.value()

"""FID: Frechet distance between 2048-d Inception pool features of SR and HR.

The FID network is the TF-FID Inception, the 2015-12-05 frozen graph
(`classify_image_graph_def.pb` of inception-2015-12-05.tgz) that TTUR,
pytorch-fid and piq (whose FID the ISR-KD paper reports) all use: images
[N, H, W, 3] in [0, 255] go in at `ExpandDims:0`, the graph resizes them to
299 itself, and `pool_3:0` gives the features. It is read from
`--fid_graph=FILE` or from GRAPH_CACHE. Without it, Keras' ImageNet
InceptionV3 (`--inception_weights` or the Keras cache) is a fallback whose
numbers are labelled "FID (Keras InceptionV3)": they are not comparable with
published FIDs. Nothing is downloaded; with neither network FID is "n/a".
"""

import logging
import os

import keras
import numpy as np
import scipy.linalg
import tensorflow as tf

from isr_kd_tf.errors import UserError

CACHE = os.path.join(os.path.expanduser("~"), ".keras", "models")
GRAPH_CACHE = os.path.join(CACHE, "classify_image_graph_def.pb")
CACHED_WEIGHTS = os.path.join(CACHE, "inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5")
GRAPH_INPUT, GRAPH_OUTPUT = "ExpandDims:0", "pool_3:0"
LABEL = "FID"
FALLBACK_LABEL = "FID (Keras InceptionV3)"
NO_NETWORK = ("FID is n/a: no FID Inception graph (pass --fid_graph=FILE, classify_image_graph_def.pb from "
              "inception-2015-12-05.tgz, or place it at " + GRAPH_CACHE + ")")


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


def fid_network(graph="", weights=""):
    """The feature extractor FID uses (see the module doc), or None; its `.label` names it in tables."""
    graph = graph or (GRAPH_CACHE if os.path.isfile(GRAPH_CACHE) else "")
    if graph:
        return graph_extractor(graph)
    weights = weights or (CACHED_WEIGHTS if os.path.isfile(CACHED_WEIGHTS) else "")
    if not weights:
        logging.warning(NO_NETWORK)
        return None
    logging.warning("FID from Keras' ImageNet InceptionV3 (%s), labelled %r: not comparable with published FIDs; "
                    "pass --fid_graph for the TF-FID Inception", weights, FALLBACK_LABEL)
    return keras_inception_extractor(weights)


def graph_extractor(path):
    """TF-FID Inception features from a frozen GraphDef: [0, 255] images of any size -> [N, 2048]."""
    if not os.path.isfile(path):
        raise UserError(f"--fid_graph={path}: no such file (classify_image_graph_def.pb from inception-2015-12-05.tgz)")
    graph_def = tf.compat.v1.GraphDef()
    try:
        with open(path, "rb") as f:
            graph_def.ParseFromString(f.read())
    except Exception as e:  # noqa: BLE001 - protobuf raises DecodeError and others
        raise UserError(f"--fid_graph={path} is not a frozen TensorFlow graph (.pb GraphDef): {e}") from None
    names = {node.name for node in graph_def.node}
    for tensor in (GRAPH_INPUT, GRAPH_OUTPUT):
        if tensor.split(":")[0] not in names:
            raise UserError(f"--fid_graph={path} has no {tensor}: it is not the FID Inception graph")

    def pool(images):
        return tf.graph_util.import_graph_def(graph_def, input_map={GRAPH_INPUT: images},
                                              return_elements=[GRAPH_OUTPUT], name="FID_Inception_Net")[0]
    wrapped = tf.compat.v1.wrap_function(pool, [tf.TensorSpec([None, None, None, 3], tf.float32)])

    def features(images):
        images = tf.cast(images, tf.float32)
        return tf.reshape(wrapped(images), [tf.shape(images)[0], -1])
    features.label = LABEL
    return features


def keras_inception_extractor(path):
    """Keras' ImageNet InceptionV3 pool features: the labelled fallback."""
    if not os.path.isfile(path):
        raise UserError(f"--inception_weights={path}: no such file")
    net = keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg", input_shape=(299, 299, 3))
    try:
        net.load_weights(path)
    except ValueError as e:
        raise UserError(f"--inception_weights={path} is not InceptionV3 'notop' weights: {e}") from None
    features = feature_extractor(net, 299)
    features.label = FALLBACK_LABEL
    return features


def feature_extractor(net, size):
    """Wraps any Keras image model: [0, 255] batch -> features, Inception preprocessing."""
    @tf.function(reduce_retracing=True, autograph=False)
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

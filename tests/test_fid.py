"""FID: the Frechet distance against SciPy, the TF-FID graph path, the labelled fallback, n/a without a network."""

import keras
import numpy as np
import pytest
import scipy.linalg

from isr_kd_tf import fid
from isr_kd_tf.errors import UserError


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


def test_without_a_fid_network_fid_is_not_computed(tmp_path, monkeypatch):
    monkeypatch.setattr(fid, "CACHED_WEIGHTS", str(tmp_path / "absent.h5"))
    monkeypatch.setattr(fid, "GRAPH_CACHE", str(tmp_path / "absent.pb"))
    assert fid.fid_network() is None
    with pytest.raises(UserError, match="no such file"):
        fid.fid_network(weights=str(tmp_path / "missing.h5"))
    with pytest.raises(UserError, match="--fid_graph=.*no such file"):
        fid.fid_network(str(tmp_path / "missing.pb"))
    (tmp_path / "junk.pb").write_bytes(b"\xff not a graph")
    with pytest.raises(UserError, match="not a frozen TensorFlow graph"):
        fid.fid_network(str(tmp_path / "junk.pb"))


def _tiny_fid_graph(path):
    """A frozen graph with the TF-FID Inception's tensor names: a uint8-decoded image is cast,
    expanded at `ExpandDims`, resized and normalised as the real graph does; `pool_3` is a
    2048-d average pool. Returns the graph for a direct reference run."""
    import tensorflow as tf
    graph = tf.Graph()
    with graph.as_default():
        image = tf.compat.v1.placeholder(tf.float32, [None, None, 3], name="Cast")
        x = tf.expand_dims(image, 0, name="ExpandDims")
        x = (tf.compat.v1.image.resize_bilinear(x, [19, 19]) - 128.0) / 128.0
        kernel = tf.constant(np.random.default_rng(0).standard_normal((3, 3, 3, 2048)).astype("float32") * 0.1)
        x = tf.nn.relu(tf.nn.conv2d(x, kernel, 2, "VALID"))
        tf.nn.avg_pool2d(x, 9, 1, "VALID", name="pool_3")
    with open(path, "wb") as f:
        f.write(graph.as_graph_def().SerializeToString())
    return graph


@pytest.mark.slow
def test_the_fid_graph_path_gives_the_graphs_own_pool_3_features_for_a_batch(tmp_path):
    import tensorflow as tf
    graph = _tiny_fid_graph(str(tmp_path / "classify_image_graph_def.pb"))
    extract = fid.fid_network(str(tmp_path / "classify_image_graph_def.pb"))
    assert extract.label == "FID"
    images = np.random.default_rng(1).uniform(0, 255, (3, 24, 24, 3)).astype("float32")
    got = extract(images).numpy()
    assert got.shape == (3, 2048)
    with tf.compat.v1.Session(graph=graph) as sess:       # the graph run as TTUR runs it, one image at a time
        want = [sess.run("pool_3:0", {"ExpandDims:0": im[None]}).reshape(-1) for im in images]
    np.testing.assert_allclose(got, np.stack(want), rtol=1e-4, atol=1e-5)
    same = fid.fid_of([(images, images)], extract)
    assert same == pytest.approx(0.0, abs=1e-3)


@pytest.mark.slow
def test_the_keras_fallback_is_labelled_as_not_comparable(tmp_path):
    path = str(tmp_path / "inception_notop.weights.h5")
    keras.applications.InceptionV3(include_top=False, weights=None, pooling="avg",
                                   input_shape=(299, 299, 3)).save_weights(path)
    extract = fid.fid_network(weights=path)
    assert extract.label == "FID (Keras InceptionV3)"
    from isr_kd_tf import evaluation
    md = evaluation.results_markdown([{"model": "a", "test": "t", "psnr": 20.0, "ssim": 0.5, "fid": 3.0}], "a",
                                     extract.label)
    assert "| FID (Keras InceptionV3) (Δ%) |" in md

"""ISR-KD's edge targets: scales, values, thresholds, and that they follow the augmentation."""

import cv2
import numpy as np
import tensorflow as tf

from isr_kd import edges
from isr_kd_tf import data
from isr_kd_tf.data import synthetic_faces
from tests.conftest import pipeline


def _rand_hr(n=2, size=128, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


def test_edge_targets_scales_and_values():
    hr = tf.constant(_rand_hr(2))
    e32, e64, e128 = edges.edge_targets(hr, 8)
    assert (e32.shape[1], e64.shape[1], e128.shape[1]) == (32, 64, 128)
    assert set(np.unique(e128.numpy())) <= {0.0, 255.0}
    gray = cv2.cvtColor(np.round(hr.numpy()[0]).astype(np.uint8), cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(e128.numpy()[0, ..., 0], cv2.Canny(gray, 50, 255))

def test_edges_follow_the_augmentation():
    faces = np.stack([synthetic_faces.render_face(s)[0][20:148, 20:148] for s in range(2)]).astype(np.float32)
    batch = {"hr": tf.constant(faces.astype(np.uint8)), "domain": tf.zeros([2], tf.int32)}
    cfg = pipeline("isr_kd")                         # ISR-KD's batch features: the edge targets
    seed = tf.constant([0, 3], tf.int64)
    out = data.finish(batch, cfg, seed)
    aug = data.augment(batch, seed)["hr"]
    expected = edges.edge_targets(tf.cast(aug, tf.float32), 8)[-1].numpy()
    np.testing.assert_array_equal(out["edge_128"].numpy(), expected)

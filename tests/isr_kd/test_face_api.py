"""face-api's FaceRecognitionNet in Keras against the real thing: descriptors equal to those the package's
own runtime (TensorFlow.js, WebAssembly backend, under node) gave for the same real faces, and faces of one
person closer than faces of two (the network's purpose)."""

import json
import os
import re

import numpy as np
import pytest
import tensorflow as tf

from isr_kd import face_api
from tests.conftest import ROOT

REFERENCE = os.path.join(ROOT, "tests", "data", "face_api_reference.json")


@pytest.fixture(scope="module")
def net():
    return face_api.build()


def test_descriptors_equal_the_packages_own_runtime(net, real_data_dir):
    with open(REFERENCE) as f:
        ref = json.load(f)
    names, faces = face_api.parity_faces(real_data_dir)
    assert names == ref["names"] and ref["package"] == face_api.PACKAGE
    got = net(faces.astype(np.float32)).numpy()
    want = np.asarray(ref["descriptors"])
    assert np.abs(got - want).max() < 1e-4
    cos = (got * want).sum(1) / np.linalg.norm(got, axis=1) / np.linalg.norm(want, axis=1)
    assert cos.min() >= 0.9999


def test_one_person_is_closer_than_two(net, real_data_dir):
    """LFW test pairs: each person with two images against the next such person."""
    root = os.path.join(real_data_dir, "lfw_parts")
    with open(os.path.join(root, "test.txt")) as f:
        names = sorted(line.strip() for line in f if line.strip())
    by_person = {}
    for n in names:
        by_person.setdefault(re.sub(r"_\d{4}$", "", n), []).append(n)
    people = [v[:2] for v in by_person.values() if len(v) >= 2][:20]
    assert len(people) >= 10
    from PIL import Image
    faces = np.stack([np.asarray(Image.open(os.path.join(root, "images", n + ".jpg")).convert("RGB"))[50:200, 50:200]
                      for pair in people for n in pair]).astype(np.float32)
    d = net(faces).numpy().reshape(len(people), 2, -1)
    same = np.linalg.norm(d[:, 0] - d[:, 1], axis=1)
    other = np.linalg.norm(d[:, 0] - np.roll(d[:, 1], 1, axis=0), axis=1)
    assert np.median(same) < 0.6 < np.median(other)          # dlib's own threshold between them
    assert (same < other).mean() >= 0.9


def test_the_network_is_frozen_and_passes_gradients_to_its_input(net):
    assert not net.trainable_weights and net.count_params() == 5_607_488   # 5,614,592 less the folded scales
    x = tf.Variable(tf.random.uniform([2, 96, 96, 3], 0, 255, seed=1))      # any square size: resized to 150
    with tf.GradientTape() as tape:
        y = net(x)
        total = tf.reduce_sum(y)
    assert y.shape == (2, 128)
    g = tape.gradient(total, x)
    assert g is not None and float(tf.reduce_max(tf.abs(g))) > 0

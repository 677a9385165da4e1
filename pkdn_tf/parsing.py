"""Facial parsing maps as network input: BiSeNet's 19 classes, colour or one-hot.

KDFSRNet feeds its teacher a 3-channel colour-coded parsing image in [0, 1];
we render it with BiSeNet's own visualisation palette (face-parsing.PyTorch,
`vis_parsing_maps`: background white, class k = part_colors[k]). One-hot
with 19 channels is the cleaner alternative.
"""

import os

import numpy as np
import tensorflow as tf

from isr_kd_tf.data.sources import without_autograph
from isr_kd_tf.errors import UserError

NUM_CLASSES = 19
ENCODINGS = {"color": 3, "onehot": NUM_CLASSES}

PALETTE = np.array([
    [255, 255, 255], [255, 85, 0], [255, 170, 0], [255, 0, 85], [255, 0, 170],
    [0, 255, 0], [85, 255, 0], [170, 255, 0], [0, 255, 85], [0, 255, 170],
    [0, 0, 255], [85, 0, 255], [170, 0, 255], [0, 85, 255], [0, 170, 255],
    [255, 255, 0], [255, 255, 85], [255, 255, 170], [255, 0, 255]], np.uint8)


def colour(labels):
    """uint8 label map (..., H, W) -> RGB image with BiSeNet's palette (background white), for pictures."""
    return PALETTE[np.clip(np.asarray(labels), 0, len(PALETTE) - 1)]


def channels(encoding):
    if encoding not in ENCODINGS:
        raise UserError(f"--parsing_encoding={encoding!r} is unknown; use one of {', '.join(ENCODINGS)}")
    return ENCODINGS[encoding]


def encode_parsing(labels, encoding="color"):
    """Integer label maps (..., H, W) -> float network input (..., H, W, C) in [0, 1]."""
    labels = tf.clip_by_value(tf.cast(labels, tf.int32), 0, NUM_CLASSES - 1)
    if channels(encoding) == 3:
        return tf.gather(tf.constant(PALETTE, tf.float32) / 255.0, labels)
    return tf.one_hot(labels, NUM_CLASSES, dtype=tf.float32)


# --- labelling faces with a parsing network ---------------------------------

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def label_faces(images, net, input_size=512):
    """uint8/float [N, H, W, 3] faces -> uint8 [N, H, W] labels, as BiSeNet's own test code does:
    bilinear resize to input_size, ImageNet normalisation, argmax, nearest resize back."""
    images = tf.convert_to_tensor(images)
    size = tf.shape(images)[1:3]
    x = tf.image.resize(tf.cast(images, tf.float32) / 255.0, [input_size, input_size], "bilinear")
    x = (x - IMAGENET_MEAN) / IMAGENET_STD
    logits = tf.cast(net(x), tf.float32)
    labels = tf.argmax(logits, axis=-1, output_type=tf.int32)[..., None]
    return tf.cast(tf.image.resize(labels, size, "nearest")[..., 0], tf.uint8)


def _cache_name(key):
    return tf.strings.regex_replace(key, "[/\\\\:]", "__") + ".png"


def cache_folder(cache_dir, name, split):
    return os.path.join(cache_dir, name.replace("/", "_").replace(":", "_"), split)


def attach_parsing(ds, name, split, net_path, cache_dir):
    """Adds `parsing` to a dataset without maps, labelling each face once.

    Missing label maps are computed with the network at `net_path` and
    written as PNGs under cache_dir/<dataset>/<split>/ (atomically, so an
    interrupted run reuses what it finished); then the maps are read by key.
    """
    from PIL import Image
    from tqdm import tqdm

    from isr_kd_tf.pretrained import load_network

    folder = cache_folder(cache_dir, name, split)
    os.makedirs(folder, exist_ok=True)

    def missing(ex):
        return tf.logical_not(tf.py_function(
            lambda k: os.path.exists(os.path.join(folder, _cache_name(k).numpy().decode())), [ex["key"]], tf.bool))

    todo = ds.filter(without_autograph(missing))
    net = None
    for ex in tqdm(todo.batch(1).prefetch(2), desc=f"parsing {name} {split}", unit="face"):
        net = net or load_network(net_path, "--parsing_net")
        labels = label_faces(ex["image"], net).numpy()[0]
        path = os.path.join(folder, _cache_name(ex["key"][0]).numpy().decode())
        Image.fromarray(labels).save(path + ".tmp.png")
        os.replace(path + ".tmp.png", path)

    def add(ex):
        png = tf.io.read_file(tf.strings.join([folder, "/", _cache_name(ex["key"])]))
        return {**ex, "parsing": tf.io.decode_png(png, channels=1)[..., 0]}

    return ds.map(without_autograph(add), num_parallel_calls=tf.data.AUTOTUNE)

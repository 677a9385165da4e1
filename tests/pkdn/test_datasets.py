"""PKDN's parsing data: manual builders on fake files, a parsing network labelling any dataset."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from isr_kd_tf import data
from pkdn_tf import datasets  # noqa: F401  (registers celeba_dic, helen, celebamask_hq)
from pkdn_tf.parsing import PALETTE, attach_parsing, cache_folder, encode_parsing, label_faces
from isr_kd_tf.errors import UserError


def _img(path, h, w, seed):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path)


def _manual(tmp_path, name):
    return tmp_path / "downloads" / "manual" / name


def test_celeba_dic_needs_its_lists_then_crops_by_the_boxes(tmp_path):
    root = _manual(tmp_path, "celeba_dic")
    for i in range(4):
        _img(str(root / "img_celeba" / f"{i:06d}.jpg"), 60, 50, i)
    with pytest.raises(UserError, match="train.txt"):
        data.load("celeba_dic", "train", str(tmp_path))
    (root / "train.txt").write_text("000000.jpg 5 5 45 45\n000001.jpg 0 0 50 60\n000009.jpg 0 0 9 9\n")
    (root / "validation.txt").write_text("000002.jpg\n")
    (root / "test.txt").write_text("000003.jpg 10 10 30 30\n")
    assert [data.num_examples("celeba_dic", s, str(tmp_path)) for s in ("train", "validation", "test")] == [2, 1, 1]
    ex = next(iter(data.load("celeba_dic", "test", str(tmp_path))))
    assert ex["image"].shape == (128, 128, 3) and "parsing" not in ex
    # DIC's _crop_resize, written out here (paper-details §2.2): PIL crop of the box, PIL BICUBIC to 128
    # (the stored image is a lossless PNG of that, so it is the same to the last bit)
    want = np.asarray(Image.open(root / "img_celeba" / "000003.jpg").crop((10, 10, 30, 30)).resize((128, 128),
                                                                                                  Image.BICUBIC))
    np.testing.assert_array_equal(ex["image"].numpy(), want)
    # the box [5, 45] of the first training image is clipped to the 50 x 60 image, never padded
    train = next(iter(data.load("celeba_dic", "train", str(tmp_path))))
    assert train["image"].shape == (128, 128, 3)


def test_helen_maps_its_labels_to_bisenet_classes(tmp_path):
    root = _manual(tmp_path, "helen")
    for i, split in enumerate(("train", "validation", "test")):
        name = f"face{i}"
        _img(str(root / "images" / f"{name}.jpg"), 40, 40, i)
        os.makedirs(root / "labels" / name)
        for k in range(11):
            m = np.zeros((40, 40), np.uint8)
            if k == 6:
                m[:, :20] = 255          # nose on the left half
            elif k == 10:
                m[:, 20:] = 255          # hair on the right half
            Image.fromarray(m).save(root / "labels" / name / f"{name}_lbl{k:02d}.png")
        (root / f"{split}.txt").write_text(f"{name}.jpg\n")
    ex = next(iter(data.load("helen", "train", str(tmp_path))))
    lab = ex["parsing"].numpy()
    assert lab.shape == (128, 128) and lab[64, 10] == 10 and lab[64, 120] == 17       # nose, hair


def test_celebamask_hq_merges_part_masks_and_splits_by_index(tmp_path):
    root = _manual(tmp_path, "celebamask_hq")
    for i in range(3):
        _img(str(root / "CelebA-HQ-img" / f"{i}.jpg"), 64, 64, i)
        anno = root / "CelebAMask-HQ-mask-anno" / "0"
        os.makedirs(anno, exist_ok=True)
        skin = np.zeros((32, 32), np.uint8)
        skin[8:24, 8:24] = 255
        Image.fromarray(skin).save(anno / f"{i:05d}_skin.png")
        nose = np.zeros((32, 32), np.uint8)
        nose[14:18, 14:18] = 255
        Image.fromarray(nose).save(anno / f"{i:05d}_nose.png")
    assert [data.num_examples("celebamask_hq", s, str(tmp_path)) for s in ("train", "validation", "test")] == [1, 1, 1]
    lab = next(iter(data.load("celebamask_hq", "test", str(tmp_path))))["parsing"].numpy()
    assert lab[64, 64] == 10 and lab[40, 40] == 1 and lab[5, 5] == 0          # nose over skin over background


def test_missing_manual_download_names_what_to_put_where(tmp_path):
    with pytest.raises(UserError, match="CelebA-HQ-img"):
        data.load("celebamask_hq", "train", str(tmp_path))


def _random_parsing_net():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(19, 1)])


def test_label_faces_follows_bisenet_preprocessing_eagerly_and_in_tf_data():
    net = _random_parsing_net()
    img = np.random.default_rng(0).integers(0, 256, (1, 40, 30, 3)).astype(np.uint8)
    labels = label_faces(img, net).numpy()
    x = tf.image.resize(img / 255.0, [512, 512]) - np.array([0.485, 0.456, 0.406])
    want = tf.argmax(net(x / np.array([0.229, 0.224, 0.225])), -1)[..., None]
    want = tf.image.resize(want, [40, 30], "nearest")[..., 0].numpy()
    np.testing.assert_array_equal(labels, want)
    in_data = next(iter(tf.data.Dataset.from_tensors(img).map(lambda b: label_faces(b, net)))).numpy()
    np.testing.assert_array_equal(in_data, labels)


def test_a_parsing_network_labels_a_folder_once_and_the_cache_serves_it(tmp_path):
    folder = tmp_path / "faces"
    for i, (h, w) in enumerate([(40, 30), (24, 24), (50, 36)]):
        _img(str(folder / f"f{i}.png"), h, w, i)
    net_path = str(tmp_path / "parser.keras")
    _random_parsing_net().save(net_path)
    cache = str(tmp_path / "cache")
    name = f"folder:{folder}"
    ds = attach_parsing(data.load(name, "train"), name, "train", net_path, cache)
    shapes = [(ex["image"].shape[:2], ex["parsing"].shape) for ex in ds]
    assert all(tuple(a) == tuple(b) for a, b in shapes) and len(shapes) == 3
    assert len(os.listdir(cache_folder(cache, name, "train"))) == 3
    again = attach_parsing(data.load(name, "train"), name, "train", str(tmp_path / "gone.keras"), cache)
    assert len(list(again)) == 3            # every map cached: the network is not needed again
    with pytest.raises(UserError, match="parsing_net"):
        list(attach_parsing(data.load(name, "train"), name, "train", str(tmp_path / "gone.keras"),
                            str(tmp_path / "empty_cache")))


def test_parsing_encodings_eager_and_in_tf_data_agree():
    labels = np.array([[0, 1], [17, 18]], np.uint8)
    color = encode_parsing(labels, "color").numpy()
    np.testing.assert_allclose(color[1, 1], PALETTE[18] / 255.0)
    assert color[0, 0].tolist() == [1.0, 1.0, 1.0]        # background white, as BiSeNet draws it
    onehot = encode_parsing(labels, "onehot").numpy()
    assert onehot.shape == (2, 2, 19) and onehot.sum() == 4 and onehot[1, 0, 17] == 1
    in_graph = next(iter(tf.data.Dataset.from_tensors(labels).map(lambda x: encode_parsing(x, "color"))))
    np.testing.assert_array_equal(in_graph.numpy(), color)
    with pytest.raises(UserError, match="parsing_encoding"):
        encode_parsing(labels, "grey")

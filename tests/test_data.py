import os

import cv2
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from isr_kd_tf import data
from isr_kd_tf.config import RunConfig
from isr_kd import edges
from isr_kd_tf.data import avatar_faces, image_io, synthetic_faces
from isr_kd_tf.errors import UserError
from tests.conftest import TINY_SOURCE, TINY_TARGET, pipeline


def _rand_hr(n=2, size=128, seed=0):
    return np.random.default_rng(seed).uniform(0, 255, (n, size, size, 3)).astype(np.float32)


# --- degradation -----------------------------------------------------------

def test_box_is_the_8x8_mean():
    hr = _rand_hr()
    lr = data.degrade(hr, 8, "box").numpy()
    ref = hr.reshape(2, 16, 8, 16, 8, 3).mean(axis=(2, 4))
    np.testing.assert_allclose(lr, ref, atol=1e-3)


def test_box_matches_opencv_cascade_within_rounding():
    hr = _rand_hr(1)[0].round().astype(np.uint8)
    x = hr
    for s in (64, 32, 16):
        x = cv2.resize(x, (s, s), interpolation=cv2.INTER_LINEAR)
    lr = data.degrade(hr.astype(np.float32), 8, "box").numpy()
    assert np.abs(lr - x).max() <= 1.5  # cv2 rounds to uint8 after each step


def test_degrade_hwc_and_nhwc_agree_and_bicubic_is_close_to_pil():
    hr = cv2.GaussianBlur(_rand_hr(1)[0], (0, 0), 3)
    single = data.degrade(hr, 8, "bicubic").numpy()
    batched = data.degrade(hr[None], 8, "bicubic").numpy()[0]
    assert single.shape == (16, 16, 3)
    np.testing.assert_allclose(single, batched, atol=1e-4)
    pil = np.asarray(Image.fromarray(hr.round().astype(np.uint8)).resize((16, 16), Image.BICUBIC), np.float32)
    assert np.abs(single - pil).mean() < 1.0


def test_degrade_rejects_bad_arguments():
    with pytest.raises(UserError, match="not divisible"):
        data.degrade(np.zeros((1, 20, 16, 3), np.float32), 8)
    with pytest.raises(UserError, match="unknown"):
        data.degrade(np.zeros((16, 16, 3), np.float32), 8, "nearest")


def test_noise_is_seeded():
    hr = _rand_hr()
    a = data.degrade(hr, 8, "box", 5.0, seed=tf.constant([1, 2])).numpy()
    b = data.degrade(hr, 8, "box", 5.0, seed=tf.constant([1, 2])).numpy()
    clean = data.degrade(hr, 8, "box").numpy()
    np.testing.assert_array_equal(a, b)
    assert np.abs(a - clean).mean() > 1.0


def test_adaptive_thresholds_find_edges_on_a_low_contrast_image():
    img = np.full((64, 64), 100, np.uint8)
    img[:, 32:] = 130  # a step of 30 grey levels: below the fixed low threshold's reach
    assert edges.canny(img, "fixed").max() == 0
    assert edges.canny(img, "adaptive").max() == 255


# --- augmentation ------------------------------------------------------------

def _labelled_batch(n=8):
    rng = np.random.default_rng(3)
    parsing = rng.integers(0, 19, (n, 32, 32)).astype(np.uint8)
    return {"hr": tf.constant(np.repeat(parsing[..., None], 3, -1)), "parsing": tf.constant(parsing),
            "domain": tf.zeros([n], tf.int32)}


def test_flip_and_rotation_move_hr_and_parsing_together():
    batch = _labelled_batch()
    out = data.augment(batch, tf.constant([5, 7], tf.int64))
    np.testing.assert_array_equal(out["hr"].numpy()[..., 0], out["parsing"].numpy())
    changed = [not np.array_equal(a, b) for a, b in zip(out["parsing"].numpy(), batch["parsing"].numpy())]
    assert any(changed)
    # Each output is one of the 8 dihedral transforms of its input.
    for a, b in zip(out["parsing"].numpy(), batch["parsing"].numpy()):
        variants = [np.rot90(v, k) for v in (b, b[:, ::-1]) for k in range(4)]
        assert any(np.array_equal(a, v) for v in variants)


def test_augmentation_probabilities():
    n = 4000
    pattern = np.array([[1, 2], [3, 4]], np.uint8)
    batch = {"hr": tf.constant(np.broadcast_to(pattern[None, :, :, None], (n, 2, 2, 3)))}
    out = data.augment(batch, tf.constant([1, 1], tf.int64))["hr"].numpy()[..., 0]
    unchanged = np.all(out == pattern, axis=(1, 2)).mean()
    flipped_only = np.all(out == pattern[:, ::-1], axis=(1, 2)).mean()
    assert abs(unchanged - 0.25) < 0.03 and abs(flipped_only - 0.25) < 0.03
    # KDFSRNet's draw: k = 0, 1, 2, 3 with probability 1/4 each (flip off to read k alone)
    out = data.augment(batch, tf.constant([2, 3], tf.int64), flip=False, rotate_prob=0.75)["hr"].numpy()[..., 0]
    shares = [np.all(out == np.rot90(pattern, k), axis=(1, 2)).mean() for k in range(4)]
    np.testing.assert_allclose(shares, 0.25, atol=0.03)


# --- datasets ----------------------------------------------------------------

def test_renderers_are_deterministic():
    a, la = synthetic_faces.render_face(11)
    b, lb = synthetic_faces.render_face(11)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(la, lb)
    np.testing.assert_array_equal(avatar_faces.render_avatar(4), avatar_faces.render_avatar(4))


def test_parsing_has_the_face_parts_in_bisenet_classes():
    present = set()
    for seed in range(4):  # long hair may hide the neck in one face
        img, lab = synthetic_faces.render_face(seed)
        assert img.shape == (218, 178, 3) and lab.shape == (218, 178)
        present |= {synthetic_faces.PARSING_CLASSES[i] for i in np.unique(lab)}
    assert {"background", "skin", "l_eye", "r_eye", "l_brow", "r_brow", "nose", "u_lip",
            "l_lip", "neck", "cloth", "hair", "l_ear", "r_ear"} <= present
    assert lab.max() < 19


def test_parsing_matches_the_drawn_image():
    # Pixels labelled skin are skin-coloured (R > B); eye interiors hold dark pupils.
    img, lab = synthetic_faces.render_face(2)
    skin = img[lab == synthetic_faces.LABEL["skin"]].astype(np.float32)
    assert np.mean(skin[:, 0] > skin[:, 2]) > 0.95
    for eye in ("l_eye", "r_eye"):
        assert img[lab == synthetic_faces.LABEL[eye]].min() < 60


def flat_fraction(img):
    """Share of pixels whose right and lower neighbours differ by < 0.5 grey."""
    g = cv2.cvtColor(img, cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx = np.abs(np.diff(g, axis=1))[:-1, :]
    gy = np.abs(np.diff(g, axis=0))[:, :-1]
    return float(np.mean((gx < 0.5) & (gy < 0.5)))


def test_photos_and_cartoons_differ_in_flatness():
    photo = np.mean([flat_fraction(synthetic_faces.render_face(s)[0]) for s in range(4)])
    cartoon = np.mean([flat_fraction(avatar_faces.render_avatar(s)) for s in range(4)])
    assert photo < 0.05 and cartoon > 0.5, (photo, cartoon)


def test_split_sizes_and_load_format(data_dir):
    for name, has_parsing in ((TINY_SOURCE, True), (TINY_TARGET, False)):
        sizes = {s: data.num_examples(name, s, data_dir) for s in ("train", "validation", "test")}
        assert sizes == {"train": 24, "validation": 8, "test": 8}
        ex = next(iter(data.load(name, "test", data_dir)))
        assert ex["image"].dtype == tf.uint8 and ex["image"].shape[-1] == 3
        assert ("parsing" in ex) == has_parsing
        if has_parsing:
            assert ex["parsing"].shape == ex["image"].shape[:2]


@pytest.mark.slow
def test_same_seed_same_batches(data_dir):
    cfg = pipeline("isr_kd")
    specs = [data.DomainSpec(TINY_SOURCE, data.SOURCE, 6), data.DomainSpec(TINY_TARGET, data.TARGET, 12)]

    def first_batches(seed):
        ds = data.training_dataset(specs, cfg, 4, seed, data_dir)
        return [b for _, b in zip(range(3), ds)]

    a, b, c = first_batches(7), first_batches(7), first_batches(8)
    for x, y in zip(a, b):
        for k in x:
            np.testing.assert_array_equal(x[k].numpy(), y[k].numpy())
    assert any(not np.array_equal(x["hr"].numpy(), y["hr"].numpy()) for x, y in zip(a, c))
    # resuming at batch 2 gives batch 2
    resumed = next(iter(data.training_dataset(specs, cfg, 4, 7, data_dir, start_batch=2)))
    np.testing.assert_array_equal(resumed["hr"].numpy(), a[2]["hr"].numpy())


def test_training_batches_shapes_and_domains(data_dir):
    specs = [data.DomainSpec(TINY_SOURCE, data.SOURCE), data.DomainSpec(TINY_TARGET, data.TARGET)]
    b = next(iter(data.training_dataset(specs, pipeline("isr_kd"), 16, 0, data_dir)))
    assert b["hr"].shape == (16, 128, 128, 3) and b["lr"].shape == (16, 16, 16, 3)
    assert b["edge_32"].shape == (16, 32, 32, 1) and "lr_up" not in b       # each method's own features
    assert "parsing" not in b  # one domain has none, so it is dropped
    p = next(iter(data.training_dataset(specs[:1], pipeline("pkdn", hr_size=64), 4, 0, data_dir)))
    assert p["lr_up"].shape == (4, 64, 64, 3) and p["parsing_input"].shape == (4, 64, 64, 3)
    assert "edge_32" not in p
    plain = next(iter(data.training_dataset(specs, data.PipelineConfig(run=RunConfig(hr_size=32)), 4, 0, data_dir)))
    assert sorted(plain) == ["domain", "hr", "lr"]                        # the core adds nothing of a paper
    assert 0.0 <= float(tf.reduce_min(b["hr"])) and float(tf.reduce_max(b["hr"])) <= 255.0
    assert set(b["domain"].numpy()) <= {0, 1}


def test_mixing_draws_exact_counts_and_writes_lists(data_dir, tmp_path):
    ds = data.load(TINY_SOURCE, "train", data_dir)
    chosen = data.select(ds, TINY_SOURCE, "train", 5, seed=3, list_path=str(tmp_path / "l.txt"), data_dir=data_dir)
    got = [ex["key"].numpy().decode() for ex in chosen]
    lines = (tmp_path / "l.txt").read_text().splitlines()
    assert len(got) == 5 and [ln.split("\t")[1] for ln in lines] == got
    again = data.select(ds, TINY_SOURCE, "train", 5, seed=3, data_dir=data_dir)
    assert [ex["key"].numpy().decode() for ex in again] == got
    with pytest.raises(UserError, match="has only 24"):
        data.select(ds, TINY_SOURCE, "train", 25, seed=3, data_dir=data_dir)


def test_cartoons_are_resized_whole_and_real_faces_cropped():
    cfg = data.PipelineConfig(run=RunConfig(hr_size=16), crop_size=178)
    img = np.zeros((40, 20, 3), np.uint8)
    img[:10] = 255                                   # a white band at the top, outside the square centre crop
    whole = data.prepare({"image": tf.constant(img)}, cfg, data.TARGET, crop=False)["hr"].numpy()
    cropped = data.prepare({"image": tf.constant(img)}, cfg, data.SOURCE)["hr"].numpy()
    assert whole[:3].min() == 255 and cropped.max() == 0
    isr_kd = pipeline("isr_kd")                       # the official ISR-KD code resizes whole cartoons
    assert isr_kd.crops("celeb_a") and not isr_kd.crops("icartoonface") and not isr_kd.crops("avatar_faces/tiny")
    assert data.PipelineConfig().crops("avatar_faces")


@pytest.mark.parametrize("method", ["isr_kd", "pkdn"])
def test_eager_and_tf_data_agree(data_dir, method):
    cfg = pipeline(method, hr_size=64)
    ex = next(iter(data.load(TINY_SOURCE, "test", data_dir)))
    eager = data.finish({k: v[None] for k, v in data.prepare(ex, cfg, 0).items()}, cfg, tf.constant([1, 2], tf.int64))
    ds = data.load(TINY_SOURCE, "test", data_dir).take(1).map(lambda e: data.prepare(e, cfg, 0)).batch(1)
    graph = next(iter(ds.map(lambda b: data.finish(b, cfg, tf.constant([1, 2], tf.int64)))))
    for k in eager:
        np.testing.assert_array_equal(eager[k].numpy(), graph[k].numpy())


# --- bad input ---------------------------------------------------------------

def _write_bad_folder(root):
    rng = np.random.default_rng(0)
    good = rng.integers(0, 255, (200, 180, 3), np.uint8)
    Image.fromarray(good).save(root / "good.jpg", quality=95)
    Image.fromarray(good[..., 0]).save(root / "gray.png")
    Image.fromarray(np.dstack([good, np.full((200, 180), 128, np.uint8)])).save(root / "rgba.png")
    Image.fromarray((good[..., 0].astype(np.uint16) * 257)).save(root / "deep16.png")
    Image.fromarray(good[:20, :20]).save(root / "tiny.png")
    (root / "corrupt.jpg").write_bytes(b"not an image at all")
    full = (root / "good.jpg").read_bytes()
    (root / "truncated.jpg").write_bytes(full[: len(full) // 3])


def test_image_reader_converts_what_it_can(tmp_path):
    _write_bad_folder(tmp_path)
    for name in ("good.jpg", "gray.png", "rgba.png", "deep16.png", "tiny.png"):
        img = image_io.read_image(str(tmp_path / name))
        assert img.dtype == np.uint8 and img.shape[-1] == 3, name
    deep = image_io.read_image(str(tmp_path / "deep16.png"))
    gray = image_io.read_image(str(tmp_path / "gray.png"))
    assert np.abs(deep.astype(int) - gray.astype(int)).max() <= 1  # 16-bit scaled, not clipped
    rgba = image_io.read_image(str(tmp_path / "rgba.png"))
    assert rgba.mean() > image_io.read_image(str(tmp_path / "good.jpg")).mean()  # composited on white
    for name in ("corrupt.jpg", "truncated.jpg"):
        with pytest.raises(image_io.BadImage, match=name):
            image_io.read_image(str(tmp_path / name))


def test_folder_source_skips_and_names_bad_files(tmp_path):
    _write_bad_folder(tmp_path)
    log = image_io.SkipLog()
    ds = data.sources.load_folder(str(tmp_path), min_side=128, skip_log=log)
    keys = sorted(os.path.basename(ex["key"].numpy().decode()) for ex in ds)
    assert keys == ["deep16.png", "good.jpg", "gray.png", "rgba.png"]
    assert sorted(os.path.basename(p) for p, _ in log.skipped) == ["corrupt.jpg", "tiny.png", "truncated.jpg"]
    assert "3 file(s) skipped" in log.summary()


def test_each_training_collects_its_own_skipped_files(tmp_path):
    """Two trainings in one process (the claims tool runs many): the second reports none of the
    first one's skipped files."""
    bad, good = tmp_path / "bad", tmp_path / "good"
    os.makedirs(bad)
    _write_bad_folder(bad)
    os.makedirs(good)
    Image.new("RGB", (130, 130), (10, 20, 30)).save(good / "ok.png")
    first, second = image_io.SkipLog(), image_io.SkipLog()
    list(data.training_dataset([data.DomainSpec(f"folder:{bad}", data.SOURCE), data.DomainSpec(f"folder:{good}", data.TARGET)],
                               data.PipelineConfig(run=RunConfig(hr_size=256)), 1, 0, skip_log=first).take(2))
    list(data.sources.load_folder(str(good), min_side=128, skip_log=second))
    assert len(first.skipped) == 3 and second.skipped == []


def test_empty_or_missing_folder_is_one_clear_error(tmp_path):
    with pytest.raises(UserError, match="holds no images"):
        data.load(f"folder:{tmp_path}", "train")
    with pytest.raises(UserError, match="does not exist"):
        data.load(f"folder:{tmp_path}/nope", "train")


def test_unknown_dataset_and_split(data_dir):
    with pytest.raises(UserError, match="unknown dataset"):
        data.load("no_such_faces", "train", data_dir)
    with pytest.raises(UserError, match="split"):
        data.load(TINY_SOURCE, "dev", data_dir)


def test_icartoonface_missing_download_names_the_files(tmp_path):
    with pytest.raises(UserError, match="personai_icartoonface_rectrain"):
        data.load("icartoonface", "train", str(tmp_path))


def test_icartoonface_builds_from_manual_files(tmp_path):
    manual = tmp_path / "downloads" / "manual" / "icartoonface" / "sub"
    manual.mkdir(parents=True)
    rng = np.random.default_rng(1)
    for ident in (50, 51, 52, 53):  # 50 -> test, 51 -> validation, others train
        for j in range(2):
            Image.fromarray(rng.integers(0, 255, (150, 140, 3), np.uint8)).save(
                manual / f"personai_icartoonface_rectrain_{ident:05d}_{j:07d}.jpg")
    (manual / "personai_icartoonface_rectrain_00052_0000009.jpg").write_bytes(b"broken")
    sizes = {s: data.num_examples("icartoonface", s, str(tmp_path)) for s in ("train", "validation", "test")}
    assert sizes == {"train": 4, "validation": 2, "test": 2}
    ex = next(iter(data.load("icartoonface", "test", str(tmp_path))))
    assert ex["key"].numpy().decode().startswith("personai_icartoonface_rectrain_00050")

"""The real-image builders (utkface, anime_faces, lfw_parts): split files as given, bytes as stored,
part labels as parsing maps, one line for a missing or incomplete folder."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from isr_kd_tf import data
from isr_kd_tf.data import real_faces
from isr_kd_tf.errors import UserError
from tests.conftest import ROOT


def _folder(root, name, n_per_split=(3, 2, 2), size=40, masks=False):
    """A set laid out as ../shared/data lays them: images/ (masks/) and one list per split."""
    base = root / name
    (base / "images").mkdir(parents=True)
    if masks:
        (base / "masks").mkdir()
    rng = np.random.default_rng(0)
    names = {}
    for split, n in zip(real_faces.SPLITS, n_per_split):
        names[split] = [f"{split}_{i}.jpg" for i in range(n)]
        for f in names[split]:
            Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8)).save(base / "images" / f, quality=90)
            if masks:
                m = np.zeros((size, size, 3), np.uint8)
                m[..., 2] = 255                                  # background
                m[: size // 4] = (255, 0, 0)                     # hair
                m[size // 2:, size // 4: 3 * size // 4] = (0, 255, 0)   # skin
                Image.fromarray(m).save(base / "masks" / (f[:-4] + ".png"))
        # LFW's lists name stems; the others name files: both are read
        (base / f"{split}.txt").write_text("\n".join(x[:-4] if masks else x for x in names[split]) + "\n")
    return base, names


def test_a_built_set_has_the_split_files_examples_with_the_files_own_pixels(tmp_path):
    base, names = _folder(tmp_path / "real", "utkface")
    d = str(tmp_path / "tfds")
    data.prepare_sets(["utkface"], d, str(tmp_path / "real"))
    for split in real_faces.SPLITS:
        assert data.num_examples("utkface", split, d) == len(names[split])
        assert sorted(data.keys("utkface", split, d)) == sorted(names[split])
    ex = next(iter(data.load("utkface", "test", d)))
    raw = tf.io.decode_jpeg(tf.io.read_file(str(base / "images" / ex["key"].numpy().decode())))
    np.testing.assert_array_equal(ex["image"].numpy(), raw.numpy())     # the JPEG as stored, not re-encoded


def test_part_labels_become_parsing_maps(tmp_path):
    _folder(tmp_path / "real", "lfw_parts", masks=True)
    d = str(tmp_path / "tfds")
    data.prepare_sets(["lfw_parts"], d, str(tmp_path / "real"))
    ex = next(iter(data.load("lfw_parts", "train", d)))
    p = ex["parsing"].numpy()
    assert p.shape == (40, 40)
    assert (p[:10] == 17).all() and (p[20:, 10:30] == 1).all() and p[15, 0] == 0


def test_lfw_colours_map_to_parsing_classes_and_other_colours_are_refused():
    m = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255]]], np.uint8)
    np.testing.assert_array_equal(real_faces.lfw_parsing(m), [[17, 1, 0]])
    with pytest.raises(ValueError, match="other than"):
        real_faces.lfw_parsing(np.array([[[255, 255, 0]]], np.uint8))


def test_a_missing_folder_names_the_flag(tmp_path):
    with pytest.raises(UserError) as e:
        data.prepare_sets(["anime_faces"], str(tmp_path / "tfds"), str(tmp_path / "nowhere"))
    msg = str(e.value)
    assert "\n" not in msg and "--real_data_dir" in msg and "images/" in msg


def test_an_incomplete_folder_names_what_is_missing(tmp_path):
    base, names = _folder(tmp_path / "real", "anime_faces")
    os.remove(base / "images" / names["validation"][1])
    with pytest.raises(UserError, match=r"1 file\(s\) listed in validation.txt are missing .*validation_1.jpg"):
        data.prepare_sets(["anime_faces"], str(tmp_path / "tfds"), str(tmp_path / "real"))
    Image.new("RGB", (40, 40)).save(base / "images" / names["validation"][1])
    os.remove(base / "test.txt")
    with pytest.raises(UserError, match="no test.txt"):
        data.prepare_sets(["anime_faces"], str(tmp_path / "tfds2"), str(tmp_path / "real"))


def test_crops_are_the_sets_own():
    from tests.conftest import pipeline
    isr_kd = pipeline()
    assert isr_kd.crop_side("utkface") == 0 and isr_kd.crop_side("anime_faces") == 0
    assert isr_kd.crop_side("celeb_a") == 178
    assert pipeline("pkdn").crop_side("lfw_parts") == 128


@pytest.mark.slow
@pytest.mark.first
def test_the_shared_sets_build_with_their_published_splits(real_tfds):
    """The facts of ../shared/data (its README): 8000/1000/1000, 8000/1000/1000, LFW's own 1500/500/927;
    sizes 200, 96, 250; masks in three colours only."""
    d, real_data_dir = real_tfds()
    want = {"utkface": ((8000, 1000, 1000), 200), "anime_faces": ((8000, 1000, 1000), 96),
            "lfw_parts": ((1500, 500, 927), 250)}
    for name, (counts, side) in want.items():
        assert tuple(data.num_examples(name, s, d) for s in real_faces.SPLITS) == counts
        ex = next(iter(data.load(name, "test", d)))
        assert ex["image"].shape == (side, side, 3)
        with open(os.path.join(real_data_dir, name, "test.txt")) as f:
            listed = {line.strip() for line in f if line.strip()}
        assert {os.path.splitext(k)[0] if name == "lfw_parts" else k for k in data.keys(name, "test", d)} == listed
    assert set(np.unique(ex["parsing"].numpy())) <= {0, 1, 17}


def _train(flagfile, workdir, data_dir, *extra):
    out = subprocess.run([sys.executable, "-m", "isr_kd_tf.train", f"--flagfile={flagfile}", f"--workdir={workdir}",
                          f"--data_dir={data_dir}", *extra], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-3000:]
    with open(os.path.join(workdir, "results.json")) as f:
        return json.load(f), out.stdout


SMOKE = ["--steps_per_epoch=2", "--batch_size=2", "--eval_limit=2", "--val_images=0", "--checkpoint_every=2"]


@pytest.mark.slow
def test_the_real_image_isr_kd_demo_at_smoke_size(real_tfds, tmp_path):
    """The README's real-image ISR-KD command (flags/real/demo.cfg) on ../shared/data, a few steps from its zoo
    entry: every row scored, samples.png written into the run folder; then evaluate on another set."""
    d, real_data_dir = real_tfds("utkface", "anime_faces", "lfw_parts")
    results, _ = _train("flags/real/demo.cfg", str(tmp_path / "demo"), d, *SMOKE, f"--real_data_dir={real_data_dir}",
                        "--source_count=4", "--target_count=8")
    rows = {(r["model"], r["test"]) for r in results["rows"]}
    assert rows == {(m, t) for m in ("bicubic", "pretrained", "incremental_kd", "incremental_no_kd")
                    for t in ("source", "target")}
    assert results["test_sets"] == {"source": "utkface", "target": "anime_faces"}
    assert all(r["id_cos"] is not None for r in results["rows"])          # identity beside PSNR and SSIM
    assert os.path.isfile(tmp_path / "demo" / "samples.png")
    from isr_kd_tf import evaluate                            # G_S on real faces it never trained on
    rows = evaluate.evaluate([str(tmp_path / "demo")], limit=2, test_sets=["source_data=lfw_parts"], data_dir=d,
                             real_data_dir=real_data_dir, progress=False)
    assert {r["test"] for r in rows} == {"source", "target"} and all(r["psnr"] > 10 for r in rows)
    with pytest.raises(UserError, match="source_data=NAME"):
        evaluate.evaluate([str(tmp_path / "demo")], limit=2, test_sets=["width=2"], data_dir=d)


@pytest.mark.slow
def test_the_real_image_pkdn_demo_at_smoke_size(real_tfds, tmp_path):
    """The README's real-image PKDN command (flags/real/pkdn_demo.cfg): students from the zoo's LFW teacher."""
    d, real_data_dir = real_tfds("lfw_parts")
    results, _ = _train("flags/real/pkdn_demo.cfg", str(tmp_path / "pkdn"), d, *SMOKE, "--epochs=1",
                        f"--real_data_dir={real_data_dir}")
    assert {r["model"] for r in results["rows"]} == {"bicubic", "teacher", "student_kd", "student_no_kd"}
    assert results["test_sets"] == {"lfw_parts": "lfw_parts"}

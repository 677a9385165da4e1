"""`load(name, split)`: every data source as one kind of tf.data.Dataset.

Elements are dicts with `image` (uint8 HxWx3), `key` (a string naming the
example: its file name, or `split[index]` where the source has none) and,
where the source has it, `parsing` (uint8 HxW, BiSeNet's 19 classes).
"""

import contextlib
import io
import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from isr_kd_tf.data import builders, image_io, real_faces
from isr_kd_tf.errors import UserError

SPLITS = ("train", "validation", "test")
FOLDER_PREFIX = "folder:"

# tf.data runs map functions through autograph; ours are plain TensorFlow, and converting them
# took about a second of every run's start (box_downsample alone was converted 28 times)
without_autograph = tf.autograph.experimental.do_not_convert


def _is_folder(name):
    return name.startswith(FOLDER_PREFIX) or os.path.isdir(name)


def _folder_path(name):
    return name[len(FOLDER_PREFIX):] if name.startswith(FOLDER_PREFIX) else name


def _methods_builder(name, data_dir):
    """A dataset that a method's package registers (ISR-KD's icartoonface, PKDN's face-parsing sets):
    every installed method is loaded once, then the name is looked up again."""
    from isr_kd_tf import methods
    installed = methods.available()
    try:
        return tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        raise UserError(f"unknown dataset {name!r}; use synthetic_faces, avatar_faces, utkface, anime_faces, "
                        f"lfw_parts, celeb_a, folder:PATH or a set of the methods {', '.join(sorted(installed))} "
                        "(see the README's Data section)") from None


def builder(name, data_dir=None, real_data_dir=None):
    """The tfds builder for `name`, prepared (bundled sets are built offline; the real-image sets
    from real_data_dir, else from <data_dir>/downloads/manual/<name>)."""
    try:
        b = tfds.builder(name, data_dir=data_dir)
    except tfds.core.registered.DatasetNotFoundError:
        b = _methods_builder(name, data_dir)
    if not b.is_prepared():
        base = name.split("/")[0].split(":")[0]
        if base in builders.BUNDLED:
            print(f"building the bundled {name} set in {b.data_dir_root} (once; under a minute)", flush=True)
            with contextlib.redirect_stdout(io.StringIO()):    # tfds' "Downloading ..." lines: nothing is downloaded
                b.download_and_prepare()
        elif base == "celeb_a":
            try:
                b.download_and_prepare()
            except Exception as e:  # no network here: say what to do instead
                raise UserError(
                    f"celeb_a is not prepared in {b.data_dir_root} and could not be downloaded ({type(e).__name__}); "
                    "run `tfds build celeb_a` on a connected machine and pass its folder as --data_dir") from None
        elif reads_real_data_dir(name):
            print(f"building {name} in {b.data_dir_root} from its image folder (once)", flush=True)
            config = tfds.download.DownloadConfig(manual_dir=real_data_dir) if real_data_dir else None
            try:
                with contextlib.redirect_stdout(io.StringIO()):
                    b.download_and_prepare(download_config=config)
            except AssertionError:  # tfds' own "manual directory does not exist or is empty"
                where = real_data_dir or os.path.join(b.data_dir_root, "downloads", "manual")
                raise UserError(f"{name}: no image folder at {where}; {b.MANUAL_DOWNLOAD_INSTRUCTIONS}") from None
        else:
            try:
                b.download_and_prepare()
            except AssertionError as e:  # tfds' own "manual directory is empty"
                raise UserError(f"{name}: manual download missing. "
                                + (getattr(b, "MANUAL_DOWNLOAD_INSTRUCTIONS", "") or str(e))) from None
    return b


def reads_real_data_dir(name):
    """Whether a dataset is built from the --real_data_dir folders."""
    return name.split("/")[0].split(":")[0] in real_faces.NAMES


def prepare_sets(names, data_dir=None, real_data_dir=None):
    """Builds each named tfds set that is not built yet (folder: sets need nothing)."""
    for name in dict.fromkeys(names):
        if not _is_folder(name):
            builder(name, data_dir, real_data_dir)


def num_examples(name, split, data_dir=None):
    if _is_folder(name):
        return len(_folder_files(name, split))
    return builder(name, data_dir).info.splits[split].num_examples


def _folder_files(name, split):
    """A folder's images; a folder with train/validation/test subfolders is split by them."""
    root = _folder_path(name)
    if not os.path.isdir(root):
        raise UserError(f"image folder {root} does not exist")
    sub = os.path.join(root, split)
    paths = image_io.list_images(sub if os.path.isdir(sub) else root)
    if not paths:
        raise UserError(f"image folder {root} holds no images ({', '.join(image_io.IMAGE_EXTENSIONS)})")
    return paths


def load_folder(name, split="train", min_side=0, skip_log=None):
    """Images of a folder; unreadable or too small ones are skipped and named (each as it is met, and
    in `skip_log`, an image_io.SkipLog, for one summary at the end of its user's work)."""
    paths = _folder_files(name, split)
    log = skip_log if skip_log is not None else image_io.SkipLog()

    def read(path):
        path = path.decode()
        try:
            img = image_io.read_image(path)
        except image_io.BadImage as e:
            log.skip(path, str(e))
            return np.zeros((1, 1, 3), np.uint8), False
        if min(img.shape[:2]) < min_side:
            log.skip(path, f"{img.shape[1]}x{img.shape[0]} is smaller than {min_side} pixels")
            return np.zeros((1, 1, 3), np.uint8), False
        return img, True

    def to_example(path):
        img, ok = tf.numpy_function(read, [path], [tf.uint8, tf.bool], stateful=False)
        img.set_shape([None, None, 3])
        return {"image": img, "key": path}, ok

    ds = tf.data.Dataset.from_tensor_slices(paths)
    ds = ds.map(without_autograph(to_example), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.filter(without_autograph(lambda ex, ok: ok)).map(without_autograph(lambda ex, ok: ex))


def load(name, split="train", data_dir=None, decode=True, min_side=0, skip_log=None):
    """The examples of `name`'s `split` in a fixed order (see module doc).

    min_side: folder images smaller than this are skipped and named (in skip_log, see load_folder).
    """
    if split not in SPLITS:
        raise UserError(f"split {split!r} is unknown; use one of {SPLITS}")
    if _is_folder(name):
        return load_folder(name, split, min_side, skip_log)
    b = builder(name, data_dir)
    feats = b.info.features
    decoders = None if decode else {k: tfds.decode.SkipDecoding()
                                    for k in ("image", "parsing") if k in feats}
    ds = b.as_dataset(split=split, shuffle_files=False, decoders=decoders)
    has_name = "filename" in feats

    def to_example(i, ex):
        out = {"image": ex["image"],
               "key": ex["filename"] if has_name else tf.strings.format("{}[{}]", (split, i))}
        if "parsing" in ex:
            out["parsing"] = ex["parsing"][..., 0] if decode else ex["parsing"]
        return out

    return ds.enumerate().map(without_autograph(to_example), num_parallel_calls=tf.data.AUTOTUNE)


def keys(name, split="train", data_dir=None):
    """The example keys of a split, in load order, without decoding images."""
    ds = load(name, split, data_dir, decode=False).map(without_autograph(lambda ex: ex["key"]))
    return [k.decode() for k in ds.as_numpy_iterator()]

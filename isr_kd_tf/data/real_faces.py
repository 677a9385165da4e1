"""Real-image sets read from a folder (`--real_data_dir`): `utkface`, `anime_faces`, `lfw_parts`.

Each is a tfds builder over `<real_data_dir>/<name>/` laid out as
`images/` (and `masks/`) with one split file per split (`train.txt`,
`validation.txt`, `test.txt`: one image file name a line). The split files
are used as given, never redrawn. JPEG bytes are stored as they are (no
re-encoding), so a built set decodes to the pixels of the original files.

Without --real_data_dir the folder is looked for where tfds keeps manual
downloads, `<data_dir>/downloads/manual/<name>/`.
"""

import logging
import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image, UnidentifiedImageError

from isr_kd_tf.data import image_io
from isr_kd_tf.errors import UserError

SPLITS = ("train", "validation", "test")
FLAG = "--real_data_dir"

# LFW Part Labels colours -> BiSeNet class ids (the parsing maps' classes everywhere in this package):
# red = hair (17), green = skin (1), blue = background (0)
LFW_PART_CLASSES = {(255, 0, 0): 17, (0, 255, 0): 1, (0, 0, 255): 0}


def lfw_parsing(mask):
    """uint8 HxW BiSeNet ids from an LFW Part Labels RGB mask; a pixel of another colour is an error."""
    out = np.full(mask.shape[:2], 255, np.uint8)
    for colour, cls in LFW_PART_CLASSES.items():
        out[np.all(mask == colour, axis=-1)] = cls
    if (out == 255).any():
        raise ValueError("holds colours other than red, green and blue")
    return out


class _FolderSet(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A real-image set in a folder with images/ and split files."""

    VERSION = tfds.core.Version("1.0.0")
    HAS_MASKS = False
    WHAT = ""

    @property
    def MANUAL_DOWNLOAD_INSTRUCTIONS(self):   # noqa: N802  (tfds' name)
        return (f"pass {FLAG}=FOLDER where FOLDER/{self.name}/ holds images/"
                + (", masks/" if self.HAS_MASKS else "") + " and train.txt, validation.txt, test.txt "
                "(one image file name a line)")

    def _info(self):
        feats = {"image": tfds.features.Image(shape=(None, None, 3)), "filename": tfds.features.Text()}
        if self.HAS_MASKS:
            feats["parsing"] = tfds.features.Image(shape=(None, None, 1))
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(feats), description=self.WHAT)

    def _missing(self, what):
        return UserError(f"{self.name}: {what}; {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")

    def root(self, manual_dir):
        root = os.fspath(manual_dir)
        nested = os.path.join(root, self.name)
        return nested if os.path.isdir(nested) else root

    def _split_generators(self, dl_manager):
        root = self.root(dl_manager.manual_dir)
        folders = ["images"] + (["masks"] if self.HAS_MASKS else [])
        for f in folders:
            if not os.path.isdir(os.path.join(root, f)):
                raise self._missing(f"no {f}/ folder in {root}")
        names = {}
        for split in SPLITS:
            path = os.path.join(root, f"{split}.txt")
            if not os.path.isfile(path):
                raise self._missing(f"no {split}.txt in {root}")
            with open(path) as fh:
                listed = [line.strip() for line in fh if line.strip()]
            if not listed:
                raise self._missing(f"{path} lists no image")
            names[split] = [self.file_name(root, n) for n in listed]
            absent = [n for n in names[split] if not os.path.isfile(os.path.join(root, "images", n))]
            if self.HAS_MASKS:
                absent += [self.mask_name(n) for n in names[split]
                           if not os.path.isfile(os.path.join(root, "masks", self.mask_name(n)))]
            if absent:
                raise self._missing(f"{len(absent)} file(s) listed in {split}.txt are missing from {root} "
                                    f"(first: {absent[0]}); the folder is incomplete")
        return {split: self._generate_examples(root, names[split]) for split in SPLITS}

    @staticmethod
    def file_name(root, name):
        """A listed name as its file in images/ (LFW's lists name stems: the .jpg is found)."""
        if os.path.splitext(name)[1].lower() in image_io.IMAGE_EXTENSIONS:
            return name
        return next((name + ext for ext in (".jpg", ".png", ".jpeg")
                     if os.path.isfile(os.path.join(root, "images", name + ext))), name)

    @staticmethod
    def mask_name(name):
        return os.path.splitext(name)[0] + ".png"

    def _generate_examples(self, root, names):
        skipped = image_io.SkipLog()
        for name in names:
            path = os.path.join(root, "images", name)
            try:
                image, shape = _plain_image(path)
            except image_io.BadImage as e:
                skipped.skip(path, str(e))
                continue
            ex = {"image": image, "filename": name}
            if self.HAS_MASKS:
                mask_path = os.path.join(root, "masks", self.mask_name(name))
                try:
                    lab = lfw_parsing(image_io.read_image(mask_path))
                except (image_io.BadImage, ValueError) as e:
                    skipped.skip(mask_path, str(e))
                    continue
                if lab.shape != shape:
                    skipped.skip(mask_path, f"mask {lab.shape[1]}x{lab.shape[0]} does not match its image "
                                            f"{shape[1]}x{shape[0]}")
                    continue
                ex["parsing"] = lab[..., None]
            yield name, ex
        if skipped.skipped:
            logging.warning("%s: %s", self.name, skipped.summary())


def _plain_image(path):
    """(what the set stores, (height, width)): a plain upright 8-bit RGB JPEG or PNG as its own file (decoded
    once, to find a truncated one), anything else as image_io reads it; BadImage for a bad file."""
    try:
        with Image.open(path) as im:
            if im.mode == "RGB" and im.format in ("JPEG", "PNG") and im.getexif().get(0x0112, 1) == 1:
                im.load()
                return path, (im.height, im.width)
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise image_io.BadImage(f"{path}: unreadable image ({e})") from None
    img = image_io.read_image(path)
    return img, img.shape[:2]


class Utkface(_FolderSet):
    """UTKFace 'aligned and cropped' real faces (200x200), the split files as given."""

    name = "utkface"
    WHAT = __doc__


class AnimeFaces(_FolderSet):
    """Drawn cartoon (anime) face crops (96x96), the split files as given."""

    name = "anime_faces"
    WHAT = __doc__


class LfwParts(_FolderSet):
    """LFW-funneled faces (250x250) with the LFW Part Labels masks as parsing maps (hair, skin,
    background as BiSeNet's classes 17, 1, 0); the dataset's own split."""

    name = "lfw_parts"
    HAS_MASKS = True
    WHAT = __doc__


NAMES = ("utkface", "anime_faces", "lfw_parts")

# Square centre crop of a set whose images hold more than the face (the pipeline's default is CelebA's
# 178): LFW-funneled faces fill about the middle 128 of 250 pixels, hair included.
CROP_SIDE = {"lfw_parts": 128}

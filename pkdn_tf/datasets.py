"""PKDN's real datasets as manual-download tfds builders: `celeba_dic`,
`helen` and `celebamask_hq`.

Each reads <data_dir>/downloads/manual/<name>/ and, where the split matters
for comparability, the split lists the user supplies there (train.txt,
validation.txt, test.txt: one image name per line, optionally followed by a
face box `x0 y0 x1 y1`, as DIC's *_info_list.pkl give them). Faces are
cropped to the box (or kept whole), resized to `SIZE` with PIL bicubic (the
DIC protocol) and stored with their parsing maps in BiSeNet's 19 classes
where the dataset has labels; `celeba_dic` has none (label it with
--parsing_net).
"""

import logging
import os

import numpy as np
import tensorflow_datasets as tfds
from PIL import Image

from isr_kd_tf.data import image_io

SIZE = 128
SPLITS = ("train", "validation", "test")

# CelebAMask-HQ part masks -> BiSeNet class ids (face-parsing.PyTorch, prepropess_data.py)
CELEBAMASK_PARTS = ("skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g", "l_ear", "r_ear", "ear_r", "nose",
                    "mouth", "u_lip", "l_lip", "neck", "neck_l", "cloth", "hair", "hat")
# Helen (SmithCVPR2013 labels) lbl00..lbl10 -> BiSeNet class ids
HELEN_TO_BISENET = (0, 1, 2, 3, 4, 5, 10, 12, 11, 13, 17)


def read_split_list(path):
    """[(name, box or None)] from a split list file."""
    out = []
    with open(path) as f:
        for line in f:
            parts = line.split()
            if not parts:
                continue
            box = tuple(int(float(v)) for v in parts[1:5]) if len(parts) >= 5 else None
            out.append((parts[0], box))
    return out


def crop_resize(img, box, size=SIZE, resample=Image.BICUBIC):
    """Crop to the box (clipped to the image) or keep the whole image; resize to size x size."""
    im = Image.fromarray(img)
    if box is not None:
        x0, y0, x1, y1 = box
        im = im.crop((max(0, x0), max(0, y0), min(im.width, x1), min(im.height, y1)))
    return np.asarray(im.resize((size, size), resample))


class _ListedFaces(tfds.core.GeneratorBasedBuilder):
    """Faces named in per-split lists, cropped and resized, with optional parsing maps."""

    VERSION = tfds.core.Version("1.0.0")
    IMAGE_DIR = "."           # where images lie, below the manual dir
    LISTS_REQUIRED = True
    HAS_PARSING = True

    def _info(self):
        feats = {"image": tfds.features.Image(shape=(SIZE, SIZE, 3)), "filename": tfds.features.Text()}
        if self.HAS_PARSING:
            feats["parsing"] = tfds.features.Image(shape=(SIZE, SIZE, 1))
        return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(feats),
                                              description=self.__doc__)

    def _missing(self, what):
        from isr_kd_tf.errors import UserError
        return UserError(f"{self.name}: {what}. {self.MANUAL_DOWNLOAD_INSTRUCTIONS}")

    def default_split(self, root):
        """{split: [(name, box)]} when there are no lists (only where LISTS_REQUIRED is False)."""
        raise NotImplementedError

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        if os.path.isdir(os.path.join(root, self.name)):   # tfds' manual dir is shared unless --manual_dir
            root = os.path.join(root, self.name)
        if not os.path.isdir(os.path.join(root, self.IMAGE_DIR)):
            raise self._missing(f"no {self.IMAGE_DIR}/ under {root}")
        lists = {s: os.path.join(root, f"{s}.txt") for s in SPLITS}
        if all(os.path.isfile(p) for p in lists.values()):
            entries = {s: read_split_list(p) for s, p in lists.items()}
        elif self.LISTS_REQUIRED:
            missing = [os.path.basename(p) for p in lists.values() if not os.path.isfile(p)]
            raise self._missing(f"split list(s) {', '.join(missing)} missing in {root}")
        else:
            entries = self.default_split(root)
        return {s: self._generate_examples(root, e) for s, e in entries.items()}

    def image_path(self, root, name):
        return os.path.join(root, self.IMAGE_DIR, name)

    def labels(self, root, name, shape):
        """uint8 BiSeNet label map of image `name` (full size), or None when it has none."""
        return None

    def _generate_examples(self, root, entries):
        skipped = image_io.SkipLog()
        for name, box in entries:
            path = self.image_path(root, name)
            try:
                img = image_io.read_image(path)
            except (image_io.BadImage, FileNotFoundError) as e:
                skipped.skip(path, str(e) if isinstance(e, image_io.BadImage) else "listed but not found")
                continue
            ex = {"image": crop_resize(img, box), "filename": name}
            if self.HAS_PARSING:
                lab = self.labels(root, name, img.shape[:2])
                if lab is None:
                    skipped.skip(path, "no parsing labels")
                    continue
                ex["parsing"] = crop_resize(lab, box, resample=Image.NEAREST)[..., None]
            yield name, ex
        if skipped.skipped:
            logging.warning("%s: %s", self.name, skipped.summary())


class CelebaDic(_ListedFaces):
    """CelebA faces in DIC's split (168,854 / 100 / 1,000), cropped by DIC's boxes."""

    name = "celeba_dic"
    IMAGE_DIR = "img_celeba"
    HAS_PARSING = False
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put CelebA's unaligned images in <data_dir>/downloads/manual/celeba_dic/img_celeba/ and DIC's split as "
        "train.txt / validation.txt / test.txt beside it, one 'name x0 y0 x1 y1' per line (the boxes of DIC's "
        "new_*_info_list.pkl). Its faces have no parsing maps: train the PKDN teacher with --parsing_net.")


class Helen(_ListedFaces):
    """Helen faces with their 11-class SmithCVPR2013 labels mapped to BiSeNet's classes (1,955 / 50 / 50)."""

    name = "helen"
    IMAGE_DIR = "images"
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Put Helen's images in <data_dir>/downloads/manual/helen/images/<name>.jpg, the SmithCVPR2013 labels in "
        "labels/<name>/<name>_lbl00.png ... _lbl10.png, and the split (1,955 / 50 / 50 after DIC) as "
        "train.txt / validation.txt / test.txt: one '<name>.jpg [x0 y0 x1 y1]' per line.")

    def labels(self, root, name, shape):
        stem = os.path.splitext(name)[0]
        folder = os.path.join(root, "labels", stem)
        if not os.path.isdir(folder):
            return None
        probs = np.zeros((len(HELEN_TO_BISENET),) + tuple(shape), np.float32)
        for k in range(len(HELEN_TO_BISENET)):
            p = os.path.join(folder, f"{stem}_lbl{k:02d}.png")
            if os.path.isfile(p):
                probs[k] = np.asarray(Image.open(p).convert("L").resize(shape[::-1]), np.float32)
        return np.asarray(HELEN_TO_BISENET, np.uint8)[probs.argmax(0)]


class CelebamaskHq(_ListedFaces):
    """CelebAMask-HQ: 30,000 faces with 19-class hand-drawn parsing masks."""

    name = "celebamask_hq"
    IMAGE_DIR = "CelebA-HQ-img"
    LISTS_REQUIRED = False
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Unpack CelebAMask-HQ.zip into <data_dir>/downloads/manual/celebamask_hq/ so that CelebA-HQ-img/<i>.jpg "
        "and CelebAMask-HQ-mask-anno/<folder>/<iiiii>_<part>.png lie there. Optional train.txt / validation.txt / "
        "test.txt choose the split; without them image i % 100 == 0 is test and == 1 validation.")

    def default_split(self, root):
        names = sorted(os.listdir(os.path.join(root, self.IMAGE_DIR)), key=lambda n: int(os.path.splitext(n)[0])
                       if os.path.splitext(n)[0].isdigit() else -1)
        out = {s: [] for s in SPLITS}
        for n in names:
            stem = os.path.splitext(n)[0]
            if stem.isdigit():
                out[{0: "test", 1: "validation"}.get(int(stem) % 100, "train")].append((n, None))
        return out

    def labels(self, root, name, shape):
        stem = int(os.path.splitext(name)[0])
        anno = os.path.join(root, "CelebAMask-HQ-mask-anno", str(stem // 2000))
        lab = None
        for cls, part in enumerate(CELEBAMASK_PARTS, start=1):
            p = os.path.join(anno, f"{stem:05d}_{part}.png")
            if os.path.isfile(p):
                m = np.asarray(Image.open(p).convert("L")) > 127
                lab = np.zeros(m.shape, np.uint8) if lab is None else lab
                lab[m] = cls
        if lab is None:
            return None
        return np.asarray(Image.fromarray(lab).resize(shape[::-1], Image.NEAREST))

"""ISR-KD's cartoon dataset as a manual-download tfds builder: `icartoonface` (registered on import,
which the ISR-KD method does)."""

import logging
import os
import re

import tensorflow_datasets as tfds

from isr_kd_tf.data import image_io
from isr_kd_tf.errors import UserError


ICARTOON_PATTERN = re.compile(r"personai_icartoonface_rectrain_(\d+)_(\d+)\.jpg$")


def icartoon_split(filename):
    """Held-out identities: id % 50 == 0 is test, == 1 validation (~2% each)."""
    ident = int(ICARTOON_PATTERN.search(filename).group(1))
    return {0: "test", 1: "validation"}.get(ident % 50, "train")


class ICartoonFace(tfds.core.GeneratorBasedBuilder):
    """iCartoonFace recognition-track training images (manual download)."""

    name = "icartoonface"

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Download the iCartoonFace recognition training set "
        "(personai_icartoonface_rectrain.zip) from the iCartoonFace authors and "
        "unpack it so that files named personai_icartoonface_rectrain_XXXXX_YYYYYYY.jpg "
        "lie anywhere below <data_dir>/downloads/manual/icartoonface/ "
        "(or pass --manual_dir).")

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(None, None, 3)),
                "filename": tfds.features.Text(),
            }),
            description=__doc__)

    def _split_generators(self, dl_manager):
        root = os.fspath(dl_manager.manual_dir)
        files = [p for p in image_io.list_images(root) if ICARTOON_PATTERN.search(p)] if os.path.isdir(root) else []
        if not files:
            raise UserError(f"icartoonface: no personai_icartoonface_rectrain_*.jpg files under {root}. "
                            + self.MANUAL_DOWNLOAD_INSTRUCTIONS)
        by_split = {"train": [], "validation": [], "test": []}
        for p in files:
            by_split[icartoon_split(os.path.basename(p))].append(p)
        return {k: self._generate_examples(v) for k, v in by_split.items()}

    def _generate_examples(self, paths):
        skipped = image_io.SkipLog()
        for p in paths:
            try:
                img = image_io.read_image(p)
            except image_io.BadImage as e:
                skipped.skip(p, str(e))
                continue
            name = os.path.basename(p)
            yield name, {"image": img, "filename": name}
        if skipped.skipped:
            logging.warning("icartoonface: %s", skipped.summary())

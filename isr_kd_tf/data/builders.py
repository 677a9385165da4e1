"""tfds builders of the two bundled face domains, generated here, offline.

Importing this module registers `synthetic_faces` and `avatar_faces` with tfds.
"""

import dataclasses
import os
import pickle
import subprocess
import sys
import tempfile

import tensorflow_datasets as tfds

from isr_kd_tf.data import avatar_faces, synthetic_faces
from isr_kd_tf.errors import UserError

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "render_worker.py")

# Disjoint seed ranges per split, so no split ever shares a face.
_SPLIT_SEED_OFFSET = {"train": 0, "validation": 10_000_000, "test": 20_000_000}


@dataclasses.dataclass
class SizedConfig(tfds.core.BuilderConfig):
    train: int = 1000
    validation: int = 100
    test: int = 200


_SIZES = [
    SizedConfig(name="default", description="1000 / 100 / 200 images."),
    SizedConfig(name="large", description="5000 / 100 / 500 images.", train=5000, test=500),
    SizedConfig(name="tiny", description="For tests: 24 / 8 / 8 images.", train=24, validation=8, test=8),
]


CHUNK = 64                 # seeds per worker process


def _chunk_timeout(n):
    """Seconds a worker may take for n faces (a face takes well under a second) before it is stopped."""
    return 120 + 10 * n


def _start(fn, seeds, folder, i):
    out = os.path.join(folder, f"chunk{i}.pkl")
    cmd = [sys.executable, WORKER, sys.modules[fn.__module__].__file__, fn.__name__, out, *map(str, seeds)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1", "OPENCV_FOR_THREADS_NUM": "1"})
    return proc, out, len(seeds)


def _collect(proc, out, n):
    """The chunk's results; a worker that dies or hangs ends the build with one line, never a hang."""
    try:
        _, err = proc.communicate(timeout=_chunk_timeout(n))
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise UserError(f"a face-rendering worker took over {_chunk_timeout(n)} s for {n} faces and was stopped; "
                        "run the same command again") from None
    if proc.returncode != 0:
        last = (err or "").strip().splitlines()[-1:] or [f"exit status {proc.returncode}"]
        raise UserError(f"a face-rendering worker died ({last[0]}); nothing was written, run the same command again")
    with open(out, "rb") as f:
        return pickle.load(f)


def _render_all(fn, seeds, workers):
    """Yields fn(seed) in order, on `workers` child processes.

    Children run render_worker.py on fn's module file: fresh interpreters
    that neither fork TensorFlow's threads (which deadlocks) nor import the
    caller's __main__ (which re-runs a script without a main guard).
    """
    if workers <= 1 or len(seeds) < 16:
        for s in seeds:
            yield fn(s)
        return
    chunks = [seeds[i:i + CHUNK] for i in range(0, len(seeds), CHUNK)]
    with tempfile.TemporaryDirectory(prefix="render_") as folder:
        running = []
        try:
            for i, chunk in enumerate(chunks):
                if len(running) == workers:
                    yield from _collect(*running.pop(0))
                running.append(_start(fn, chunk, folder, i))
            while running:
                yield from _collect(*running.pop(0))
        finally:
            for proc, _, _ in running:
                proc.kill()
                proc.wait()


class _RenderedFaces(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """A bundled domain: each example is rendered from its seed, offline."""

    VERSION = tfds.core.Version("1.0.0")
    BUILDER_CONFIGS = _SIZES
    PREFIX = ""

    @staticmethod
    def render(seed):
        raise NotImplementedError

    def features(self):
        raise NotImplementedError

    def to_example(self, rendered):
        raise NotImplementedError

    def _info(self):
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict({**self.features(), "filename": tfds.features.Text()}),
            description=self.__doc__)

    def _split_generators(self, dl_manager):
        cfg = self.builder_config
        return {split: self._generate_examples(split, getattr(cfg, split))
                for split in ("train", "validation", "test")}

    def _generate_examples(self, split, n):
        seeds = [_SPLIT_SEED_OFFSET[split] + i for i in range(n)]
        for i, rendered in enumerate(_render_all(self.render, seeds, os.cpu_count() or 1)):
            name = f"{self.PREFIX}_{split}_{i:06d}.png"
            yield name, {**self.to_example(rendered), "filename": name}


class SyntheticFaces(_RenderedFaces):
    """Photo-like real-face stand-in with exact 19-class parsing maps."""

    PREFIX = "synthetic"
    render = staticmethod(synthetic_faces.render_face)

    def features(self):
        h, w = synthetic_faces.HEIGHT, synthetic_faces.WIDTH
        return {"image": tfds.features.Image(shape=(h, w, 3)),
                "parsing": tfds.features.Image(shape=(h, w, 1))}

    def to_example(self, rendered):
        img, lab = rendered
        return {"image": img, "parsing": lab[..., None]}


class AvatarFaces(_RenderedFaces):
    """Cartoon faces from python-avatars, rasterised with resvg."""

    PREFIX = "avatar"
    render = staticmethod(avatar_faces.render_avatar)

    def features(self):
        return {"image": tfds.features.Image(shape=(avatar_faces.SIZE, avatar_faces.SIZE, 3))}

    def to_example(self, rendered):
        return {"image": rendered}


BUNDLED = ("synthetic_faces", "avatar_faces")

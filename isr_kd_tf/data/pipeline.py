"""Training and evaluation pipelines: crop, resize, augment, degrade, then the method's batch features.

Per example only what depends on the image size runs (square centre crop,
resize to HR); the rest runs per batch, vectorised, with stateless random
ops seeded by (seed, batch index), so the same seed gives the same batches
and a resumed run can start at any batch.
"""

import dataclasses
import os

import numpy as np
import tensorflow as tf

from isr_kd_tf.config import RunConfig
from isr_kd_tf.data import degradation, real_faces, sources
from isr_kd_tf.data.sources import without_autograph
from isr_kd_tf.errors import UserError

SOURCE, TARGET = 0, 1  # domain ids carried by every element


@dataclasses.dataclass
class PipelineConfig:
    """The pipeline every method shares, and the method's own parts.

    The shared settings (HR size, scale, degradation, augmentation) are the
    run's own (`run`, a config.RunConfig), never declared twice; a run builds
    it with `from_settings`, which adds the method's `features`,
    `whole_image_sets` and `source_step`."""
    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    crop_size: int = 178           # CelebA-aligned crop: rows 20..197 of 218x178
    noise_sigma: float = 0.0
    shuffle_buffer: int = 2048
    features: object = None        # batch -> {name: tensor}: the method's fields, per batch after the degradation
    whole_image_sets: tuple = ()   # datasets resized whole, never centre-cropped
    source_step: object = None     # (dataset, name, split) -> dataset: the method's step on every loaded set

    @classmethod
    def from_settings(cls, s):
        """A run's pipeline (s: config.Settings): the run's shared settings and its method's parts."""
        m = s.method
        return cls(run=s.run, features=m.batch_features(s), whole_image_sets=m.whole_image_sets,
                   source_step=m.source_step(s))

    hr_size = property(lambda self: self.run.hr_size)
    scale = property(lambda self: self.run.scale)
    degradation = property(lambda self: self.run.degradation)
    flip = property(lambda self: self.run.augment)          # horizontal flip, p = 0.5
    rotate = property(lambda self: self.run.augment)        # rot90 by k = 1, 2, 3 with probability rotate_prob
    rotate_prob = property(lambda self: self.run.rotate_prob)

    def crops(self, name):
        """Whether a dataset's images get the square centre crop."""
        return name.split("/")[0] not in self.whole_image_sets

    def crop_side(self, name):
        """The side of a dataset's square centre crop (0: resized whole): crop_size, or the set's own."""
        if not self.crops(name):
            return 0
        return real_faces.CROP_SIDE.get(name.split("/")[0], self.crop_size)


def prepare(example, cfg, domain, crop=True):
    """Square centre crop (side min(crop, H, W); crop=True: cfg.crop_size) and resize to HR.

    crop=False or 0 resizes the whole image (PipelineConfig.whole_image_sets;
    the default crop is CelebA's alignment).
    """
    img = example["image"]
    shape = tf.shape(img)
    limit = cfg.crop_size if crop is True else int(crop)
    crop = bool(crop)
    side = tf.minimum(tf.minimum(shape[0], shape[1]), max(limit, 1))
    top, left = ((shape[0] - side) // 2, (shape[1] - side) // 2) if crop else (0, 0)
    bottom, right = (top + side, left + side) if crop else (shape[0], shape[1])
    size = [cfg.hr_size, cfg.hr_size]
    crop = img[top:bottom, left:right]
    hr = tf.image.resize(tf.cast(crop, tf.float32), size, method="bilinear")
    out = {"hr": tf.cast(tf.clip_by_value(tf.round(hr), 0, 255), tf.uint8),
           "domain": tf.constant(domain, tf.int32)}
    if "parsing" in example:
        p = example["parsing"][top:bottom, left:right][..., None]
        out["parsing"] = tf.image.resize(p, size, method="nearest")[..., 0]
    return out


def augment(batch, seed, flip=True, rotate=True, rotate_prob=0.5):
    """Flip (p = 0.5), then rot90 by k = 1, 2, 3 (uniformly) with `rotate_prob`; HR and parsing move together."""
    hr = batch["hr"]
    n = tf.shape(hr)[0]
    u = tf.random.stateless_uniform([3, n], seed)
    flip = (u[0] < 0.5) & flip
    k = tf.where((u[1] >= rotate_prob) | (not rotate), 0, 1 + tf.cast(tf.minimum(u[2] * 3, 2.0), tf.int32))

    def apply(x):
        x = x if x.shape.rank == 4 else x[..., None]
        x = tf.where(flip[:, None, None, None], tf.reverse(x, [2]), x)
        rots = tf.stack([x, tf.image.rot90(x, 1), tf.image.rot90(x, 2), tf.image.rot90(x, 3)])
        return tf.gather_nd(rots, tf.stack([k, tf.range(n)], 1))

    out = dict(batch)
    out["hr"] = apply(hr)
    if "parsing" in batch:
        out["parsing"] = apply(batch["parsing"])[..., 0]
    return out


def finish(batch, cfg, seed=None, rows=None):
    """Float HR, degraded LR and the method's features (cfg.features) for a batch.

    rows=(start, stop): only those rows of `batch` are finished, with the
    random draws the whole batch gets, so that the shares of one global
    batch finished by several workers put together equal the whole.
    """
    if seed is not None and (cfg.flip or cfg.rotate):
        batch = augment(batch, seed, cfg.flip, cfg.rotate, cfg.rotate_prob)
    full = None
    if rows is not None:
        full = tf.shape(batch["hr"])[0]
        batch = {k: v[rows[0]:rows[1]] for k, v in batch.items()}
    out = dict(batch)
    hr = tf.cast(batch["hr"], tf.float32)
    out["hr"] = hr
    noise_seed = None if seed is None else seed + tf.constant([0, 1], seed.dtype)
    out["lr"] = degradation.degrade(hr, cfg.scale, cfg.degradation, cfg.noise_sigma, noise_seed,
                                    rows=None if rows is None else (rows[0], rows[1], full))
    if cfg.features is not None:
        out.update(cfg.features(out))
    return out


def _load(name, split, cfg, data_dir, skip_log=None):
    """sources.load, then the method's step on it (cfg.source_step).

    Folder images under half the HR size are skipped and named: upscaled,
    they would teach the network blur.
    """
    ds = sources.load(name, split, data_dir, min_side=cfg.hr_size // 2, skip_log=skip_log)
    return ds if cfg.source_step is None else cfg.source_step(ds, name, split)


def _check_count(name, split, n, available, flag):
    if n > available:
        raise UserError(f"{flag}={n} but {name} {split} has only {available} images; "
                        f"lower {flag} or use a larger set")


def select(ds, name, split, n, seed, list_path=None, data_dir=None):
    """Exactly `n` examples drawn without replacement with `seed`.

    The chosen examples are written to `list_path` (index<TAB>key per line)
    so that a run's data can be audited.
    """
    all_keys = sources.keys(name, split, data_dir)
    _check_count(name, split, n, len(all_keys), "count")
    idx = np.sort(np.random.default_rng(seed).choice(len(all_keys), n, replace=False))
    if list_path:
        os.makedirs(os.path.dirname(list_path) or ".", exist_ok=True)
        tmp = list_path + ".tmp"
        with open(tmp, "w") as f:
            f.writelines(f"{i}\t{all_keys[i]}\n" for i in idx)
        os.replace(tmp, list_path)
    if n == len(all_keys):
        return ds
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(tf.constant(idx, tf.int64), tf.ones([n], tf.int64)), 0)

    def chosen(i, _):
        return table.lookup(i) > 0

    def drop_index(_, example):
        return example

    return ds.enumerate().filter(without_autograph(chosen)).map(without_autograph(drop_index))


@dataclasses.dataclass
class DomainSpec:
    """One source of training images: a dataset, its domain and how many."""
    name: str
    domain: int
    count: int = 0                # 0 = the whole split
    split: str = "train"


def training_dataset(specs, cfg, batch_size, seed, data_dir=None, list_dir=None, start_batch=0, share=None,
                     skip_log=None):
    """Infinite, seeded stream of finished batches mixing `specs` by their counts.

    skip_log (image_io.SkipLog): where folder images that cannot be used are named, for the summary.

    share=(first row, rows, rows per replica): this worker's part of every
    batch of `batch_size` (the global batch), as consecutive per-replica
    batches; every worker draws the same global batches.
    """
    streams, weights = [], []
    keep_parsing = True
    parts = []
    for i, spec in enumerate(specs):
        ds = _load(spec.name, spec.split, cfg, data_dir, skip_log)
        n = spec.count or sources.num_examples(spec.name, spec.split, data_dir)
        if spec.count:
            list_path = os.path.join(list_dir, f"{spec.name.replace('/', '_').replace(':', '_')}_{spec.split}.txt") if list_dir else None
            ds = select(ds, spec.name, spec.split, spec.count, seed + i, list_path, data_dir)
        keep_parsing &= "parsing" in ds.element_spec
        parts.append((ds, spec, n))
    for ds, spec, n in parts:
        ds = ds.map(without_autograph(lambda ex, d=spec.domain, c=cfg.crop_side(spec.name): prepare(ex, cfg, d, c)),
                    num_parallel_calls=tf.data.AUTOTUNE)
        if not keep_parsing:
            ds = ds.map(without_autograph(lambda ex: {k: v for k, v in ex.items() if k != "parsing"}))
        ds = ds.cache().shuffle(min(cfg.shuffle_buffer, n), seed=seed, reshuffle_each_iteration=True).repeat()
        streams.append(ds)
        weights.append(float(n))
    if not streams:
        raise UserError("no training data: give at least one dataset")
    if len(streams) == 1:
        ds = streams[0]
    else:
        total = sum(weights)
        ds = tf.data.Dataset.sample_from_datasets(streams, [w / total for w in weights], seed=seed)
    ds = ds.batch(batch_size, drop_remainder=True)
    ds = ds.enumerate(start=0).skip(start_batch)
    rows = None if share is None else (share[0], share[0] + share[1])
    ds = ds.map(without_autograph(lambda i, b: finish(b, cfg, tf.stack([tf.cast(seed, tf.int64), i]), rows)),
                num_parallel_calls=tf.data.AUTOTUNE)
    if share is not None and share[2] != share[1]:
        ds = ds.unbatch().batch(share[2], drop_remainder=True)
    return ds.prefetch(tf.data.AUTOTUNE)


def eval_dataset(name, split, domain, cfg, batch_size, data_dir=None, limit=0):
    """Finished batches of a split in a fixed order, without augmentation."""
    ds = _load(name, split, cfg, data_dir)
    if limit:
        ds = ds.take(limit)
    ds = ds.map(without_autograph(lambda ex: prepare(ex, cfg, domain, cfg.crop_side(name))),
                num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size)
    ds = ds.map(without_autograph(lambda b: finish(b, cfg)), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)

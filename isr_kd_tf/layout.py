"""The work directory's layout: the one module that spells its names.

    <workdir>/config.json              the run's settings (evaluate, export and infer rebuild models from it)
    <workdir>/results.json, results.md the test table
    <workdir>/samples.png              LR | bicubic | models | HR
    <workdir>/tensorboard/<stage>/     every loss term, validation, pictures
    <workdir>/lists/<stage>/           the exact examples of each domain mix
    <workdir>/<stage>/checkpoints/     the stage's networks, optimizers and step (resumable)
    <workdir>/<stage>/model.weights.h5 the finished stage's network
    <workdir>/<stage>/DONE             the stage finished ({"steps": N})
    <workdir>/landmarks.json           the face template of its training crops (zoo entries; infer --faces)

A SavedModel export keeps the run's settings and face template in <export>/assets.extra/.
"""

import json
import os

from isr_kd_tf.errors import UserError

CONFIG = "config.json"
RESULTS = "results.json"
RESULTS_MD = "results.md"
SAMPLES = "samples.png"
CHECKPOINTS = "checkpoints"
WEIGHTS = "model.weights.h5"
DONE = "DONE"
EXPORT_ASSETS = "assets.extra"
LANDMARKS = "landmarks.json"


def config(workdir):
    return os.path.join(workdir, CONFIG)


def export_assets(export_dir):
    return os.path.join(export_dir, EXPORT_ASSETS)


def export_config(export_dir):
    return os.path.join(export_assets(export_dir), CONFIG)


def landmarks(folder):
    """A model's face template: beside a work directory's config, or among an export's assets."""
    return os.path.join(folder, LANDMARKS)


def results(workdir):
    return os.path.join(workdir, RESULTS)


def results_md(workdir):
    return os.path.join(workdir, RESULTS_MD)


def samples(workdir):
    return os.path.join(workdir, SAMPLES)


def tensorboard(workdir, stage=""):
    return os.path.join(workdir, "tensorboard", *([stage] if stage else []))


def lists(workdir, stage):
    return os.path.join(workdir, "lists", stage)


def stage_dir(workdir, stage):
    return os.path.join(workdir, stage)


def checkpoints(stage_path):
    """A stage folder's checkpoint folder."""
    return os.path.join(stage_path, CHECKPOINTS)


def weights(stage_path):
    return os.path.join(stage_path, WEIGHTS)


def done_file(stage_path):
    return os.path.join(stage_path, DONE)


def latest_checkpoint(stage_path):
    """The newest checkpoint prefix of a stage folder, or None."""
    import tensorflow as tf
    return tf.train.latest_checkpoint(checkpoints(stage_path))


def is_done(stage_path):
    return os.path.exists(done_file(stage_path))


def mark_done(stage_path, total):
    tmp = done_file(stage_path) + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"steps": total}, f)
    os.replace(tmp, done_file(stage_path))


def done_record(stage_path):
    """What a finished stage's DONE holds ({"steps": N})."""
    with open(done_file(stage_path)) as f:
        return json.load(f)


def done_steps(stage_path):
    return done_record(stage_path)["steps"]


def find_weights(path, stage):
    """A finished stage's weights file from a workdir, a stage dir or the file itself."""
    candidates = [path] if path.endswith(".h5") else [weights(path), weights(stage_dir(path, stage))]
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise UserError(f"--init_from={path}: no finished {stage} there (looked for {', '.join(candidates)}); "
                    f"point it at a work directory whose {stage} stage has finished")


def newest_checkpoint_behind(path, stage):
    """The newest training checkpoint of `stage` behind a workdir or stage dir (None for a bare weights file)."""
    if path.endswith(".h5"):
        return None
    for d in (path, stage_dir(path, stage)):
        latest = latest_checkpoint(d)
        if latest:
            return latest
    return None

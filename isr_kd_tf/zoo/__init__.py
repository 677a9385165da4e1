"""Networks trained on the bundled domains that ship inside the package (the model zoo).

An entry is a trimmed work directory: the run's config.json, its stage's
finished weights and newest checkpoint (every network and optimizer state
the stage had), and recipe.json (the command that made it, its seed, steps,
training time and test results). `zoo:NAME` stands for that folder wherever
a run is asked for: --init_from of training, --workdir of evaluate and
export. Entries are made by a flagfile in flags/zoo/ and

    python -m isr_kd_tf.train --flagfile=flags/zoo/NAME.cfg
    python -m isr_kd_tf.zoo --add=runs/zoo/NAME

and are never trained on a test split (the training pipeline reads only
`train`).
"""

import json
import os
import shutil

from isr_kd_tf import layout
from isr_kd_tf.errors import UserError

PREFIX = "zoo:"
FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights")
RECIPE = "recipe.json"


def names(folder=FOLDER):
    """The entries present, sorted."""
    if not os.path.isdir(folder):
        return []
    return sorted(n for n in os.listdir(folder) if os.path.isfile(os.path.join(folder, n, RECIPE)))


def is_name(path):
    return isinstance(path, str) and path.startswith(PREFIX)


def resolve(path, folder=FOLDER):
    """The folder of `zoo:NAME`; any other path unchanged."""
    if not is_name(path):
        return path
    name = path[len(PREFIX):]
    if name not in names(folder):
        raise UserError(f"{path}: no such zoo entry; the zoo has {', '.join(names(folder)) or 'nothing'} "
                        "(python -m isr_kd_tf.zoo lists them)")
    return os.path.join(folder, name)


def recipe(name, folder=FOLDER):
    with open(os.path.join(resolve(PREFIX + name, folder), RECIPE)) as f:
        return json.load(f)


def _stage_files(workdir, stage):
    """The finished stage's weights, DONE and the files of its newest checkpoint."""
    stage_dir = layout.stage_dir(workdir, stage)
    if not layout.is_done(stage_dir):
        raise UserError(f"{stage_dir} has not finished (no {layout.DONE}); run its training to the end first")
    latest = layout.latest_checkpoint(stage_dir)
    if latest is None:
        raise UserError(f"{layout.checkpoints(stage_dir)} has no checkpoint")
    ckpt_files = [os.path.join(layout.CHECKPOINTS, f) for f in os.listdir(os.path.dirname(latest))
                  if f.startswith(os.path.basename(latest) + ".")]
    return stage_dir, [layout.DONE, layout.WEIGHTS, *ckpt_files], os.path.basename(latest)


def add(workdir, name="", folder=FOLDER):
    """Copies a finished run into the zoo as `name` (default: the work directory's name); returns its folder."""
    path = layout.config(workdir)
    if not os.path.isfile(path):
        raise UserError(f"--add={workdir} is not a training work directory (no {layout.CONFIG})")
    with open(path) as f:
        settings = json.load(f)
    run = settings["run"]
    name = name or os.path.basename(os.path.normpath(workdir))
    if not os.path.isfile(layout.results(workdir)):
        raise UserError(f"--add={workdir} has no {layout.RESULTS}: run its training to the end first")
    with open(layout.results(workdir)) as f:
        results = json.load(f)
    out = os.path.join(folder, name)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    stages = {}
    for stage in run["stages"]:
        stage_dir, files, ckpt = _stage_files(workdir, stage)
        for f in files:
            os.makedirs(os.path.join(tmp, stage, os.path.dirname(f)), exist_ok=True)
            shutil.copy2(os.path.join(stage_dir, f), os.path.join(tmp, stage, f))
        with open(os.path.join(layout.checkpoints(layout.stage_dir(tmp, stage)), "checkpoint"), "w") as f:
            f.write(f'model_checkpoint_path: "{ckpt}"\nall_model_checkpoint_paths: "{ckpt}"\n')
        stages[stage] = layout.done_record(stage_dir)
    run.update(workdir=PREFIX + name, data_dir="", real_data_dir="")     # nothing of this machine's paths
    with open(layout.config(tmp), "w") as f:
        json.dump(settings, f, indent=2)
    minutes = _training_minutes(workdir)
    info = {"name": name, "method": run["method"], "stages": stages, "seed": run["seed"],
            "deterministic": run["deterministic"], "training_minutes": minutes,
            "recipe": [f"python -m isr_kd_tf.train --flagfile=flags/zoo/{name}.cfg",
                       f"python -m isr_kd_tf.zoo --add=runs/zoo/{name}"],
            "results": results.get("rows", [])}
    with open(os.path.join(tmp, RECIPE), "w") as f:
        json.dump(info, f, indent=2)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
    return out


def _training_minutes(workdir):
    """Wall time of the run's training, from the first to the last TensorBoard event of its stages."""
    import tensorflow as tf
    from tensorflow.core.util import event_pb2
    times = []
    for root, _, files in os.walk(layout.tensorboard(workdir)):
        for f in files:
            if f.startswith("events.out.tfevents."):
                for record in tf.data.TFRecordDataset(os.path.join(root, f)):
                    times.append(event_pb2.Event.FromString(record.numpy()).wall_time)
    return round((max(times) - min(times)) / 60, 1) if times else None

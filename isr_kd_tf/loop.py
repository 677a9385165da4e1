"""The training loop both papers share: resume, steps, TensorBoard, checkpoints.

A stage is a trainer (a keras.Model whose train_step returns this step's loss
terms as a dict; no Keras metric objects, whose lazy variables would make
tf.function trace the step twice)
plus the objects to checkpoint. `fit` resumes from the stage's newest
checkpoint, runs to `total` steps, stops on a non-finite loss before saving
anything, and marks the stage DONE.
"""

import glob
import logging
import math
import os
import shutil
import sys
import time

import keras
import tensorflow as tf

from isr_kd_tf import data, layout
from isr_kd_tf.data import image_io
from isr_kd_tf.methods import model_variables
from isr_kd_tf.cluster import Cluster, lost_worker_is_user_error
from isr_kd_tf.errors import UserError


class NonFiniteLoss(UserError):
    pass


def check_finite(logs, step):
    for k, v in logs.items():
        if not math.isfinite(float(v)):
            raise NonFiniteLoss(f"loss term {k!r} is {float(v)} at step {step}; stopped, the last checkpoint "
                                "is untouched (lower --learning_rate or check the data)")


def distributed_step(strategy, trainer):
    """train_step on every replica, exactly the single-device step.

    The batch's sample counts per loss mask are summed across replicas first,
    so each replica reports (and differentiates) its share of the whole
    batch's means; the logs are then summed.
    """
    if strategy.num_replicas_in_sync == 1 and not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
        return trainer.train_step
    invariant = trainer.replica_invariant_logs
    total = tf.distribute.ReduceOp.SUM

    def step(batch):
        local = strategy.run(trainer.batch_counts, args=(batch,))
        counts = {k: strategy.reduce(total, v, axis=None) for k, v in local.items()}
        logs = strategy.run(trainer.train_step, args=(batch, counts))
        return {k: strategy.reduce(tf.distribute.ReduceOp.MEAN if k in invariant else total, v, axis=None)
                for k, v in logs.items()}
    return step


def local_batch(strategy, batch):
    """The first replica's part of a (possibly distributed) batch, for pictures."""
    if strategy.num_replicas_in_sync == 1:
        return batch
    return tf.nest.map_structure(lambda v: strategy.experimental_local_results(v)[0], batch)


def stage_steps(cfg, specs):
    """(steps per epoch, total steps) of a stage training on `specs`."""
    n_images = sum(s.count or data.num_examples(s.name, s.split, cfg.data_dir or None) for s in specs)
    per_epoch = cfg.steps_per_epoch or max(1, n_images // cfg.batch_size)
    return per_epoch, per_epoch * cfg.epochs


def restore_newest_readable(ckpt, manager):
    """Restores the newest checkpoint that reads back whole; a corrupt or truncated one
    is passed over with a warning that names it. Returns its path (None: fresh start)."""
    for path in reversed(manager.checkpoints):
        try:
            ckpt.restore(path).assert_existing_objects_matched()
            return path
        except Exception as e:  # noqa: BLE001 - a damaged file fails in many ways (OpError, IndexError, ...)
            msg = f"checkpoint {path} is corrupt or truncated ({type(e).__name__}); falling back to the previous one"
            logging.warning(msg)
            print(f"warning: {msg}", file=sys.stderr, flush=True)
    if manager.checkpoints:
        raise UserError(f"no readable checkpoint in {manager.directory}; move that folder away to start the stage over")
    return None


def purge_events_after(logdir, step):
    """Drops TensorBoard events after `step`: a killed run logged them after its last
    checkpoint and logs them again when it resumes (no duplicate steps, no gap)."""
    from tensorflow.core.util import event_pb2
    for path in glob.glob(os.path.join(logdir, "events.out.tfevents.*")):
        kept, dropped = [], 0
        try:
            for record in tf.data.TFRecordDataset(path):
                event = event_pb2.Event.FromString(record.numpy())
                if event.step > step:
                    dropped += 1
                else:
                    kept.append(record.numpy())
        except tf.errors.DataLossError:   # the kill cut the last record short
            dropped += 1
        if dropped:
            with tf.io.TFRecordWriter(path + ".tmp") as w:
                for record in kept:
                    w.write(record)
            os.replace(path + ".tmp", path)


def _remove_partial_saves(directory):
    """The temporary folders of a checkpoint save that was killed or failed half-way."""
    for tmp in glob.glob(os.path.join(directory, "*_temp*")):
        shutil.rmtree(tmp, ignore_errors=True)


def save_checkpoint(manager, ckpt, cluster, ckpt_dir, number):
    """The chief's manager.save (the others write to a temporary folder, TensorFlow's multi-worker
    convention, and remove it), or one line saying what failed and that the previous checkpoint is intact."""
    if not cluster.is_chief:
        ckpt.write(os.path.join(cluster.write_dir(ckpt_dir), f"ckpt-{number}"))
        cluster.remove_temporary(ckpt_dir)
        return None
    if manager.latest_checkpoint and manager.latest_checkpoint.endswith(f"-{number}"):
        return manager.latest_checkpoint
    try:
        return manager.save(checkpoint_number=number)
    except (OSError, tf.errors.OpError) as e:
        _remove_partial_saves(manager.directory)
        raise UserError(f"could not write the step-{number} checkpoint in {manager.directory} "
                        f"({getattr(e, 'strerror', None) or getattr(e, 'message', None) or e}); "
                        f"the last complete one, {manager.latest_checkpoint}, is intact: free space or fix the "
                        "folder and run the same command again") from None


def write_flags(writer, s):
    """The run's settings and the method's (config.Settings) as a TensorBoard text summary (once per stage)."""
    rows = "\n".join(f"| {k} | {v} |" for part in s.as_dict().values() for k, v in part.items())
    with writer.as_default(step=0):
        tf.summary.text("flags", "| flag | value |\n|---|---|\n" + rows)


class StageCheckpoints:
    """The stage's step counter and objects in one checkpoint: restore the newest readable one
    (the chief's, on every worker) and save every --checkpoint_every steps."""

    def __init__(self, cfg, stage_dir, objects, cluster):
        self.cluster = cluster
        self.step = tf.Variable(0, dtype=tf.int64, name="step")
        self.ckpt = tf.train.Checkpoint(step=self.step, **{k: model_variables(v) if isinstance(v, keras.Model) else v
                                                           for k, v in objects.items()})
        self.dir = layout.checkpoints(stage_dir)
        self.manager = None
        if cluster.is_chief:
            _remove_partial_saves(self.dir)
            try:
                self.manager = tf.train.CheckpointManager(self.ckpt, self.dir, cfg.keep_checkpoints)
            except Exception as e:  # noqa: BLE001 - a damaged state file; say which
                raise UserError(f"{self.dir}/checkpoint is unreadable ({type(e).__name__}); delete it to fall back "
                                "to the checkpoint files themselves, or move the folder away to start over") from None

    def resume(self, stage):
        """Restores the newest checkpoint; returns the step it holds (0: a fresh start)."""
        cluster = self.cluster
        restored = restore_newest_readable(self.ckpt, self.manager) if cluster.is_chief else None
        restored = cluster.chief_value(f"{stage}/restored", restored)
        if restored and not cluster.is_chief:
            try:
                self.ckpt.restore(restored).assert_existing_objects_matched()
            except Exception as e:  # noqa: BLE001 - missing or unreadable here, whatever the cause
                raise UserError(f"{cluster.name} cannot read the chief's checkpoint {restored} ({type(e).__name__}): "
                                "--workdir must be a folder every worker shares") from None
        if restored and cluster.is_chief:
            print(f"resuming stage {stage} at step {int(self.step.numpy())} from {restored}", flush=True)
        return int(self.step.numpy())

    def save(self, number):
        self.step.assign(number)
        save_checkpoint(self.manager, self.ckpt, self.cluster, self.dir, number)


class StageLog:
    """TensorBoard for one stage (the chief's; the others write nothing): settings once, then every
    --log_every steps the loss terms, learning rates, step time, a picture and validation."""

    def __init__(self, s, stage, start, cluster, optimizers, grid_fn=None, validate_fn=None):
        cfg = s.run
        self.cfg, self.optimizers, self.grid_fn, self.validate_fn = cfg, optimizers, grid_fn, validate_fn
        self.chief = cluster.is_chief
        logdir = layout.tensorboard(cfg.workdir, stage)
        if self.chief:
            purge_events_after(logdir, start)
        self.writer = tf.summary.create_file_writer(logdir) if self.chief else tf.summary.create_noop_writer()
        if start == 0:
            write_flags(self.writer, s)
        self.clock = []

    def seconds_per_step(self):
        """Mean wall time of the steps after the first (which traces), or None."""
        c = self.clock
        return (c[-1] - c[0]) / (len(c) - 1) if len(c) > 1 else None

    def step(self, number, total, logs, batch):
        self.clock.append(time.perf_counter())
        if not self.chief or (number % self.cfg.log_every and number != total):
            return
        with self.writer.as_default(step=number):
            for k, v in logs.items():
                tf.summary.scalar(f"loss/{k}", v)
            for name, opt in self.optimizers.items():
                inner = getattr(opt, "inner_optimizer", opt)
                tf.summary.scalar(f"lr/{name}", inner.scheduled_learning_rate()
                                  if hasattr(inner, "scheduled_learning_rate") else float(opt.learning_rate))
            if self.seconds_per_step() is not None:
                tf.summary.scalar("perf/seconds_per_step", self.seconds_per_step())
            if self.grid_fn is not None:
                tf.summary.image("samples", self.grid_fn(batch())[None])
            if self.validate_fn is not None:
                for k, v in self.validate_fn().items():
                    tf.summary.scalar(f"validation/{k}", v)
        self.writer.flush()

    def close(self):
        self.writer.close()


def compiled_step(cfg, strategy, trainer):
    """The distributed train step as one graph (autograph off: steps are plain TensorFlow, and
    converting them only cost start-up time)."""
    return tf.function(distributed_step(strategy, trainer), jit_compile=uses_xla(cfg.jit), reduce_retracing=True,
                       autograph=False)


def uses_xla(jit):
    """--jit: on, off, or auto (on only where a GPU is present)."""
    return {"on": True, "off": False}.get(jit, bool(tf.config.list_physical_devices("GPU")))


def fit(s, stage, training, total, validate_fn=None, cluster=None):
    """Trains a method's `training` (methods.Training) for `stage` on the method's domains until `total`
    steps, under the settings `s` (config.Settings); resumable.

    Everything in training.checkpoint() is saved every --checkpoint_every steps; training.grid's picture
    and validate_fn() -> {name: value} go to TensorBoard every --log_every steps, on the chief.
    cluster (isr_kd_tf.cluster.Cluster): every worker runs this; only the chief writes the stage's
    folder, the others resume from the chief's checkpoint.
    """
    cfg, trainer = s.run, training.trainer
    specs, pipeline_cfg = s.method.domains(s, stage), data.PipelineConfig.from_settings(s)
    cluster = cluster or Cluster(tf.distribute.get_strategy())
    stage_dir = layout.stage_dir(cfg.workdir, stage)
    if cluster.is_chief:
        os.makedirs(stage_dir, exist_ok=True)
    checkpoints = StageCheckpoints(cfg, stage_dir, training.checkpoint(), cluster)
    start = checkpoints.resume(stage)
    log = StageLog(s, stage, start, cluster, trainer.optimizers(), training.grid, validate_fn)
    progress_keys = training.progress_keys
    strategy = cluster.strategy
    list_dir = layout.lists(cfg.workdir, stage) if cluster.is_chief else None
    skipped = image_io.SkipLog()      # this stage's own: a process may run several trainings
    ds = cluster.distribute(lambda share: data.training_dataset(
        specs, pipeline_cfg, cfg.batch_size, cfg.seed, cfg.data_dir or None, list_dir=list_dir,
        start_batch=start, share=share, skip_log=skipped), cfg.batch_size)
    train_fn = compiled_step(cfg, strategy, trainer)
    progbar = keras.utils.Progbar(total, verbose=cfg.verbose if cluster.is_chief else 0)
    progbar.update(start)
    it = iter(ds)
    for step in range(start, total):
        with lost_worker_is_user_error(cluster, f"training step {step + 1} of stage {stage}"):
            batch = next(it)
            logs = {k: float(v) for k, v in train_fn(batch).items()}
        check_finite(logs, step + 1)
        progbar.update(step + 1, [(k, logs[k]) for k in progress_keys if k in logs])
        log.step(step + 1, total, logs, lambda: local_batch(strategy, batch))
        if (step + 1) % cfg.checkpoint_every == 0 or step + 1 == total:
            checkpoints.save(step + 1)
    log.close()
    if log.seconds_per_step() is not None and cluster.is_chief:
        print(f"stage {stage}: {len(log.clock)} steps, {1000 * log.seconds_per_step():.1f} ms per "
              f"step after the first ({cluster.num_workers} worker(s), "
              f"{strategy.num_replicas_in_sync} replica(s))", flush=True)
    if skipped.skipped:
        print(f"stage {stage}: {skipped.summary()}", flush=True)
    return stage_dir

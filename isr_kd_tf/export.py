"""Trained models out of a work directory, as functions and as SavedModels.

    python -m isr_kd_tf.export --workdir=runs/demo --output=export/demo

The SavedModel's `serving_default` takes uint8 LR images [N, H, W, 3] of any
size and returns {"sr": uint8 [N, 8H, 8W, 3]}; `sr_float` does the same in
float32 [0, 255]. For PKDN the bicubic pre-upsampling and the padding to a
multiple of 16 happen inside and are cropped away after.
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import dataclasses
import json
import os

import tensorflow as tf
from absl import app, flags

from isr_kd_tf import loop
from isr_kd_tf.errors import UserError, run_main

ISR_KD_PREFERENCE = ("incremental", "finetune", "pretrain")
PKDN_PREFERENCE = ("student", "student_no_kd", "teacher")


def _checkpoint_path(workdir, stage, checkpoint):
    if checkpoint:
        if not tf.io.gfile.exists(checkpoint + ".index"):
            raise UserError(f"--checkpoint={checkpoint}: no such checkpoint (expected {checkpoint}.index)")
        return checkpoint
    latest = tf.train.latest_checkpoint(os.path.join(workdir, stage, "checkpoints"))
    if latest is None:
        raise UserError(f"{workdir}/{stage} has no checkpoint yet; train it first or name --checkpoint")
    return latest


def load_trained(workdir, stage="", checkpoint=""):
    """(config, stage, Keras model) of a run's newest (or named) checkpoint.

    Without `stage`, the most advanced stage that has a checkpoint: ISR-KD's
    incremental generator, PKDN's student.
    """
    from isr_kd_tf import train_lib
    cfg = train_lib.load_config(workdir)
    preference = PKDN_PREFERENCE if cfg.method == "pkdn" else ISR_KD_PREFERENCE
    if not stage:
        stage = next((s for s in preference if tf.train.latest_checkpoint(
            os.path.join(workdir, s, "checkpoints"))), "")
        if not stage:
            raise UserError(f"{workdir} has no trained stage yet (no checkpoints under {', '.join(preference)})")
    elif stage not in preference:
        raise UserError(f"--stage={stage!r}: a {cfg.method} run has stages {', '.join(preference)}")
    path = _checkpoint_path(workdir, stage, checkpoint)
    if cfg.method == "pkdn":
        from pkdn_tf import experiment
        model = loop.restore_model(experiment.build_model(cfg, "teacher" if stage == "teacher" else "student"),
                                   path, "model")
    else:
        from isr_kd_tf.models import build_generator
        model = loop.restore_model(build_generator(cfg.width, cfg.extra_convs), path, "generator")
    return cfg, stage, model


def _pad_edge(x, multiple):
    """Replicates the last row/column up to a multiple of `multiple` (any size, even 1 pixel)."""
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    rows = tf.minimum(tf.range(-(-h // multiple) * multiple), h - 1)
    cols = tf.minimum(tf.range(-(-w // multiple) * multiple), w - 1)
    return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)


class SuperResolver(tf.Module):
    """LR [0, 255] -> x8 SR, whatever the model's own input convention."""

    def __init__(self, model, method="isr_kd", scale=8):
        super().__init__()
        self.model = model
        self.method = method
        self.scale = scale

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)])
    def sr_float(self, images):
        if self.method == "pkdn":
            h, w = tf.shape(images)[1] * self.scale, tf.shape(images)[2] * self.scale
            up = tf.clip_by_value(tf.image.resize(images, [h, w], "bicubic"), 0.0, 255.0) / 255.0
            sr = self.model(_pad_edge(up, 16), training=False)["sr"][:, :h, :w] * 255.0
        else:
            sr = self.model(images, training=False)["sr"]
        return {"sr": sr}

    def on_batch(self, batch):
        """A predictor for evaluation: finished batch -> SR (keeps the module alive)."""
        return self.sr_float(batch["lr"])["sr"]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)])
    def serving(self, images):
        sr = self.sr_float(tf.cast(images, tf.float32))["sr"]
        return {"sr": tf.cast(tf.round(tf.clip_by_value(sr, 0.0, 255.0)), tf.uint8)}


def export_onnx(module, path):
    """model.onnx (float32 images [N, H, W, 3] in [0, 255] -> "sr"), ISR-KD only.

    PKDN's in-graph bicubic pre-upsampling and padding do not convert
    faithfully (tf2onnx 1.17 gives wrong output sizes), so it is refused.
    """
    if module.method == "pkdn":
        raise UserError("--onnx: PKDN exports are not offered as ONNX (their in-graph bicubic upsampling and "
                        "padding do not convert faithfully); use the SavedModel")
    try:
        import tf2onnx
    except ImportError:
        raise UserError("--onnx needs tf2onnx: pip install -e '.[onnx]'") from None
    spec = (tf.TensorSpec([None, None, None, 3], tf.float32, name="images"),)

    @tf.function
    def sr(images):
        return {"sr": module.sr_float(images)["sr"]}
    tf2onnx.convert.from_function(sr, input_signature=spec, opset=17, output_path=path)


def export(workdir, output, stage="", checkpoint="", onnx=False):
    cfg, stage, model = load_trained(workdir, stage, checkpoint)
    if getattr(model, "needs_parsing", False):
        raise UserError(f"stage {stage} needs parsing maps at inference; export a student (--stage=student)")
    module = SuperResolver(model, cfg.method, cfg.scale)
    tf.saved_model.save(module, output, signatures={"serving_default": module.serving,
                                                    "sr_float": module.sr_float})
    # the run's settings travel with the export: evaluate scores it with the same protocol
    os.makedirs(os.path.join(output, "assets.extra"), exist_ok=True)
    with open(os.path.join(output, "assets.extra", "config.json"), "w") as f:
        json.dump({**dataclasses.asdict(cfg), "exported_stage": stage}, f, indent=2)
    if onnx:
        export_onnx(module, os.path.join(output, "model.onnx"))
    return cfg, stage


def load_super_resolver(path, stage=""):
    """An SR function images[0..255 float] -> {"sr"} from an export or a work directory."""
    # the closures keep the module alive: a tf.function method holds its object only weakly
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        loaded = tf.saved_model.load(path)
        return lambda images: loaded.sr_float(images)
    if os.path.isfile(os.path.join(path, "config.json")):
        cfg, _, model = load_trained(path, stage)
        module = SuperResolver(model, cfg.method, cfg.scale)
        return lambda images: module.sr_float(images)
    raise UserError(f"--model={path} is neither a SavedModel export nor a training work directory")


FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    cfg, stage = export(FLAGS.workdir, FLAGS.output, FLAGS.stage, FLAGS.checkpoint, FLAGS.onnx)
    print(f"exported {cfg.method} {stage} from {FLAGS.workdir} to {FLAGS.output} "
          "(signatures: serving_default uint8, sr_float float32)" + (" and model.onnx" if FLAGS.onnx else ""))


if __name__ == "__main__":
    flags.DEFINE_string("workdir", None, "Training work directory.", required=True)
    flags.DEFINE_string("output", None, "SavedModel directory to write.", required=True)
    flags.DEFINE_string("stage", "", "Stage to export (default: incremental / student).")
    flags.DEFINE_string("checkpoint", "", "A checkpoint prefix instead of the stage's newest.")
    flags.DEFINE_bool("onnx", False, "Also write model.onnx (ISR-KD; needs the [onnx] extra).")
    app.run(main)

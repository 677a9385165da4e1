"""Trained models out of a work directory, as functions and as SavedModels.

    python -m isr_kd_tf.export --workdir=runs/demo --output=export/demo

The SavedModel's `serving_default` takes uint8 LR images [N, H, W, 3] of any
size and returns {"sr": uint8 [N, 8H, 8W, 3]}; `sr_float` does the same in
float32 [0, 255]. For PKDN the bicubic pre-upsampling and the padding to a
multiple of 16 happen inside and are cropped away after (each method's
`serve`).
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import json
import os
import shutil

import tensorflow as tf
from absl import app, flags

from isr_kd_tf import config, layout, methods, zoo
from isr_kd_tf.serving import SuperResolver
from isr_kd_tf.errors import UserError, run_main


def _checkpoint_path(workdir, stage, checkpoint):
    if checkpoint:
        if not tf.io.gfile.exists(checkpoint + ".index"):
            raise UserError(f"--checkpoint={checkpoint}: no such checkpoint (expected {checkpoint}.index)")
        return checkpoint
    latest = layout.latest_checkpoint(layout.stage_dir(workdir, stage))
    if latest is None:
        raise UserError(f"{workdir}/{stage} has no checkpoint yet; train it first or name --checkpoint")
    return latest


def trained_stages(workdir, method):
    """The stages of a work directory that have a checkpoint, in the method's export order."""
    return [s for s in method.export_order if layout.latest_checkpoint(layout.stage_dir(workdir, s))]


def load_trained(workdir, stage="", checkpoint=""):
    """(settings, stage, Keras model) of a run's newest (or named) checkpoint.

    Without `stage`, the first stage of the method's export order that has a
    checkpoint (ISR-KD's incremental generator, PKDN's student).
    """
    workdir = zoo.resolve(workdir)
    s = config.load(workdir)
    method = s.method
    if not stage:
        stages = trained_stages(workdir, method)
        if not stages:
            raise UserError(f"{workdir} has no trained stage yet (no checkpoints under {', '.join(method.stages)})")
        stage = stages[0]
    elif stage not in method.stages:
        raise UserError(f"--stage={stage!r}: a {method.name} run has stages {', '.join(method.stages)}")
    path = _checkpoint_path(workdir, stage, checkpoint)
    return s, stage, methods.restore_model(method.build(s, stage), path)


def export_onnx(module, path):
    """model.onnx (float32 images [N, H, W, 3] in [0, 255] -> "sr"), where the method allows it."""
    refusal = module.settings.method.onnx_refusal
    if refusal:
        raise UserError(f"--onnx: {refusal}")
    try:
        import tf2onnx
    except ImportError:
        raise UserError("--onnx needs tf2onnx: pip install -e '.[onnx]'") from None
    spec = (tf.TensorSpec([None, None, None, 3], tf.float32, name="images"),)

    @tf.function(autograph=False)
    def sr(images):
        return {"sr": module.sr_float(images)["sr"]}
    tf2onnx.convert.from_function(sr, input_signature=spec, opset=17, output_path=path)


def export(workdir, output, stage="", checkpoint="", onnx=False):
    s, stage, model = load_trained(workdir, stage, checkpoint)
    module = SuperResolver(s, model)
    module.sr_float.get_concrete_function()      # a method that cannot serve this stage says so here
    tf.saved_model.save(module, output, signatures={"serving_default": module.serving,
                                                    "sr_float": module.sr_float})
    # the run's settings travel with the export: evaluate scores it with the same protocol
    os.makedirs(layout.export_assets(output), exist_ok=True)
    with open(layout.export_config(output), "w") as f:
        json.dump({**s.as_dict(), "exported_stage": stage}, f, indent=2)
    template = layout.landmarks(zoo.resolve(workdir))   # the face template of its training crops
    if os.path.isfile(template):
        shutil.copy2(template, layout.landmarks(layout.export_assets(output)))
    if onnx:
        export_onnx(module, os.path.join(output, "model.onnx"))
    return s, stage


def load_super_resolver(path, stage=""):
    """An SR function images[0..255 float] -> {"sr"} from an export or a work directory."""
    # the closures keep the module alive: a tf.function method holds its object only weakly
    path = zoo.resolve(path)
    if tf.io.gfile.exists(os.path.join(path, "saved_model.pb")):
        loaded = tf.saved_model.load(path)
        return lambda images: loaded.sr_float(images)
    if os.path.isfile(layout.config(path)):
        s, _, model = load_trained(path, stage)
        module = SuperResolver(s, model)
        return lambda images: module.sr_float(images)
    raise UserError(f"--model={path} is neither a SavedModel export nor a training work directory")


FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    s, stage = export(FLAGS.workdir, FLAGS.output, FLAGS.stage, FLAGS.checkpoint, FLAGS.onnx)
    print(f"exported {s.run.method} {stage} from {FLAGS.workdir} to {FLAGS.output} "
          "(signatures: serving_default uint8, sr_float float32)" + (" and model.onnx" if FLAGS.onnx else ""))


if __name__ == "__main__":
    flags.DEFINE_string("workdir", None, "Training work directory.", required=True)
    flags.DEFINE_string("output", None, "SavedModel directory to write.", required=True)
    flags.DEFINE_string("stage", "", "Stage to export (default: the first trained stage of the method's export order).")
    flags.DEFINE_string("checkpoint", "", "A checkpoint prefix instead of the stage's newest.")
    flags.DEFINE_bool("onnx", False, "Also write model.onnx, for methods that offer it (needs the [onnx] extra).")
    app.run(main)

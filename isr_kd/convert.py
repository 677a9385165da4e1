"""Checkpoints of the official TF1 ISR-KD / EIPNet code -> Keras models.

    python -m isr_kd.convert --checkpoint=path/to/model.ckpt-100 --output=runs/official

TF1 names: generator/Conv1/w|b, generator/Step1_de/conv2d_transpose/kernel|bias,
generator/Step1_edge/w|b, generator/RGB/w|b, discriminator/di_conv1_1/w|b, ...,
discriminator/dense/kernel|bias, discriminator/dense_1/kernel|bias. TF1 and
Keras share every layout (HWIO kernels, transposed kernels HW-out-in, dense
in-out, NHWC flatten), so values copy as they are. The output directory is a
stage directory usable with --init_from.
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import os

import keras
import tensorflow as tf
from absl import app, flags

from isr_kd_tf.errors import UserError, run_main
from isr_kd_tf import layout
from isr_kd.method import DISCRIMINATOR_WEIGHTS
from isr_kd.discriminator import build_discriminator
from isr_kd.generator import EdgeBlock, build_generator


def official_names(model, scope):
    """[(Keras variable, TF1 variable name)] for a Generator or Discriminator."""
    pairs = []
    for layer in model.layers:
        if isinstance(layer, EdgeBlock):
            pairs += [(layer.to_edge.kernel, f"{scope}/{layer.name}/w"), (layer.to_edge.bias, f"{scope}/{layer.name}/b")]
        elif isinstance(layer, keras.layers.Conv2DTranspose):
            base = f"{scope}/{layer.name}/conv2d_transpose"
            pairs += [(layer.kernel, f"{base}/kernel"), (layer.bias, f"{base}/bias")]
        elif isinstance(layer, keras.layers.Dense):
            pairs += [(layer.kernel, f"{scope}/{layer.name}/kernel"), (layer.bias, f"{scope}/{layer.name}/bias")]
        elif isinstance(layer, keras.layers.Conv2D):
            pairs += [(layer.kernel, f"{scope}/{layer.name}/w"), (layer.bias, f"{scope}/{layer.name}/b")]
    return pairs


def load_official_checkpoint(prefix, width=1.0, hr_size=128):
    """(Generator, Discriminator) holding the official checkpoint's weights.

    Every mismatched or missing variable is named in one error.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.NotFoundError, tf.errors.DataLossError, ValueError) as e:
        raise UserError(f"--checkpoint={prefix}: not a readable TF checkpoint ({type(e).__name__})") from None
    shapes = reader.get_variable_to_shape_map()
    g, d = build_generator(width), build_discriminator(width, hr_size)
    problems, assignments = [], []
    for model, scope in ((g, "generator"), (d, "discriminator")):
        for var, name in official_names(model, scope):
            if name not in shapes:
                problems.append(f"{name} missing")
            elif tuple(shapes[name]) != tuple(var.shape):
                problems.append(f"{name} is {tuple(shapes[name])}, expected {tuple(var.shape)}")
            else:
                assignments.append((var, name))
    if problems:
        raise UserError(f"{prefix} does not fit the ISR-KD networks at width {width}: "
                        + "; ".join(problems[:8]) + (f"; and {len(problems) - 8} more" if len(problems) > 8 else ""))
    for var, name in assignments:
        var.assign(reader.get_tensor(name))
    return g, d


FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    g, d = load_official_checkpoint(FLAGS.checkpoint, FLAGS.width)
    os.makedirs(FLAGS.output, exist_ok=True)
    g.save_weights(layout.weights(FLAGS.output))
    d.save_weights(os.path.join(FLAGS.output, DISCRIMINATOR_WEIGHTS))
    print(f"wrote {layout.weights(FLAGS.output)} and {DISCRIMINATOR_WEIGHTS}; use --init_from={FLAGS.output}")


if __name__ == "__main__":
    flags.DEFINE_string("checkpoint", None, "Official TF1 checkpoint prefix (model.ckpt-N).", required=True)
    flags.DEFINE_string("output", None, "Directory to write the Keras weights to.", required=True)
    flags.DEFINE_float("width", 1.0, "Channel width of the checkpoint (1.0 = the paper).")
    app.run(main)

"""python -m isr_kd_tf.train --flagfile=flags/demo.cfg

Every field of train_lib.Config is a flag with the same name, default and
help text (`--helpfull` lists them); a flagfile picks the experiment.
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import dataclasses

from absl import app, flags

from isr_kd_tf import train_lib
from isr_kd_tf.errors import run_main

_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string, tuple: flags.DEFINE_list}

for _field in dataclasses.fields(train_lib.Config):
    _help, _choices = _field.metadata["help"], _field.metadata["choices"]
    if _choices:
        flags.DEFINE_enum(_field.name, _field.default, _choices, _help)
    else:
        _DEFINE[type(_field.default)](_field.name, list(_field.default) if isinstance(_field.default, tuple)
                                      else _field.default, _help)
flags.DEFINE_string("jit", "auto", "XLA for the training step: auto (on only with a GPU), on or off; overrides "
                    "--jit_compile.")
FLAGS = flags.FLAGS


def config_from_flags():
    values = {f.name: getattr(FLAGS, f.name) for f in dataclasses.fields(train_lib.Config)}
    values["stages"] = tuple(values["stages"])
    if FLAGS.jit != "auto" or not FLAGS["jit_compile"].present:
        import tensorflow as tf
        values["jit_compile"] = {"on": True, "off": False}.get(
            FLAGS.jit, bool(tf.config.list_physical_devices("GPU")))
    return train_lib.Config(**values)


@run_main
def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    train_lib.run(config_from_flags())


if __name__ == "__main__":
    app.run(main)

"""python -m isr_kd_tf.train --flagfile=flags/demo.cfg

The run settings (isr_kd_tf.config.RunConfig) and every method's own
settings are flags with the same names, defaults and help texts
(`--helpfull` lists them); a flagfile picks the experiment. A setting of a
method other than --method's is refused.
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import dataclasses
import sys

from absl import app, flags

from isr_kd_tf import config, experiment, methods
from isr_kd_tf.errors import UserError, run_main

FLAGS = flags.FLAGS
_DEFINE = {bool: flags.DEFINE_bool, int: flags.DEFINE_integer, float: flags.DEFINE_float,
           str: flags.DEFINE_string, tuple: flags.DEFINE_list}
OWNER = {}          # flag name -> the method whose setting it is ("" for run settings)


def define(config_class, owner):
    """One flag per field of a config dataclass, registered once."""
    for field in dataclasses.fields(config_class):
        if field.name in OWNER:
            if OWNER[field.name] != owner:
                raise ValueError(f"--{field.name} is a setting of both {OWNER[field.name] or 'the run'} and {owner}")
            continue
        OWNER[field.name] = owner
        help_text, choices = field.metadata["help"], field.metadata["choices"]
        if choices:
            flags.DEFINE_enum(field.name, field.default, choices, help_text)
        else:
            _DEFINE[type(field.default)](field.name, list(field.default) if isinstance(field.default, tuple)
                                         else field.default, help_text)


define(config.RunConfig, "")
for _method in methods.available().values():
    define(_method.config, _method.name)


def define_named_method(argv):
    """A method given by module path (--method=pkg.module) defines its flags before the full parse."""
    try:
        FLAGS(argv, known_only=True)
    except flags.Error:
        return                        # the full parse says what is wrong
    name = FLAGS.method
    FLAGS.unparse_flags()
    method = methods.get(name)
    define(method.config, method.name)


def settings_from_flags():
    """config.Settings of the parsed flags; another method's setting given on the command line is refused."""
    name = methods.get(FLAGS.method).name
    values = {}
    for flag, owner in OWNER.items():
        if owner in ("", name):
            values[flag] = getattr(FLAGS, flag)
        elif FLAGS[flag].present:
            raise UserError(f"--{flag} is a setting of --method={owner}, not of --method={name}")
    values["stages"] = tuple(values["stages"])
    return config.make(**values)


@run_main
def main(argv):
    if len(argv) > 1:
        raise app.UsageError(f"unexpected arguments: {argv[1:]}")
    experiment.run(settings_from_flags())


if __name__ == "__main__":
    try:
        define_named_method(sys.argv)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        sys.exit(2)
    app.run(main)

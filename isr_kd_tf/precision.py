"""Mixed precision: bfloat16 on CPUs (AMX/AVX-512 BF16 here), float16 with loss scaling on GPUs.

Networks compute in the low precision; every loss is computed in float32 on
outputs cast back, and the variables stay float32.
"""

import keras
import tensorflow as tf


def policy(mixed):
    if not mixed:
        return "float32"
    return "mixed_float16" if tf.config.list_physical_devices("GPU") else "mixed_bfloat16"


def set_policy(mixed):
    name = policy(mixed)
    keras.mixed_precision.set_global_policy(name)
    return name


def wrap_optimizer(optimizer):
    """float16 needs dynamic loss scaling; bfloat16 has float32's range and does not."""
    if keras.mixed_precision.global_policy().name == "mixed_float16":
        return keras.optimizers.LossScaleOptimizer(optimizer)
    return optimizer


def float32(tree):
    return tf.nest.map_structure(lambda t: tf.cast(t, tf.float32), tree)

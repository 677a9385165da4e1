"""Loss building blocks every method shares: masked means, replica shares, per-sample L1.

Every masked loss averages over the samples its mask selects and is exactly
zero, never NaN, when the mask selects none.
"""

import tensorflow as tf


def masked_mean(per_sample, mask):
    """Mean of per-sample values over the selected samples; 0 when none."""
    mask = tf.cast(mask, per_sample.dtype)
    return tf.math.divide_no_nan(tf.reduce_sum(per_sample * mask), tf.reduce_sum(mask))


def share(local_count, global_count=None):
    """This replica's fraction of the batch's selected samples (1 on one device).

    A replica's masked mean times its share is its part of the whole batch's
    masked mean, so the replicas' gradients, which the optimizer sums, equal
    the single-device ones whatever each replica's domain mix. The global
    counts are summed by loop.distributed_step before the step runs.
    """
    if global_count is None:
        return tf.constant(1.0)
    return tf.math.divide_no_nan(tf.cast(local_count, tf.float32), tf.cast(global_count, tf.float32))


def per_sample_l1(a, b):
    return tf.reduce_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)), axis=tf.range(1, tf.rank(a)))

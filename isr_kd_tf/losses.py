"""Loss building blocks every method shares: masked means over the whole batch, per-sample L1.

Every masked loss averages over the samples its mask selects and is exactly
zero, never NaN, when the mask selects none.
"""

import typing

import tensorflow as tf


class Mask(typing.NamedTuple):
    """Which samples of this replica's batch a loss averages over, and how many the whole batch
    selects across every replica and worker (isr_kd_tf.trainer.Trainer makes them).

    A mean over `count` is this replica's part of the whole batch's mean: the replicas' parts,
    and their gradients, which the optimizer sums, add up to the single-device values whatever
    each replica's share of every mask."""
    weights: tf.Tensor      # [N] float32, 1 = selected
    count: tf.Tensor        # scalar float32: selected samples in the whole batch


def masked_mean(per_sample, mask):
    """Mean of per-sample values over the selected samples; 0 when none.

    mask: a Mask (the whole batch's mean, this replica's part) or plain 0/1
    weights [N] (the mean over these samples)."""
    if isinstance(mask, Mask):
        weights, count = mask.weights, mask.count
    else:
        weights = tf.cast(mask, tf.float32)
        count = tf.reduce_sum(weights)
    per_sample = tf.cast(per_sample, tf.float32)
    return tf.math.divide_no_nan(tf.reduce_sum(per_sample * weights), tf.cast(count, tf.float32))


def per_sample_l1(a, b):
    return tf.reduce_mean(tf.abs(tf.cast(a, tf.float32) - tf.cast(b, tf.float32)), axis=tf.range(1, tf.rank(a)))

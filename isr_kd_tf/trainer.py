"""The contract between a method's training step and the training loop.

A method's trainer subclasses `Trainer` and writes `step(batch, masks)` as
for one device: it averages every per-sample loss with
`losses.masked_mean(values, masks[name])`, applies its gradients and
returns {term: value}. The core makes the masks: their counts are the
whole batch's, summed over replicas and workers before the step
(loop.distributed_step), so each replica's means, gradients and logs are
its part of the single-device ones and no method does replica arithmetic.
"""

import keras
import tensorflow as tf

from isr_kd_tf.losses import Mask

ALL = "all"


def _counts(masks):
    return {k: tf.reduce_sum(m) for k, m in masks.items()}


class Trainer(keras.Model):
    """What loop.fit trains. Subclasses implement `step`; may override `masks`,
    `optimizers` and `replica_invariant_logs`."""

    replica_invariant_logs = ()   # logged values that are not part of a batch mean (a schedule's weight)

    def masks(self, batch):
        """{name: [N] float32 0/1}: the samples each loss averages over. Default: one mask, ALL, every sample."""
        n = tf.shape(tf.nest.flatten(batch)[0])[0]
        return {ALL: tf.ones([n], tf.float32)}

    def optimizers(self):
        """{name: optimizer} the loop logs the learning rates of."""
        return {"model": self.optimizer}

    def batch_counts(self, batch):
        """Samples per mask in this replica's batch (the loop sums them over replicas)."""
        return _counts(self.masks(batch))

    def train_step(self, batch, global_counts=None):
        """The loop's entry: `step` with masks that count the whole batch (this batch on one device)."""
        local = self.masks(batch)
        counts = global_counts or _counts(local)
        return self.step(batch, {k: Mask(m, counts[k]) for k, m in local.items()})

    def step(self, batch, masks):
        """One optimisation step; returns {term: scalar}. masks: {name: losses.Mask}."""
        raise NotImplementedError

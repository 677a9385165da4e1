"""PKDN training steps: the teacher learns L1 to HR; the student adds distillation.

Student loss (KDFSRNet's train_student.py, which PKDN follows):
L1(S, HR) + lambda_ts * L1(T, S) + lambda_fs(epoch) * mean_i L1(F_i^T, F_i^S),
lambda_fs decaying linearly from its value at epoch 0 to 0 at epoch
`distill_epochs`; lambda_ts stays on through that epoch too (KDFSRNet's
`i > 10` switches both off from epoch index 11). Images are in [0, 1] inside the
models, as in the PyTorch code; batches carry [0, 255].
"""

import tensorflow as tf

from isr_kd_tf.losses import masked_mean, per_sample_l1
from isr_kd_tf.precision import float32
from isr_kd_tf.trainer import ALL, Trainer
from pkdn_tf import models


def model_inputs(model, batch):
    """(lr_up, parsing) in [0, 1] as `model` reads them."""
    lr_up = batch["lr_up"] / 255.0
    return (lr_up, batch["parsing_input"]) if model.needs_parsing else (lr_up, None)


def predict(model, batch, training=False):
    """SR in [0, 255] and the full model output."""
    out = model(*model_inputs(model, batch), training=training)
    return out["sr"] * 255.0, out


def feature_distill_loss(teacher_features, student_features):
    """Per sample: the mean over the taps of the mean absolute difference."""
    return tf.add_n([per_sample_l1(t, s) for t, s in zip(teacher_features, student_features)]) / len(
        student_features)


class PKDNTrainer(Trainer):
    """Trains `model` (teacher or student); with a frozen `teacher`, distils it.

    steps_per_epoch turns the optimizer's step count into the epoch that the
    lambda_fs schedule reads, so a resumed run continues the schedule.
    """

    replica_invariant_logs = ("lambda_fs",)

    def __init__(self, model, teacher=None, lambda_ts=0.1, lambda_fs=10.0, distill_epochs=10,
                 steps_per_epoch=1, **kwargs):
        super().__init__(**kwargs)
        self.model = model
        self.teacher = teacher
        if teacher is not None:
            teacher.trainable = False
        self.lambda_ts = lambda_ts
        self.lambda_fs = lambda_fs
        self.distill_epochs = distill_epochs
        self.steps_per_epoch = steps_per_epoch

    def distill_weights(self, step):
        """(lambda_ts, lambda_fs) at optimizer step `step`."""
        epoch = tf.cast(step // self.steps_per_epoch, tf.float32)
        active = tf.cast(epoch <= self.distill_epochs, tf.float32)
        fs = self.lambda_fs * tf.maximum(0.0, (self.distill_epochs - epoch) / max(self.distill_epochs, 1))
        return self.lambda_ts * active, fs * active

    def step(self, batch, masks):
        hr = batch["hr"] / 255.0
        every = masks[ALL]
        w_ts, w_fs = self.distill_weights(self.optimizer.iterations)
        with tf.GradientTape() as tape, models.fused_gates():
            out = float32(self.model(*model_inputs(self.model, batch), training=True))
            terms = {"l1": masked_mean(per_sample_l1(out["sr"], hr), every)}
            loss = terms["l1"]
            if self.teacher is not None:
                t_out = float32(self.teacher(*model_inputs(self.teacher, batch), training=False))
                terms["ts"] = masked_mean(per_sample_l1(tf.stop_gradient(t_out["sr"]), out["sr"]), every)
                terms["fs"] = masked_mean(feature_distill_loss([tf.stop_gradient(f) for f in t_out["features"]],
                                                               out["features"]), every)
                loss = loss + w_ts * terms["ts"] + w_fs * terms["fs"]
        variables = self.model.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(self.optimizer.scale_loss(loss), variables), variables))
        if self.teacher is not None:
            terms["lambda_fs"] = w_fs
        return {"loss": loss, **terms}

    def call(self, lr_up, parsing=None, training=False):
        return self.model(lr_up, parsing, training=training)

"""The ISR-KD GAN training step: one D step, then one G step, frozen teacher.

One generator forward serves both steps: D is updated on the detached SR
images, then the G loss reads D's updated opinion of the same SR images.
The teacher (a frozen copy of the pre-trained generator) runs on the same
augmented batch inside the step and is never differentiated.
"""

import tensorflow as tf

from isr_kd_tf.data import SOURCE, TARGET
from isr_kd import losses
from isr_kd.config import ISRKDConfig
from isr_kd_tf.losses import Mask, masked_mean
from isr_kd_tf.precision import float32
from isr_kd_tf.trainer import Trainer


def edge_target_keys(batch):
    """The batch's Canny targets, coarse to fine (edge_32, edge_64, edge_128 at 128 HR)."""
    return sorted((k for k in batch if k.startswith("edge_")), key=lambda k: int(k.split("_")[1]))


def on_selected(fn, x, mask):
    """fn on the samples a mask selects only, its outputs (a tensor or a dict) scattered back into the whole
    batch with zeros elsewhere: a loss masked the same way reads the same values and gradients, for the
    selected samples' cost (the authors' graph boolean-masks its batches the same way). With none selected,
    sample 0 is run (its weight is 0): oneDNN's convolutions mishandle an empty batch."""
    weights = mask.weights if isinstance(mask, Mask) else mask
    index = tf.where(weights > 0)[:, 0]
    index = tf.cond(tf.size(index) > 0, lambda: index, lambda: tf.zeros([1], tf.int64))
    out = fn(tf.gather(x, index))
    batch = tf.shape(x, out_type=tf.int64)[:1]
    return tf.nest.map_structure(
        lambda o: tf.scatter_nd(index[:, None], o, tf.concat([batch, tf.shape(o, out_type=tf.int64)[1:]], 0)), out)


def freeze(model):
    model.trainable = False
    return model


def copy_generator(generator):
    """A new Generator with the same config and weights (the teacher)."""
    clone = generator.__class__.from_config(generator.get_config())
    clone(tf.zeros((1, 16, 16, 3)))
    clone.set_weights(generator.get_weights())
    return clone


class ISRKDTrainer(Trainer):
    """Holds G, D and (incremental stage) the frozen teacher.

    stage: "pretrain" (one domain, every sample gets the task losses),
    "incremental" (teacher + distillation on source samples) or
    "finetune" (incremental data, no distillation: Cartoon-CelebA-1 style).
    """

    def __init__(self, generator, discriminator, teacher=None, stage="pretrain",
                 weights=None, identity_net=None, lce_transform="yuv", identity_temperature=0.1, **kwargs):
        super().__init__(**kwargs)
        if stage == "incremental" and teacher is None:
            raise ValueError("the incremental stage needs a teacher (a pre-trained generator)")
        self.generator = generator
        self.discriminator = discriminator
        self.teacher = freeze(teacher) if teacher is not None else None
        self.stage = stage
        self.loss_weights_ = weights or ISRKDConfig()      # alpha, beta, lambda_*, d_loss_scale
        self.identity_net = freeze(identity_net) if identity_net is not None else None
        self.lce_transform = lce_transform
        self.identity_temperature = identity_temperature

    def compile(self, g_optimizer, d_optimizer, **kwargs):
        super().compile(**kwargs)
        self.g_optimizer = g_optimizer
        self.d_optimizer = d_optimizer

    def optimizers(self):
        return {"generator": self.g_optimizer, "discriminator": self.d_optimizer}

    def masks(self, batch):
        """task: the samples the task losses and D see (every one in pretraining, the new domain's
        after it); kd: the old domain's, which only the distillation losses see."""
        domain = batch["domain"]
        if self.stage == "pretrain":
            task = tf.ones_like(domain, tf.float32)
            return {"task": task, "kd": tf.zeros_like(task)}
        return {"task": tf.cast(domain == TARGET, tf.float32), "kd": tf.cast(domain == SOURCE, tf.float32)}

    def generator_losses(self, batch, out, fake_logits, task_mask, kd_mask):
        """Every G loss term, unweighted, and the weighted total (masks: losses.Mask or 0/1 weights)."""
        w = self.loss_weights_
        hr = batch["hr"]
        terms = {
            "rec": losses.reconstruction_loss(out["sr"], hr, task_mask),
            "edge": losses.edge_loss(out["edges"], [batch[k] for k in edge_target_keys(batch)], task_mask),
            "lce": losses.luminance_chrominance_loss(out["sr"], hr, task_mask, self.lce_transform),
            "adv": losses.generator_adversarial_loss(fake_logits, task_mask),
        }
        weighted = {"rec": w.lambda_rec, "edge": w.lambda_edge, "lce": w.lambda_lce, "adv": w.lambda_adv}
        if self.identity_net is not None:
            emb_sr = float32(self.identity_net(out["sr"], training=False))
            emb_hr = tf.stop_gradient(float32(self.identity_net(hr, training=False)))
            terms["identity"] = losses.identity_loss(emb_sr, emb_hr, task_mask, self.identity_temperature)
            weighted["identity"] = w.lambda_id
        if self.stage == "incremental":      # the teacher sees the old domain's samples only
            teacher_out = on_selected(lambda lr: float32(
                {k: v for k, v in self.teacher(lr, training=False).items() if k in ("sr", "bottleneck")}),
                batch["lr"], kd_mask)
            terms["kd_response"], terms["kd_feature"] = losses.distill_loss(out, teacher_out, kd_mask)
            weighted["kd_response"], weighted["kd_feature"] = w.alpha, w.beta
        contributions = {f"weighted_{k}": weighted[k] * terms[k] for k in weighted}   # each term's part of g_loss
        total = tf.add_n(list(contributions.values()))
        return {**terms, **contributions}, total

    def step(self, batch, masks):
        """One D step then one G step."""
        task_mask, kd_mask = masks["task"], masks["kd"]
        g_vars = self.generator.trainable_variables
        d_vars = self.discriminator.trainable_variables
        with tf.GradientTape() as g_tape:
            out = float32(self.generator(batch["lr"], training=True))
        discriminator = self.discriminator
        if self.stage == "incremental":      # D sees the new domain's samples only
            def discriminator(images, training):
                return on_selected(lambda x: self.discriminator(x, training=training), images, task_mask)
        with tf.GradientTape() as d_tape:
            real_logits = float32(discriminator(batch["hr"], training=True))
            fake_logits_d = float32(discriminator(tf.stop_gradient(out["sr"]), training=True))
            d_loss = losses.discriminator_loss(real_logits, fake_logits_d, task_mask,
                                               self.loss_weights_.d_loss_scale)
        d_grads = d_tape.gradient(self.d_optimizer.scale_loss(d_loss), d_vars)
        self.d_optimizer.apply_gradients(zip(d_grads, d_vars))
        with g_tape:
            fake_logits = float32(discriminator(out["sr"], training=True))
            terms, g_loss = self.generator_losses(batch, out, fake_logits, task_mask, kd_mask)
        g_grads = g_tape.gradient(self.g_optimizer.scale_loss(g_loss), g_vars)
        self.g_optimizer.apply_gradients(zip(g_grads, g_vars))
        return {"g_loss": g_loss, "d_loss": d_loss, **terms,
                "d_real": masked_mean(tf.sigmoid(tf.reshape(real_logits, [-1])), task_mask),
                "d_fake": masked_mean(tf.sigmoid(tf.reshape(fake_logits_d, [-1])), task_mask)}

    def call(self, lr, training=False):
        return self.generator(lr, training=training)

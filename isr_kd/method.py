"""ISR-KD as a method: pre-train G_S on one domain, then learn the other while a frozen G_S
distils its outputs and bottleneck features on the old domain (arXiv 2401.15366).

Stages: pretrain (G_S), incremental (with distillation), finetune (no
distillation: Cartoon-CelebA-1). Scored on both domains, RGB, no crop.
"""

import logging
import os

import numpy as np
import tensorflow as tf

from isr_kd_tf import data, layout, methods, visualize
from isr_kd_tf.errors import UserError
from isr_kd import face_api
from isr_kd.config import ISRKDConfig
from isr_kd import datasets  # noqa: F401  (registers icartoonface)
from isr_kd.discriminator import build_discriminator
from isr_kd.edges import EdgeTargets
from isr_kd.generator import build_generator
from isr_kd.trainer import ISRKDTrainer, edge_target_keys

DISCRIMINATOR_WEIGHTS = "discriminator.weights.h5"    # beside G's weights, from the official-checkpoint converter


def load_generator(s, path, extra_convs=None, stage="pretrain"):
    """A trained generator of the run's width from a workdir, stage dir or weights file.

    extra_convs (default --extra_convs) > 0 and a plain G_S file: Table V's
    extended network, its extra convs random, every other layer from G_S.
    """
    extra = s.paper.extra_convs if extra_convs is None else extra_convs
    f = layout.find_weights(path, stage)
    try:
        g = build_generator(s.run.width, extra)
        g.load_weights(f)
        return g
    except ValueError as e:
        mismatch = e
    try:        # a G_S file for the extended network
        base = build_generator(s.run.width, 0)
        base.load_weights(f)
    except ValueError:
        raise UserError(f"{f} does not fit a generator of --width={s.run.width}, --extra_convs={extra}: "
                        f"{mismatch}") from None
    if not extra:
        return base
    g = build_generator(s.run.width, extra)
    for layer in base.layers:
        g.get_layer(layer.name).set_weights(layer.get_weights())
    return g


def load_pretrained(s, path):
    """G_S, the pre-trained generator itself (never extended): the teacher and the `pretrained` row."""
    return load_generator(s, path, extra_convs=0)


def restore_gan_state(s, path, discriminator, g_opt, d_opt):
    """D and both Adam states from --init_from's checkpoint, as the official code restores its
    pre-training checkpoint (G's Adam state only where G's variables are the same)."""
    ckpt = layout.newest_checkpoint_behind(path, "pretrain")
    d_file = os.path.join(os.path.dirname(path) if path.endswith(".h5") else path, DISCRIMINATOR_WEIGHTS)
    if ckpt is None and os.path.isfile(d_file):
        discriminator.load_weights(d_file)
        print(f"discriminator restored from {d_file}; the optimizers start fresh", flush=True)
        return
    if ckpt is None:
        print(f"note: {path} has generator weights only; D and the optimizers start fresh", flush=True)
        return
    objects = {"d_optimizer": d_opt} if s.paper.extra_convs else {"g_optimizer": g_opt, "d_optimizer": d_opt}
    try:
        methods.restore_model(discriminator, ckpt, "discriminator")
        tf.train.Checkpoint(**objects).restore(ckpt).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise UserError(f"--init_from={path}: the discriminator or optimizer state in {ckpt} does not fit these "
                        f"flags ({str(e).splitlines()[0][:200]}); pass --fresh_discriminator to start them fresh") from None
    print(f"discriminator and Adam state{'s' if len(objects) == 2 else ' of D'} restored from {ckpt}", flush=True)


def identity_net(s):
    """The identity loss's face network: face-api's shipped one by name (face_api), or the user's file."""
    if not s.paper.identity_net:
        return None
    if s.paper.identity_net == face_api.NAME:
        return face_api.build()
    from isr_kd_tf.pretrained import load_identity_net
    return load_identity_net(s.paper.identity_net)


def image_grid(batch, generator, teacher, n=4):
    """LR | bicubic | (teacher) | SR | HR | edge SR | Canny HR, one row per sample."""
    out = generator(batch["lr"][:n], training=False)
    teacher_sr = teacher(batch["lr"][:n], training=False)["sr"] if teacher is not None else None
    bic = tf.image.resize(batch["lr"][:n], batch["hr"].shape[1:3], "bicubic")
    rows = []
    for i in range(min(n, batch["hr"].shape[0])):
        row = [batch["lr"][i], bic[i]] + ([teacher_sr[i]] if teacher_sr is not None else [])
        row += [out["sr"][i], batch["hr"][i], out["edges"][-1][i], batch[edge_target_keys(batch)[-1]][i]]
        rows.append([np.asarray(x) for x in row])
    labels = ["LR", "bicubic"] + (["teacher"] if teacher is not None else []) + ["SR", "HR", "edge SR", "Canny HR"]
    return visualize.grid(rows, 96, labels)


class ISRKD(methods.Method):
    name = "isr_kd"
    config = ISRKDConfig
    stages = ("pretrain", "incremental", "finetune")
    row_names = {"pretrain": "pretrained", "incremental": "incremental_kd", "finetune": "incremental_no_kd"}
    export_order = ("incremental", "finetune", "pretrain")
    start_from = {"incremental": "pretrain", "finetune": "pretrain"}
    baseline_row = "pretrained"
    samples_per_set = 3
    benchmarks_module = "isr_kd.bench"
    claims_module = "isr_kd.claims"
    whole_image_sets = ("icartoonface", "avatar_faces", "anime_faces", "utkface")   # resized whole: the official
    # code resizes whole cartoon images; UTKFace chips are aligned crops already

    def check(self, s):
        if s.run.scale != 8:
            raise UserError("--scale: the ISR-KD generator is x8 (three x2 stages)")
        if not s.paper.identity_net:
            logging.warning("identity loss is OFF: no --identity_net given (a face-embedding Keras model or "
                            "SavedModel)")

    def batch_features(self, s):
        return EdgeTargets(s.run.scale, s.paper.edge_thresholds)

    def preview_columns(self, s, batch):
        return {f"edge {k.split('_')[1]}": batch[k].numpy() for k in edge_target_keys(batch)}

    def test_sets(self, s):
        return [("source", data.SOURCE, s.run.source_data), ("target", data.TARGET, s.paper.target_data)]

    def identity_network(self, s):
        return face_api.shared()         # face-api's descriptor network: identity beside PSNR and SSIM

    def domains(self, s, stage):
        p = s.paper
        old, new = s.run.source_data, p.target_data
        if p.pretrain_data == "target":
            old, new = new, old
        if stage == "pretrain":
            return [data.DomainSpec(old, data.SOURCE)]
        specs = [data.DomainSpec(new, data.TARGET, p.target_count)]
        if stage == "incremental" and p.source_count:
            specs.insert(0, data.DomainSpec(old, data.SOURCE, p.source_count))
        return specs

    def build(self, s, stage):
        return build_generator(s.run.width, s.paper.extra_convs)

    def load(self, s, stage, path):
        return load_generator(s, path, stage=stage)

    def training(self, s, stage):
        p, init_path = s.paper, stage.init_path
        generator = load_generator(s, init_path) if init_path else self.build(s, stage.name)
        discriminator = build_discriminator(s.run.width, s.run.hr_size)
        teacher = load_pretrained(s, init_path) if stage.name == "incremental" else None
        trainer = ISRKDTrainer(generator, discriminator, teacher, stage.name, p, identity_net(s), p.lce_transform,
                               p.identity_temperature)
        g_opt = stage.optimizer(generator.trainable_variables, p.g_beta1, p.g_beta2)
        d_opt = stage.optimizer(discriminator.trainable_variables, p.d_beta1, p.d_beta2)
        trainer.compile(g_opt, d_opt)
        if init_path and stage.name != "pretrain" and not p.fresh_discriminator:
            restore_gan_state(s, init_path, discriminator, g_opt, d_opt)
        return methods.Training(trainer, generator, dict(discriminator=discriminator, g_optimizer=g_opt,
                                                         d_optimizer=d_opt),
                                grid=lambda b: image_grid(b, generator, teacher),
                                progress_keys=("g_loss", "d_loss", "rec"))

    def serve(self, s, model, images):
        return model(images, training=False)["sr"]

    def load_origin(self, s, stage, path):
        return load_pretrained(s, path)          # G_S itself, also for the extended network of Table V

    def title(self, s):
        return f"ISR-KD results ({s.run.source_data} → {s.paper.target_data})"


METHOD = methods.register(ISRKD())

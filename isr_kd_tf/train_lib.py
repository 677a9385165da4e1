"""ISR-KD experiments as a function: `run(Config)` trains its stages, then evaluates.

Work directory:
  <stage>/checkpoints/   weights of G and D, both optimizers, the step (resumable)
  <stage>/generator.weights.h5, <stage>/DONE
  tensorboard/<stage>/   every loss term, D scores, validation PSNR/SSIM, image grids
  lists/                 the exact examples of each domain mix
  results.json, results.md, samples.png
"""

import dataclasses
import json
import logging
import math
import os

import keras
import numpy as np
import tensorflow as tf

from isr_kd_tf import data, losses, metrics, visualize
from isr_kd_tf.errors import UserError
from isr_kd_tf.models import build_discriminator, build_generator
from isr_kd_tf.trainer import ISRKDTrainer, copy_generator, edge_target_keys

STAGES = ("pretrain", "incremental", "finetune")
ROW_NAME = {"pretrain": "pretrained", "incremental": "incremental_kd", "finetune": "incremental_no_kd"}


@dataclasses.dataclass
class Config:
    """Every experiment setting; flagfiles override these defaults."""
    workdir: str = "runs/isr_kd"
    stages: tuple = ("pretrain",)
    init_from: str = ""               # a workdir, stage dir or checkpoint prefix for the first stage
    data_dir: str = ""
    source_data: str = "celeb_a"      # real faces
    target_data: str = "icartoonface"  # cartoons
    pretrain_data: str = "source"     # which domain pre-training uses: source | target
    source_count: int = 10000         # real faces mixed into incremental training (0 = none)
    target_count: int = 20000         # cartoons in incremental training (0 = all)
    eval_limit: int = 0               # test images per domain (0 = all)
    width: float = 1.0
    extra_convs: int = 0
    hr_size: int = 128
    scale: int = 8
    degradation: str = "box"
    edge_thresholds: str = "fixed"
    alpha: float = 5.0
    beta: float = 0.01
    lambda_rec: float = 1.0
    lambda_edge: float = 0.3
    lambda_lce: float = 1.0
    lambda_id: float = 1.0
    lambda_adv: float = 0.005
    d_loss_scale: float = 1.0
    lce_transform: str = "yuv"
    identity_net: str = ""            # Keras model / SavedModel giving face embeddings
    identity_temperature: float = 0.1
    learning_rate: float = 1e-4
    g_beta1: float = 0.9
    g_beta2: float = 0.999
    d_beta1: float = 0.9
    d_beta2: float = 0.999
    epsilon: float = 1e-8
    batch_size: int = 1
    epochs: int = 200
    steps_per_epoch: int = 0          # 0 = training images / batch size
    checkpoint_every: int = 1000
    keep_checkpoints: int = 3
    log_every: int = 50
    seed: int = 0
    deterministic: bool = False
    jit_compile: bool = False
    eval_crop_border: int = 0
    eval_y_channel: bool = False
    verbose: int = 1


def check(cfg):
    """Rejects contradictory or out-of-range settings before any work."""
    for s in cfg.stages:
        if s not in STAGES:
            raise UserError(f"--stages: {s!r} is not one of {', '.join(STAGES)}")
    first = cfg.stages[0] if cfg.stages else None
    if first in ("incremental", "finetune") and not cfg.init_from:
        raise UserError(f"--stages starts with {first} but no pre-trained generator is given: "
                        "set --init_from to a pre-training workdir or run the pretrain stage first")
    if cfg.pretrain_data not in ("source", "target"):
        raise UserError("--pretrain_data must be 'source' or 'target'")
    for name in ("batch_size", "epochs", "hr_size", "scale"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name} must be at least 1 (got {getattr(cfg, name)})")
    if cfg.width <= 0:
        raise UserError(f"--width must be positive (got {cfg.width})")
    if cfg.hr_size % cfg.scale:
        raise UserError(f"--hr_size={cfg.hr_size} is not a multiple of --scale={cfg.scale}")
    if cfg.scale != 8:
        raise UserError("--scale: the ISR-KD generator is x8 (three x2 stages)")


def _pipeline_cfg(cfg):
    return data.PipelineConfig(hr_size=cfg.hr_size, scale=cfg.scale, degradation=cfg.degradation,
                               edge_thresholds=cfg.edge_thresholds)


def _domains(cfg, stage):
    """The training mix of a stage, as DomainSpecs."""
    if stage == "pretrain":
        name = cfg.source_data if cfg.pretrain_data == "source" else cfg.target_data
        return [data.DomainSpec(name, data.SOURCE)]
    new = cfg.target_data if cfg.pretrain_data == "source" else cfg.source_data
    old = cfg.source_data if cfg.pretrain_data == "source" else cfg.target_data
    specs = [data.DomainSpec(new, data.TARGET, cfg.target_count)]
    if stage == "incremental" and cfg.source_count:
        specs.insert(0, data.DomainSpec(old, data.SOURCE, cfg.source_count))
    return specs


def _find_generator_weights(path):
    """A generator weights file from a workdir, a stage dir or the file itself."""
    candidates = [path] if path.endswith(".h5") else [
        os.path.join(path, "generator.weights.h5"),
        os.path.join(path, "pretrain", "generator.weights.h5")]
    for c in candidates:
        if os.path.isfile(c):
            return c
    raise UserError(f"--init_from={path}: no generator.weights.h5 there (looked in {', '.join(candidates)}); "
                    "point it at a finished pre-training workdir")


def load_generator(cfg, path):
    g = build_generator(cfg.width, cfg.extra_convs)
    f = _find_generator_weights(path)
    try:
        if cfg.extra_convs:  # Table V: the extra convs start random, the rest from G_S
            base = build_generator(cfg.width, 0)
            base.load_weights(f)
            for layer in base.layers:
                g.get_layer(layer.name).set_weights(layer.get_weights())
        else:
            g.load_weights(f)
    except ValueError as e:
        raise UserError(f"{f} does not fit a generator of --width={cfg.width}: {e}") from None
    return g


def _optimizer(cfg, beta1, beta2):
    return keras.optimizers.Adam(cfg.learning_rate, beta_1=beta1, beta_2=beta2, epsilon=cfg.epsilon)


def _identity_net(cfg):
    if not cfg.identity_net:
        logging.warning("identity loss is OFF: no --identity_net given (a face-embedding Keras model or SavedModel)")
        return None
    from isr_kd_tf.identity import load_identity_net
    return load_identity_net(cfg.identity_net)


class NonFiniteLoss(UserError):
    pass


def _check_finite(logs, step):
    for k, v in logs.items():
        if not math.isfinite(float(v)):
            raise NonFiniteLoss(f"loss term {k!r} is {float(v)} at step {step}; stopped, the last checkpoint "
                                "is untouched (lower --learning_rate or check the data)")


def _image_grid(batch, out, teacher_out, n=4):
    rows = []
    bic = tf.image.resize(batch["lr"][:n], batch["hr"].shape[1:3], "bicubic")
    for i in range(min(n, batch["hr"].shape[0])):
        row = [batch["lr"][i], bic[i]]
        if teacher_out is not None:
            row.append(teacher_out["sr"][i])
        row += [out["sr"][i], batch["hr"][i], out["edges"][-1][i], batch[edge_target_keys(batch)[-1]][i]]
        rows.append([np.asarray(x) for x in row])
    return visualize.grid(rows, 96)


def train_stage(cfg, stage, init_path):
    """Trains one stage to the end (resuming if a checkpoint exists); returns G."""
    stage_dir = os.path.join(cfg.workdir, stage)
    done = os.path.join(stage_dir, "DONE")
    if os.path.exists(done):
        logging.info("stage %s already finished in %s", stage, stage_dir)
        return load_generator(cfg, stage_dir)
    os.makedirs(stage_dir, exist_ok=True)
    keras.utils.set_random_seed(cfg.seed)

    generator = load_generator(cfg, init_path) if init_path else build_generator(cfg.width, cfg.extra_convs)
    discriminator = build_discriminator(cfg.width, cfg.hr_size)
    teacher = copy_generator(generator) if stage == "incremental" else None
    weights = losses.LossWeights(alpha=cfg.alpha, beta=cfg.beta, rec=cfg.lambda_rec, edge=cfg.lambda_edge,
                                 lce=cfg.lambda_lce, identity=cfg.lambda_id, adv=cfg.lambda_adv,
                                 d_scale=cfg.d_loss_scale)
    trainer = ISRKDTrainer(generator, discriminator, teacher, stage, weights, _identity_net(cfg),
                           cfg.lce_transform, cfg.identity_temperature, cfg.eval_crop_border, cfg.eval_y_channel)
    g_opt = _optimizer(cfg, cfg.g_beta1, cfg.g_beta2)
    d_opt = _optimizer(cfg, cfg.d_beta1, cfg.d_beta2)
    trainer.compile(g_opt, d_opt)
    g_opt.build(generator.trainable_variables)
    d_opt.build(discriminator.trainable_variables)

    step = tf.Variable(0, dtype=tf.int64, name="step")
    ckpt = tf.train.Checkpoint(generator=generator, discriminator=discriminator,
                               g_optimizer=g_opt, d_optimizer=d_opt, step=step)
    manager = tf.train.CheckpointManager(ckpt, os.path.join(stage_dir, "checkpoints"), cfg.keep_checkpoints)
    if manager.latest_checkpoint:
        ckpt.restore(manager.latest_checkpoint).assert_existing_objects_matched()
        print(f"resuming stage {stage} at step {int(step.numpy())} from {manager.latest_checkpoint}", flush=True)

    specs = _domains(cfg, stage)
    n_images = sum(s.count or data.num_examples(s.name, s.split, cfg.data_dir or None) for s in specs)
    steps_per_epoch = cfg.steps_per_epoch or max(1, n_images // cfg.batch_size)
    total = steps_per_epoch * cfg.epochs
    ds = data.training_dataset(specs, _pipeline_cfg(cfg), cfg.batch_size, cfg.seed, cfg.data_dir or None,
                               list_dir=os.path.join(cfg.workdir, "lists", stage), start_batch=int(step.numpy()))
    train_fn = tf.function(trainer.train_step, jit_compile=cfg.jit_compile, reduce_retracing=True)
    writer = tf.summary.create_file_writer(os.path.join(cfg.workdir, "tensorboard", stage))
    progbar = keras.utils.Progbar(total, verbose=cfg.verbose, stateful_metrics=None)
    start = int(step.numpy())
    progbar.update(start)
    it = iter(ds)
    for s in range(start, total):
        batch = next(it)
        logs = {k: float(v) for k, v in train_fn(batch).items()}
        _check_finite(logs, s + 1)
        for t in trainer.metrics:
            t.reset_state()
        step.assign(s + 1)
        progbar.update(s + 1, [(k, logs[k]) for k in ("g_loss", "d_loss", "rec") if k in logs])
        if (s + 1) % cfg.log_every == 0 or s + 1 == total:
            with writer.as_default(step=s + 1):
                for k, v in logs.items():
                    tf.summary.scalar(f"loss/{k}", v)
                tf.summary.scalar("lr/generator", float(g_opt.learning_rate))
                tf.summary.scalar("lr/discriminator", float(d_opt.learning_rate))
                out = generator(batch["lr"], training=False)
                t_out = teacher(batch["lr"], training=False) if teacher is not None else None
                grid = _image_grid(batch, out, t_out)
                tf.summary.image("LR | bicubic | (teacher) | SR | HR | edge SR | edge HR", grid[None], step=s + 1)
        if (s + 1) % cfg.checkpoint_every == 0:
            manager.save(checkpoint_number=s + 1)
    manager.save(checkpoint_number=total)
    generator.save_weights(os.path.join(stage_dir, "generator.weights.h5"))
    with open(done, "w") as f:
        f.write(f"{total}\n")
    return generator


def super_resolver(generator):
    """One traced SR function per generator, reused across test sets."""
    return tf.function(lambda lr: generator(lr, training=False)["sr"], reduce_retracing=True)


def evaluate_generator(cfg, fn, name, domain):
    """Mean PSNR / SSIM of SR function `fn` on a test split, per the configured protocol."""
    ds = data.eval_dataset(name, "test", domain, _pipeline_cfg(cfg), 16, cfg.data_dir or None, cfg.eval_limit)
    p, s = [], []
    for batch in ds:
        sr = fn(batch["lr"])
        p.append(metrics.psnr(sr, batch["hr"], cfg.eval_crop_border, cfg.eval_y_channel).numpy())
        s.append(metrics.ssim(sr, batch["hr"], cfg.eval_crop_border, cfg.eval_y_channel).numpy())
    return float(np.mean(np.concatenate(p))), float(np.mean(np.concatenate(s)))


def results_markdown(rows, baseline="pretrained"):
    """Table I layout: value (relative % change against the baseline row)."""
    base = {r["test"]: r for r in rows if r["model"] == baseline}
    lines = ["| model | test | PSNR (Δ%) | SSIM (Δ%) | FID |", "|---|---|---|---|---|"]
    for r in rows:
        b = base.get(r["test"])

        def cell(k, r=r, b=b):
            v = f"{r[k]:.4f}"
            if b is not None and r["model"] != baseline and b[k]:
                v += f" ({100 * (r[k] - b[k]) / b[k]:+.2f})"
            return v

        fid = "n/a (no Inception weights)" if r.get("fid") is None else f"{r['fid']:.4f}"
        lines.append(f"| {r['model']} | {r['test']} | {cell('psnr')} | {cell('ssim')} | {fid} |")
    return "\n".join(lines) + "\n"


def write_samples(cfg, generators, path, n=3):
    """samples.png: LR | bicubic | each model | HR, for both test domains."""
    rows = []
    for domain, name in ((data.SOURCE, cfg.source_data), (data.TARGET, cfg.target_data)):
        batch = next(iter(data.eval_dataset(name, "test", domain, _pipeline_cfg(cfg), n, cfg.data_dir or None)))
        bic = tf.image.resize(batch["lr"], batch["hr"].shape[1:3], "bicubic").numpy()
        outs = [g(batch["lr"], training=False)["sr"].numpy() for g in generators.values()]
        for i in range(n):
            rows.append([batch["lr"][i].numpy(), bic[i]] + [o[i] for o in outs] + [batch["hr"][i].numpy()])
    visualize.save_png(path, visualize.grid(rows, 128, ["LR", "bicubic"] + list(generators) + ["HR"]))


def run(cfg):
    """Trains every stage of `cfg`, evaluates each model on both test sets, writes the results."""
    check(cfg)
    os.makedirs(cfg.workdir, exist_ok=True)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)
    trained = {}
    pretrained_dir = os.path.join(cfg.workdir, "pretrain")
    for stage in cfg.stages:
        init = "" if stage == "pretrain" else (pretrained_dir if "pretrain" in trained else cfg.init_from)
        if stage == "pretrain" and cfg.init_from:
            init = cfg.init_from
        print(f"== stage {stage}", flush=True)
        trained[stage] = train_stage(cfg, stage, init)
    if "pretrain" not in trained and cfg.init_from:
        trained = {"pretrain": load_generator(cfg, cfg.init_from), **trained}
    rows = []
    for stage, g in trained.items():
        fn = super_resolver(g)
        for test, domain, name in (("source", data.SOURCE, cfg.source_data), ("target", data.TARGET, cfg.target_data)):
            p, s = evaluate_generator(cfg, fn, name, domain)
            rows.append({"model": ROW_NAME[stage], "test": test, "psnr": p, "ssim": s, "fid": None})
    rows.sort(key=lambda r: (r["test"], list(ROW_NAME.values()).index(r["model"])))
    result = {"rows": rows, "protocol": {"y_channel": cfg.eval_y_channel, "crop_border": cfg.eval_crop_border},
              "source_data": cfg.source_data, "target_data": cfg.target_data}
    with open(os.path.join(cfg.workdir, "results.json"), "w") as f:
        json.dump(result, f, indent=2)
    md = results_markdown(rows)
    with open(os.path.join(cfg.workdir, "results.md"), "w") as f:
        f.write(f"# ISR-KD results ({cfg.source_data} → {cfg.target_data})\n\n{md}")
    write_samples(cfg, {ROW_NAME[k]: v for k, v in trained.items()}, os.path.join(cfg.workdir, "samples.png"))
    print(md, flush=True)
    return result

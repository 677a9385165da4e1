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
import os

import keras
import numpy as np
import tensorflow as tf

from isr_kd_tf import data, evaluation, fid, loop, losses, precision, visualize
from isr_kd_tf.errors import UserError
from isr_kd_tf.export import SuperResolver
from isr_kd_tf.models import build_discriminator, build_generator
from isr_kd_tf.optim import FusedAdam
from isr_kd_tf.trainer import ISRKDTrainer, edge_target_keys

STAGES = ("pretrain", "incremental", "finetune")
ROW_NAME = {"pretrain": "pretrained", "incremental": "incremental_kd", "finetune": "incremental_no_kd"}


def _setting(default, help, choices=None):
    """A Config field with its flag's help text (and its choices, which make it an enum flag)."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices})


@dataclasses.dataclass
class Config:
    """Every experiment setting of both papers; flagfiles override these defaults.

    Each field is a flag of `python -m isr_kd_tf.train` with the same name,
    default and help text.
    """
    # --- the run
    method: str = _setting("isr_kd", "Which paper's experiment: isr_kd (ISR-KD) or pkdn (PKDN).", ("isr_kd", "pkdn"))
    workdir: str = _setting("runs/isr_kd", "Folder for checkpoints, TensorBoard logs, results.md/json and samples.png.")
    stages: tuple = _setting(("pretrain",), "Comma-separated stages, run in order. isr_kd: pretrain (G_S on one "
                             "domain), incremental (with distillation), finetune (no distillation, Cartoon-CelebA-1 "
                             "style); pkdn: teacher, student, student_no_kd.")
    init_from: str = _setting("", "Start from a trained run (work dir, stage dir or weights file): isr_kd the "
                              "pre-trained G_S (and its D and Adam state), pkdn the trained teacher.")
    data_dir: str = _setting("", "tfds data folder (bundled sets are built there once; manual downloads go in "
                             "<data_dir>/downloads/manual). Empty: tfds' default.")
    source_data: str = _setting("celeb_a", "Real-face dataset (ISR-KD's old domain, PKDN's only one): a tfds name "
                                "(celeb_a, synthetic_faces, celeba_dic, helen, celebamask_hq; /tiny etc. for a size) "
                                "or folder:PATH.")
    target_data: str = _setting("icartoonface", "Cartoon dataset, ISR-KD's new domain: icartoonface, avatar_faces "
                                "or folder:PATH.")
    pretrain_data: str = _setting("source", "Which domain ISR-KD pre-training uses: source (Table I) or target "
                                  "(Table IV, cartoons first).", ("source", "target"))
    source_count: int = _setting(10000, "Old-domain images mixed into ISR-KD incremental training (Cartoon-CelebA-N: "
                                 "0, 10000 or 20000; 0 = none); PKDN: training images (0 = all).")
    target_count: int = _setting(20000, "New-domain images in ISR-KD incremental training (Cartoon-CelebA-N: 20000 "
                                 "or 50000; 0 = all).")
    eval_limit: int = _setting(0, "Test images per test set (0 = all).")
    # --- networks
    width: float = _setting(1.0, "Channel-width multiplier of every network (1 = the papers'; 0.125 etc. for CPU "
                            "runs).")
    extra_convs: int = _setting(0, "ISR-KD Table V: extra 3x3 ReLU convs before RGB (6 in the paper), each keeping "
                                "the 128 channels there; random at the start, every other layer from G_S.")
    fresh_discriminator: bool = _setting(False, "ISR-KD incremental/finetune: start D and both Adam states fresh "
                                         "instead of restoring them from --init_from's checkpoint (the official "
                                         "code restores them).")
    hr_size: int = _setting(128, "HR image side in pixels (both papers: 128).")
    scale: int = _setting(8, "Super-resolution factor (both papers: 8).")
    degradation: str = _setting("box", "How LR is made: box (the official ISR-KD code's cascaded x0.5 bilinear = an "
                                "8x8 mean) or bicubic (anti-aliased, the PKDN / DIC protocol).", ("box", "bicubic"))
    edge_thresholds: str = _setting("fixed", "Canny thresholds of the ISR-KD edge targets: fixed (50/255, the "
                                    "official code) or adaptive (Otsu high, half of it low, as the paper words it).",
                                    ("fixed", "adaptive"))
    # --- ISR-KD losses (paper-details §1.5-1.7)
    alpha: float = _setting(5.0, "ISR-KD response-distillation weight: MSE between student and teacher SR "
                            "(Table III: 5, 10, 15; chosen 5).")
    beta: float = _setting(0.01, "ISR-KD feature-distillation weight: MSE between bottleneck features "
                           "(Table III: 0.01-0.08; chosen 0.01).")
    lambda_rec: float = _setting(1.0, "ISR-KD weight of the reconstruction MSE (paper: 1).")
    lambda_edge: float = _setting(0.3, "ISR-KD weight of the edge MSE, summed over the three scales (official "
                                  "code: 0.3).")
    lambda_lce: float = _setting(1.0, "ISR-KD weight of the luminance-chrominance MSE (paper: 1).")
    lambda_id: float = _setting(1.0, "ISR-KD weight of the identity loss (paper: 1; needs --identity_net).")
    lambda_adv: float = _setting(0.005, "ISR-KD weight of the generator's adversarial loss (official code: 0.005).")
    d_loss_scale: float = _setting(1.0, "Factor on the discriminator loss (the official code used 1000).")
    lce_transform: str = _setting("yuv", "Colour transform of the luminance-chrominance loss: yuv (TF's "
                                  "rgb_to_yuv, the official code) or ycbcr (BT.601).", ("yuv", "ycbcr"))
    identity_net: str = _setting("", "Face-embedding network for the ISR-KD identity loss (.keras / .h5 / "
                                 "SavedModel, [0, 255] RGB in, embeddings out; the paper's 512-d Inception). "
                                 "Empty: the loss is off.")
    identity_temperature: float = _setting(0.1, "Softmax temperature of the identity loss's Jensen-Shannon "
                                           "divergence between embeddings.")
    # --- PKDN (paper-details §2); width scales its 64 channels too
    teacher_pfb: bool = _setting(True, "PKDN teacher with parsing-map fusion blocks; --noteacher_pfb: Table 2 "
                                 "'w/o PFB' (each PFB stack -> the student's RCAG).")
    teacher_ffb: bool = _setting(True, "PKDN teacher with feature fusion blocks in the decoder; --noteacher_ffb: "
                                 "Table 2 'w/o FFB'.")
    teacher_arch: str = _setting("pkdn", "PKDN teacher network: pkdn (PFB/FFB) or kdfsrnet (LR + parsing image at "
                                 "the head, 2 RCABs per group: the KDFSRNet baseline).", ("pkdn", "kdfsrnet"))
    pfb_per_stage: int = _setting(2, "Parsing-map fusion blocks per PKDN teacher stage (the paper is silent; 2).")
    ffb_outer_residual: bool = _setting(True, "FFB = F + CA(F + RB(RB(F - F_enc))); --noffb_outer_residual drops "
                                        "the leading F +.")
    student_blocks: int = _setting(6, "RCABs per group of the PKDN student (KDFSRNet: 6, 5,203,995 parameters).")
    student_ffb: bool = _setting(False, "Give the PKDN student feature fusion blocks too (the paper is silent; "
                                 "off).")
    parsing_encoding: str = _setting("color", "How the PKDN teacher sees parsing maps: color (KDFSRNet's 3-channel "
                                     "BiSeNet palette image) or onehot (19 channels).", ("color", "onehot"))
    parsing_net: str = _setting("", "Face-parsing network (.keras / SavedModel, 19 BiSeNet classes at 512x512) that "
                                "labels datasets without parsing maps, once.")
    parsing_cache: str = _setting("", "Folder for --parsing_net's labels (default: <workdir>/parsing_cache).")
    lambda_ts: float = _setting(0.1, "PKDN/KDFSRNet weight of L1(teacher SR, student SR), on through epoch "
                                "--distill_epochs (KDFSRNet: 0.1).")
    lambda_fs: float = _setting(10.0, "PKDN/KDFSRNet weight of the feature distillation (mean L1 over the nine "
                                "taps) at epoch 0, decaying linearly to 0 at --distill_epochs (KDFSRNet: 10).")
    distill_epochs: int = _setting(10, "Epoch index at which lambda_fs reaches 0; both distillation terms are off "
                                   "after it (KDFSRNet: 10).")
    weight_init: str = _setting("keras", "PKDN layers' initialisation: keras (Glorot-uniform, zero bias) or torch "
                                "(PyTorch's defaults, as KDFSRNet trains; set in flags/pkdn/common.cfg).",
                                ("keras", "torch"))
    # --- data augmentation
    augment: bool = _setting(True, "Random horizontal flip (p = 0.5) and rot90 of training batches.")
    rotate_prob: float = _setting(0.5, "Chance of a rot90 by 90/180/270 degrees (uniform among them): 0.5 as the "
                                  "ISR-KD code, 0.75 as KDFSRNet (k = 0..3 each 1/4).")
    # --- optimisation
    learning_rate: float = _setting(1e-4, "Adam learning rate of every network (both papers: 1e-4).")
    g_beta1: float = _setting(0.9, "Adam beta1 of the generator / PKDN network.")
    g_beta2: float = _setting(0.999, "Adam beta2 of the generator / PKDN network (ISR-KD code: 0.999; "
                              "KDFSRNet: 0.99).")
    d_beta1: float = _setting(0.9, "Adam beta1 of the ISR-KD discriminator.")
    d_beta2: float = _setting(0.999, "Adam beta2 of the ISR-KD discriminator.")
    epsilon: float = _setting(1e-8, "Adam epsilon (both papers: 1e-8).")
    batch_size: int = _setting(1, "Images per training step (ISR-KD code: 1; KDFSRNet: 8).")
    epochs: int = _setting(200, "Training epochs per stage (ISR-KD code: 200; KDFSRNet: 400).")
    steps_per_epoch: int = _setting(0, "Steps per epoch (0 = training images / batch size).")
    checkpoint_every: int = _setting(1000, "Steps between checkpoints (a run resumes from the newest).")
    keep_checkpoints: int = _setting(3, "Checkpoints kept per stage.")
    log_every: int = _setting(50, "Steps between TensorBoard summaries (losses, image grids, validation).")
    val_images: int = _setting(32, "Validation images per test set scored every --log_every steps (0 = off).")
    seed: int = _setting(0, "Seed of weights, data selection, shuffling and augmentation.")
    deterministic: bool = _setting(False, "Deterministic TensorFlow ops: a resumed run equals an uninterrupted one "
                                   "bit for bit (slower).")
    jit_compile: bool = _setting(False, "XLA-compile the training step (set by --jit; on this kind of CPU graph mode "
                                 "with oneDNN is faster).")
    strategy: str = _setting("default", "default (one device) or mirrored (every local GPU, or the logical CPUs).",
                             ("default", "mirrored"))
    mixed_precision: bool = _setting(False, "Compute in bfloat16 on a CPU, float16 with loss scaling on a GPU; "
                                     "variables and losses stay float32.")
    # --- evaluation
    eval_crop_border: int = _setting(0, "Pixels cropped from each border before PSNR/SSIM (ISR-KD: 0; PKDN: 8).")
    eval_quantize: bool = _setting(True, "Clip and round SR to uint8 values before scoring, as a saved image is.")
    fid_graph: str = _setting("", "TF-FID Inception graph for FID (classify_image_graph_def.pb of "
                              "inception-2015-12-05.tgz; default: ~/.keras/models/ if there).")
    inception_weights: str = _setting("", "Fallback FID network without --fid_graph: Keras InceptionV3 'notop' .h5; "
                                      "its FID is labelled and not comparable with published ones.")
    eval_jpeg_quality: int = _setting(0, "Score SR and HR after a JPEG round trip at this quality (the official "
                                      "ISR-KD test.py: 95); 0 = off.")
    eval_y_channel: bool = _setting(False, "PSNR/SSIM on the BT.601 Y channel (PKDN) instead of RGB (ISR-KD).")
    verbose: int = _setting(1, "Keras progress bar: 0 none, 1 a live bar, 2 one line per epoch.")


def check_writable(workdir):
    """A clear error before any work when the work directory cannot be written."""
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, ".write_test")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise UserError(f"--workdir={workdir} is not writable ({e.strerror}); choose another folder "
                        "or free space") from None


def save_config(cfg):
    """workdir/config.json: what export, evaluate and infer rebuild the models from."""
    path = os.path.join(cfg.workdir, "config.json")
    with open(path + ".tmp", "w") as f:
        json.dump(dataclasses.asdict(cfg), f, indent=2)
    os.replace(path + ".tmp", path)


def load_config(workdir):
    """The Config of a work directory, or of an export (kept in its assets.extra/)."""
    path = os.path.join(workdir, "config.json")
    if not os.path.isfile(path):
        path = os.path.join(workdir, "assets.extra", "config.json")
    if not os.path.isfile(path):
        raise UserError(f"{workdir} is not a training work directory (no config.json); "
                        "give the --workdir of a run of isr_kd_tf.train")
    with open(path) as f:
        values = json.load(f)
    known = {f.name for f in dataclasses.fields(Config)}
    values = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items() if k in known}
    return Config(**values)


def check(cfg):
    """Rejects contradictory or out-of-range settings before any work, one line each."""
    if cfg.method not in ("isr_kd", "pkdn"):
        raise UserError(f"--method={cfg.method!r}: use isr_kd or pkdn")
    for name in ("batch_size", "epochs", "hr_size", "scale", "checkpoint_every", "log_every", "keep_checkpoints"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name} must be at least 1 (got {getattr(cfg, name)})")
    for name in ("steps_per_epoch", "eval_limit", "val_images", "source_count", "target_count"):
        if getattr(cfg, name) < 0:
            raise UserError(f"--{name} must not be negative (got {getattr(cfg, name)})")
    if not 0 <= cfg.rotate_prob <= 1:
        raise UserError(f"--rotate_prob must be in [0, 1] (got {cfg.rotate_prob})")
    if cfg.width <= 0:
        raise UserError(f"--width must be positive (got {cfg.width})")
    if cfg.strategy not in ("default", "mirrored"):
        raise UserError(f"--strategy={cfg.strategy!r}: use default or mirrored")
    if cfg.learning_rate <= 0:
        raise UserError(f"--learning_rate must be positive (got {cfg.learning_rate})")
    if cfg.hr_size % cfg.scale:
        raise UserError(f"--hr_size={cfg.hr_size} is not a multiple of --scale={cfg.scale}")
    if not cfg.stages:
        raise UserError("--stages is empty")
    if cfg.method == "pkdn":
        from pkdn_tf import experiment
        return experiment.check(cfg)
    for s in cfg.stages:
        if s not in STAGES:
            raise UserError(f"--stages: {s!r} is not one of {', '.join(STAGES)}")
    first = cfg.stages[0]
    if first in ("incremental", "finetune") and not cfg.init_from:
        raise UserError(f"--stages starts with {first} but no pre-trained generator is given: "
                        "set --init_from to a pre-training workdir or run the pretrain stage first")
    if cfg.pretrain_data not in ("source", "target"):
        raise UserError("--pretrain_data must be 'source' or 'target'")
    if cfg.scale != 8:
        raise UserError("--scale: the ISR-KD generator is x8 (three x2 stages)")


def _pipeline_cfg(cfg):
    return data.PipelineConfig(hr_size=cfg.hr_size, scale=cfg.scale, degradation=cfg.degradation,
                               edge_thresholds=cfg.edge_thresholds, flip=cfg.augment, rotate=cfg.augment,
                               rotate_prob=cfg.rotate_prob)


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


def test_sets(cfg):
    """(row label, domain id, dataset) of every test set a run is scored on."""
    if cfg.method == "pkdn":
        return [(cfg.source_data, data.SOURCE, cfg.source_data)]
    return [("source", data.SOURCE, cfg.source_data), ("target", data.TARGET, cfg.target_data)]


def pipeline_config(cfg):
    if cfg.method == "pkdn":
        from pkdn_tf.experiment import pipeline_cfg
        return pipeline_cfg(cfg)
    return _pipeline_cfg(cfg)


def score_on(cfg, predict, name, domain, split="test", limit=None, **kwargs):
    """{"psnr", "ssim", "fid"} of `predict` on a split, per the run's protocol (kwargs: evaluation.score)."""
    limit = cfg.eval_limit if limit is None else limit
    ds = data.eval_dataset(name, split, domain, pipeline_config(cfg), 16, cfg.data_dir or None, limit)
    return evaluation.score(predict, ds, cfg.eval_crop_border, cfg.eval_y_channel, quantize=cfg.eval_quantize,
                            jpeg_quality=cfg.eval_jpeg_quality, **kwargs)


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


def load_generator(cfg, path, extra_convs=None):
    """A trained generator of `cfg`'s width from a workdir, stage dir or weights file.

    extra_convs (default cfg.extra_convs) > 0 and a plain G_S file: Table V's
    extended network, its extra convs random, every other layer from G_S.
    """
    extra = cfg.extra_convs if extra_convs is None else extra_convs
    f = _find_generator_weights(path)
    try:
        g = build_generator(cfg.width, extra)
        g.load_weights(f)
        return g
    except ValueError as e:
        mismatch = e
    try:        # a G_S file for the extended network
        base = build_generator(cfg.width, 0)
        base.load_weights(f)
    except ValueError:
        raise UserError(f"{f} does not fit a generator of --width={cfg.width}, --extra_convs={extra}: "
                        f"{mismatch}") from None
    if not extra:
        return base
    g = build_generator(cfg.width, extra)
    for layer in base.layers:
        g.get_layer(layer.name).set_weights(layer.get_weights())
    return g


def load_pretrained(cfg, path):
    """G_S, the pre-trained generator itself (never extended): the teacher and the `pretrained` row."""
    return load_generator(cfg, path, extra_convs=0)


def init_checkpoint(path):
    """The newest training checkpoint behind --init_from (None for a bare weights file)."""
    if path.endswith(".h5"):
        return None
    for d in (os.path.join(path, "checkpoints"), os.path.join(path, "pretrain", "checkpoints")):
        latest = tf.train.latest_checkpoint(d)
        if latest:
            return latest
    return None


def restore_gan_state(cfg, path, discriminator, g_opt, d_opt):
    """D and both Adam states from --init_from's checkpoint, as the official code restores its
    pre-training checkpoint (G's Adam state only where G's variables are the same)."""
    ckpt = init_checkpoint(path)
    if ckpt is None:
        print(f"note: {path} has generator weights only; D and the optimizers start fresh", flush=True)
        return
    objects = {"d_optimizer": d_opt} if cfg.extra_convs else {"g_optimizer": g_opt, "d_optimizer": d_opt}
    try:
        loop.restore_model(discriminator, ckpt, "discriminator")
        tf.train.Checkpoint(**objects).restore(ckpt).expect_partial().assert_existing_objects_matched()
    except (AssertionError, ValueError, tf.errors.OpError) as e:
        raise UserError(f"--init_from={path}: the discriminator or optimizer state in {ckpt} does not fit these "
                        f"flags ({str(e).splitlines()[0][:200]}); pass --fresh_discriminator to start them fresh") from None
    print(f"discriminator and Adam state{'s' if len(objects) == 2 else ' of D'} restored from {ckpt}", flush=True)


def optimizer(cfg, beta1, beta2):
    return precision.wrap_optimizer(FusedAdam(cfg.learning_rate, beta_1=beta1, beta_2=beta2, epsilon=cfg.epsilon))


def _identity_net(cfg):
    if not cfg.identity_net:
        return None
    from isr_kd_tf.pretrained import load_identity_net
    return load_identity_net(cfg.identity_net)


def _image_grid(batch, generator, teacher, n=4):
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


def validation(cfg, predict):
    """PSNR / SSIM per test set on the first --val_images validation images, and bicubic's
    on the same images for reference (None: off)."""
    if not cfg.val_images:
        return None
    baseline = {}

    def validate():
        out = {}
        for test, domain, name in test_sets(cfg):
            if test not in baseline:     # the same images every time: score bicubic once
                baseline[test] = score_on(cfg, evaluation.bicubic, name, domain, "validation", cfg.val_images)
            r = score_on(cfg, predict, name, domain, "validation", cfg.val_images)
            out[f"psnr_{test}"], out[f"ssim_{test}"] = r["psnr"], r["ssim"]
            out[f"psnr_{test}_bicubic"], out[f"ssim_{test}_bicubic"] = baseline[test]["psnr"], baseline[test]["ssim"]
        return out
    return validate


def train_stage(cfg, stage, init_path):
    """Trains one stage to the end (resuming if a checkpoint exists); returns G."""
    stage_dir = os.path.join(cfg.workdir, stage)
    if loop.is_done(stage_dir):
        logging.info("stage %s already finished in %s", stage, stage_dir)
        return load_generator(cfg, stage_dir)
    keras.utils.set_random_seed(cfg.seed)
    strategy = loop.strategy_for(cfg)
    with strategy.scope():
        generator = load_generator(cfg, init_path) if init_path else build_generator(cfg.width, cfg.extra_convs)
        discriminator = build_discriminator(cfg.width, cfg.hr_size)
        teacher = load_pretrained(cfg, init_path) if stage == "incremental" else None
        weights = losses.LossWeights(alpha=cfg.alpha, beta=cfg.beta, rec=cfg.lambda_rec, edge=cfg.lambda_edge,
                                     lce=cfg.lambda_lce, identity=cfg.lambda_id, adv=cfg.lambda_adv,
                                     d_scale=cfg.d_loss_scale)
        trainer = ISRKDTrainer(generator, discriminator, teacher, stage, weights, _identity_net(cfg),
                               cfg.lce_transform, cfg.identity_temperature)
        g_opt = optimizer(cfg, cfg.g_beta1, cfg.g_beta2)
        d_opt = optimizer(cfg, cfg.d_beta1, cfg.d_beta2)
        trainer.compile(g_opt, d_opt)
        g_opt.build(generator.trainable_variables)
        d_opt.build(discriminator.trainable_variables)
        if init_path and stage != "pretrain" and not cfg.fresh_discriminator:
            restore_gan_state(cfg, init_path, discriminator, g_opt, d_opt)
    specs = _domains(cfg, stage)
    _, total = loop.stage_steps(cfg, specs)
    loop.fit(cfg, stage, trainer, dict(generator=generator, discriminator=discriminator, g_optimizer=g_opt,
                                       d_optimizer=d_opt),
             specs, _pipeline_cfg(cfg), total, grid_fn=lambda b: _image_grid(b, generator, teacher),
             validate_fn=validation(cfg, super_resolver(generator)), progress_keys=("g_loss", "d_loss", "rec"),
             strategy=strategy)
    generator.save_weights(os.path.join(stage_dir, "generator.weights.h5"))
    loop.mark_done(stage_dir, total)
    return generator


def super_resolver(generator):
    """batch -> SR of an ISR-KD generator, traced once and reused across test sets."""
    return SuperResolver(generator).on_batch


def report(cfg, predictors, title, baseline, order=None):
    """Scores every predictor, and bicubic upsampling, on the run's test sets; writes
    results.json/.md and samples.png."""
    extractor = fid.fid_network(cfg.fid_graph, cfg.inception_weights)
    scored = {evaluation.BICUBIC: evaluation.bicubic, **predictors}
    rows = [{"model": model, "test": test, **score_on(cfg, fn, name, domain, fid_extractor=extractor)}
            for model, fn in scored.items() for test, domain, name in test_sets(cfg)]
    if order:
        order = [evaluation.BICUBIC, *order]
        rows.sort(key=lambda r: (r["test"], order.index(r["model"])))
    extra = dict(protocol={"y_channel": cfg.eval_y_channel, "crop_border": cfg.eval_crop_border,
                           "jpeg_quality": cfg.eval_jpeg_quality}, source_data=cfg.source_data)
    if cfg.method == "isr_kd":
        extra["target_data"] = cfg.target_data
    md = evaluation.write_results(cfg.workdir, title, rows, baseline,
                                  getattr(extractor, "label", fid.LABEL), **extra)
    evaluation.write_samples(os.path.join(cfg.workdir, "samples.png"), [t[1:] for t in test_sets(cfg)],
                             predictors, pipeline_config(cfg), cfg.data_dir or None,
                             n=3 if cfg.method == "isr_kd" else 4)
    print(md, flush=True)
    print(f"wrote {cfg.workdir}/results.md, results.json and samples.png; "
          f"pictures and curves: tensorboard --logdir {cfg.workdir}/tensorboard", flush=True)
    return {"rows": rows, "baseline": baseline, **extra}


def run(cfg):
    """Trains every stage of `cfg`, evaluates each model on its test sets, writes the results."""
    check(cfg)
    check_writable(cfg.workdir)
    save_config(cfg)
    if cfg.deterministic:
        tf.config.experimental.enable_op_determinism()
    keras.utils.set_random_seed(cfg.seed)
    print(f"precision policy: {precision.set_policy(cfg.mixed_precision)}", flush=True)
    if cfg.method == "pkdn":
        from pkdn_tf import experiment
        return experiment.run(cfg)
    if not cfg.identity_net:
        logging.warning("identity loss is OFF: no --identity_net given (a face-embedding Keras model or SavedModel)")
    trained = {}
    pretrained_dir = os.path.join(cfg.workdir, "pretrain")
    for stage in cfg.stages:
        init = "" if stage == "pretrain" else (pretrained_dir if "pretrain" in trained else cfg.init_from)
        if stage == "pretrain" and cfg.init_from:
            init = cfg.init_from
        print(f"== stage {stage}", flush=True)
        trained[stage] = train_stage(cfg, stage, init)
    if "pretrain" not in trained and cfg.init_from:
        trained = {"pretrain": load_pretrained(cfg, cfg.init_from), **trained}
    predictors = {ROW_NAME[stage]: super_resolver(g) for stage, g in trained.items()}
    return report(cfg, predictors, f"ISR-KD results ({cfg.source_data} → {cfg.target_data})", "pretrained",
                  order=list(ROW_NAME.values()))

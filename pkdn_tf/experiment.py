"""PKDN experiments: train the parsing-guided teacher, then distil it into the
student; optionally a student without distillation for comparison.

Same work directory layout, loop, checkpoints and results schema as ISR-KD:
  teacher/, student/, student_no_kd/   checkpoints, model.weights.h5, DONE
  tensorboard/<stage>/, lists/, results.json, results.md, samples.png
"""

import logging
import os

import keras
import tensorflow as tf

from isr_kd_tf import data, loop, train_lib, visualize
from isr_kd_tf.data import parsing as parsing_lib
from isr_kd_tf.errors import UserError
from isr_kd_tf.models.generator import scaled
from pkdn_tf import models
from pkdn_tf.trainer import PKDNTrainer, predict

STAGES = ("teacher", "student", "student_no_kd")
ROW_NAME = {"teacher": "teacher", "student": "student_kd", "student_no_kd": "student_no_kd"}
WEIGHTS = "model.weights.h5"


def check(cfg):
    for s in cfg.stages:
        if s not in STAGES:
            raise UserError(f"--stages: {s!r} is not one of {', '.join(STAGES)} (--method=pkdn)")
    if "student" in cfg.stages and "teacher" not in cfg.stages[:cfg.stages.index("student")] and not cfg.init_from:
        raise UserError("--stages has a PKDN student but no teacher: run the teacher stage first or set "
                        "--init_from to a trained teacher's workdir")
    if cfg.weight_init not in models.WEIGHT_INITS:
        raise UserError(f"--weight_init={cfg.weight_init!r}: use {' or '.join(models.WEIGHT_INITS)}")
    if cfg.teacher_arch not in ("pkdn", "kdfsrnet"):
        raise UserError(f"--teacher_arch={cfg.teacher_arch!r}: use pkdn or kdfsrnet")
    parsing_lib.channels(cfg.parsing_encoding)
    if cfg.hr_size % 16:
        raise UserError(f"--hr_size={cfg.hr_size}: PKDN halves the size four times; use a multiple of 16")
    for name in ("pfb_per_stage", "student_blocks"):
        if getattr(cfg, name) < 1:
            raise UserError(f"--{name} must be at least 1 (got {getattr(cfg, name)})")
    if cfg.distill_epochs < 0 or cfg.lambda_ts < 0 or cfg.lambda_fs < 0:
        raise UserError("--distill_epochs, --lambda_ts and --lambda_fs must not be negative")


def pipeline_cfg(cfg):
    return data.PipelineConfig(hr_size=cfg.hr_size, scale=cfg.scale, degradation=cfg.degradation,
                               flip=cfg.augment, rotate=cfg.augment, rotate_prob=cfg.rotate_prob, edges=False,
                               upsample_lr=True,
                               parsing_encoding=cfg.parsing_encoding, parsing_net=cfg.parsing_net,
                               parsing_cache=cfg.parsing_cache or os.path.join(cfg.workdir, "parsing_cache"))


def build_model(cfg, role):
    """The teacher or the student of `cfg`, with weights created."""
    feats = scaled(models.N_FEATS, cfg.width)
    if role == "teacher":
        ch = parsing_lib.channels(cfg.parsing_encoding)
        if cfg.teacher_arch == "kdfsrnet":
            m = models.KDFSRNetTeacher(ch, n_feats=feats)
        else:
            m = models.Teacher(ch, cfg.pfb_per_stage, cfg.teacher_pfb, cfg.teacher_ffb, cfg.ffb_outer_residual,
                               n_feats=feats, rcag_blocks=cfg.student_blocks)
    else:
        m = models.Student(cfg.student_ffb, cfg.student_blocks, feats)
    return models.build(m, cfg.hr_size, cfg.weight_init, cfg.seed)


def load_model(cfg, role, path):
    """A trained teacher/student from a workdir, a stage dir or a weights file."""
    candidates = [path] if path.endswith(".h5") else [os.path.join(path, WEIGHTS), os.path.join(path, role, WEIGHTS)]
    found = next((c for c in candidates if os.path.isfile(c)), None)
    if found is None:
        raise UserError(f"no trained PKDN {role} at {path} (looked for {', '.join(candidates)}); "
                        f"train the {role} stage first or point --init_from at its workdir")
    m = build_model(cfg, role)
    try:
        m.load_weights(found)
    except ValueError as e:
        raise UserError(f"{found} does not fit the {role} these flags describe: {e}") from None
    return m


def _require_parsing(cfg):
    spec = data.load(cfg.source_data, "train", cfg.data_dir or None).element_spec
    if "parsing" not in spec and not cfg.parsing_net:
        raise UserError(f"--source_data={cfg.source_data} has no parsing maps, which the PKDN teacher needs; "
                        "use synthetic_faces, a dataset with maps, or label it with --parsing_net=<BiSeNet-style model>")


def predictor(model):
    """batch -> SR in [0, 255], traced once per model."""
    @tf.function(reduce_retracing=True)
    def sr(batch):
        return predict(model, batch)[0]
    return sr


def _image_grid(batch, model, teacher, n=4):
    sr = predict(model, {k: v[:n] for k, v in batch.items()})[0].numpy()
    t_sr = predict(teacher, {k: v[:n] for k, v in batch.items()})[0].numpy() if teacher is not None else None
    rows = []
    for i in range(min(n, sr.shape[0])):
        row = [batch["lr"][i].numpy(), batch["lr_up"][i].numpy()]
        if "parsing" in batch:
            row.append(visualize.colour_parsing(batch["parsing"][i].numpy()))
        row += ([t_sr[i]] if t_sr is not None else []) + [sr[i], batch["hr"][i].numpy()]
        rows.append(row)
    labels = ["LR", "bicubic"] + (["parsing"] if "parsing" in batch else []) + (
        ["teacher"] if teacher is not None else []) + ["SR", "HR"]
    return visualize.grid(rows, 96, labels)


def train_stage(cfg, stage, teacher_path):
    """Trains the teacher, or a student (distilled from the teacher at `teacher_path` for stage 'student')."""
    stage_dir = os.path.join(cfg.workdir, stage)
    role = "teacher" if stage == "teacher" else "student"
    if loop.is_done(stage_dir):
        logging.info("stage %s already finished in %s", stage, stage_dir)
        return load_model(cfg, role, stage_dir)
    keras.utils.set_random_seed(cfg.seed)
    specs = [data.DomainSpec(cfg.source_data, data.SOURCE, cfg.source_count if cfg.source_count else 0)]
    steps_per_epoch, total = loop.stage_steps(cfg, specs)
    strategy = loop.strategy_for(cfg)
    with strategy.scope():
        teacher = load_model(cfg, "teacher", teacher_path) if stage == "student" else None
        if role == "teacher" or teacher is not None:
            _require_parsing(cfg)
        model = build_model(cfg, role)
        trainer = PKDNTrainer(model, teacher, cfg.lambda_ts, cfg.lambda_fs, cfg.distill_epochs, steps_per_epoch)
        opt = train_lib.optimizer(cfg, cfg.g_beta1, cfg.g_beta2)
        trainer.compile(optimizer=opt)
        opt.build(model.trainable_variables)
    loop.fit(cfg, stage, trainer, dict(model=model, optimizer=opt), specs, pipeline_cfg(cfg), total,
             grid_fn=lambda b: _image_grid(b, model, teacher), validate_fn=train_lib.validation(cfg, predictor(model)),
             progress_keys=("loss", "l1", "fs"), strategy=strategy)
    model.save_weights(os.path.join(stage_dir, WEIGHTS))
    loop.mark_done(stage_dir, total)
    return model


def run(cfg):
    """Trains the configured stages in order, scores every model, writes the results."""
    trained = {}
    for stage in cfg.stages:
        teacher_path = os.path.join(cfg.workdir, "teacher") if "teacher" in trained else cfg.init_from
        print(f"== stage {stage}", flush=True)
        trained[stage] = train_stage(cfg, stage, teacher_path)
    if "teacher" not in trained and cfg.init_from and "student" in trained:
        trained = {"teacher": load_model(cfg, "teacher", cfg.init_from), **trained}
    predictors = {ROW_NAME[s]: predictor(m) for s, m in trained.items()}
    baseline = "student_no_kd" if "student_no_kd" in trained else next(iter(predictors))
    return train_lib.report(cfg, predictors, f"PKDN results ({cfg.source_data})", baseline)

"""PKDN as a method: train the parsing-guided teacher, then distil it into the
LR-only student; optionally the same student without distillation (arXiv 2409.14385).

Stages: teacher, student (distilled), student_no_kd. Scored like DIC /
KDFSRNet on the real-face set: Y channel, 8-pixel border crop.
"""

import dataclasses
import os

from isr_kd_tf import data, layout, methods, visualize
from isr_kd_tf.errors import UserError
from isr_kd_tf.layers import scaled
from pkdn_tf import datasets, models  # noqa: F401  (datasets: registers PKDN's face-parsing sets)
from pkdn_tf import parsing as parsing_lib
from pkdn_tf.config import PKDNConfig
from pkdn_tf.trainer import PKDNTrainer, predict


def role(stage):
    return "teacher" if stage == "teacher" else "student"


def build_model(s, stage):
    """The teacher or the student of the settings, with weights created."""
    p = s.paper
    feats = scaled(models.N_FEATS, s.run.width)
    if role(stage) == "teacher":
        ch = parsing_lib.channels(p.parsing_encoding)
        if p.teacher_arch == "kdfsrnet":
            m = models.KDFSRNetTeacher(ch, n_feats=feats)
        else:
            m = models.Teacher(ch, p.pfb_per_stage, p.teacher_pfb, p.teacher_ffb, p.ffb_outer_residual,
                               n_feats=feats, rcag_blocks=p.student_blocks)
    else:
        m = models.Student(p.student_ffb, p.student_blocks, feats)
    return models.build(m, weight_init=p.weight_init, seed=s.run.seed)


def load_model(s, stage, path):
    """A trained teacher/student from a workdir, a stage dir or a weights file."""
    f = layout.find_weights(path, stage)
    m = build_model(s, stage)
    try:
        m.load_weights(f)
    except ValueError as e:
        raise UserError(f"{f} does not fit the {role(stage)} these flags describe: {e}") from None
    return m


def _require_parsing(s):
    spec = data.load(s.run.source_data, "train", s.run.data_dir or None).element_spec
    if "parsing" not in spec and not s.paper.parsing_net:
        raise UserError(f"--source_data={s.run.source_data} has no parsing maps, which the PKDN teacher needs; "
                        "use synthetic_faces, a dataset with maps, or label it with --parsing_net=<BiSeNet-style model>")


def image_grid(batch, model, teacher, n=4):
    sr = predict(model, {k: v[:n] for k, v in batch.items()})[0].numpy()
    t_sr = predict(teacher, {k: v[:n] for k, v in batch.items()})[0].numpy() if teacher is not None else None
    rows = []
    for i in range(min(n, sr.shape[0])):
        row = [batch["lr"][i].numpy(), batch["lr_up"][i].numpy()]
        if "parsing" in batch:
            row.append(parsing_lib.colour(batch["parsing"][i].numpy()))
        row += ([t_sr[i]] if t_sr is not None else []) + [sr[i], batch["hr"][i].numpy()]
        rows.append(row)
    labels = ["LR", "bicubic"] + (["parsing"] if "parsing" in batch else []) + (
        ["teacher"] if teacher is not None else []) + ["SR", "HR"]
    return visualize.grid(rows, 96, labels)


@dataclasses.dataclass(frozen=True)
class NetworkInputs:
    """PKDN's batch features: the LR face bicubic-upsampled to HR size (what both networks read) and
    the parsing map encoded for the teacher (where the set has maps)."""
    hr_size: int
    parsing_encoding: str

    def __call__(self, batch):
        out = {"lr_up": data.upsample_bicubic(batch["lr"], [self.hr_size, self.hr_size])}
        if self.parsing_encoding and "parsing" in batch:
            out["parsing_input"] = parsing_lib.encode_parsing(batch["parsing"], self.parsing_encoding)
        return out


class PKDN(methods.Method):
    name = "pkdn"
    config = PKDNConfig
    stages = ("teacher", "student", "student_no_kd")
    row_names = {"teacher": "teacher", "student": "student_kd", "student_no_kd": "student_no_kd"}
    export_order = ("student", "student_no_kd", "teacher")
    start_from = {"student": "teacher"}
    baseline_row = "student_no_kd"
    samples_per_set = 4
    benchmarks_module = "pkdn_tf.bench"
    claims_module = "pkdn_tf.claims"
    onnx_refusal = ("PKDN exports are not offered as ONNX (their in-graph bicubic upsampling and padding do not "
                    "convert faithfully); use the SavedModel")

    def check(self, s):
        if s.run.hr_size % 16:
            raise UserError(f"--hr_size={s.run.hr_size}: PKDN halves the size four times; use a multiple of 16")

    def batch_features(self, s):
        return NetworkInputs(s.run.hr_size, s.paper.parsing_encoding)

    def source_step(self, s):
        p = s.paper
        if not p.parsing_net:
            return None
        cache = p.parsing_cache or os.path.join(s.run.workdir, "parsing_cache")

        def label(ds, name, split):      # maps for sets without them, from the parsing network, cached
            return ds if "parsing" in ds.element_spec else parsing_lib.attach_parsing(ds, name, split, p.parsing_net,
                                                                                      cache)
        return label

    def sample_columns(self, s, batch):
        if "parsing" not in batch:
            return {}
        return {"parsing": [parsing_lib.colour(m) for m in batch["parsing"].numpy()]}

    def test_sets(self, s):
        return [(s.run.source_data, data.SOURCE, s.run.source_data)]

    def domains(self, s, stage):
        return [data.DomainSpec(s.run.source_data, data.SOURCE, s.paper.train_count)]

    def build(self, s, stage):
        return build_model(s, stage)

    def load(self, s, stage, path):
        return load_model(s, stage, path)

    def training(self, s, stage):
        p = s.paper
        teacher = load_model(s, "teacher", stage.init_path) if stage.name == "student" else None
        if stage.name == "teacher" or teacher is not None:
            _require_parsing(s)
        model = build_model(s, stage.name)
        trainer = PKDNTrainer(model, teacher, p.lambda_ts, p.lambda_fs, p.distill_epochs, stage.steps_per_epoch)
        trainer.compile(optimizer=stage.optimizer(model.trainable_variables, p.beta1, p.beta2))
        return methods.Training(trainer, model, dict(optimizer=trainer.optimizer),
                                grid=lambda b: image_grid(b, model, teacher), progress_keys=("loss", "l1", "fs"))

    def predictor(self, s, model):
        import tensorflow as tf

        @tf.function(reduce_retracing=True, autograph=False)
        def sr(batch):
            return predict(model, batch)[0]
        return sr

    def serve(self, s, model, images):
        if model.needs_parsing:
            raise UserError("the PKDN teacher needs parsing maps at inference; export a student (--stage=student)")
        return models.super_resolve(model, images, s.run.scale)

    def title(self, s):
        return f"PKDN results ({s.run.source_data})"


METHOD = methods.register(PKDN())

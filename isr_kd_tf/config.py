"""Settings: one shared run config, plus the config of the method (paper) that runs.

Each field is a flag of `python -m isr_kd_tf.train` with the same name,
default and help text. The run config holds what every method means the
same way (data, sizes, schedule, checkpoints, evaluation protocol); each
method's own dataclass holds its paper's settings. A setting of another
method is refused, naming its owner.
"""

import dataclasses
import json
import os

from isr_kd_tf import layout, methods
from isr_kd_tf.errors import UserError


def setting(default, help, choices=None, minimum=None, maximum=None, positive=False):
    """A config field with its flag's help text and what `validate` checks: its choices (which make it
    an enum flag), its bounds, or that it is positive."""
    return dataclasses.field(default=default, metadata={"help": help, "choices": choices, "minimum": minimum,
                                                        "maximum": maximum, "positive": positive})


def problems(part):
    """One line for each field of a settings dataclass outside its choices or bounds."""
    out = []
    for f in dataclasses.fields(part):
        value, meta = getattr(part, f.name), f.metadata
        if meta.get("choices") and value not in meta["choices"]:
            out.append(f"--{f.name}={value!r}: use {' or '.join(meta['choices'])}")
        elif meta.get("positive") and not value > 0:
            out.append(f"--{f.name} must be positive (got {value})")
        elif meta.get("minimum") is not None and value < meta["minimum"]:
            out.append(f"--{f.name} must be at least {meta['minimum']} (got {value})")
        elif meta.get("maximum") is not None and value > meta["maximum"]:
            out.append(f"--{f.name} must be at most {meta['maximum']} (got {value})")
    return out


def validate(s):
    """Every run and method setting against the choices and bounds declared beside it: a UserError
    naming the first that is out (before any work)."""
    found = problems(s.run) + problems(s.paper)
    if found:
        raise UserError(found[0])


@dataclasses.dataclass
class RunConfig:
    """What every method means the same way."""
    method: str = setting("isr_kd", "Which method (paper) runs: isr_kd (ISR-KD), pkdn (PKDN), or a module path that "
                          "registers one (isr_kd_tf.methods.register).")
    workdir: str = setting("runs/isr_kd", "Folder for checkpoints, TensorBoard logs, results.md/json and samples.png.")
    stages: tuple = setting(("pretrain",), "Comma-separated stages, run in order. isr_kd: pretrain (G_S on one "
                            "domain), incremental (with distillation), finetune (no distillation, Cartoon-CelebA-1 "
                            "style); pkdn: teacher, student, student_no_kd.")
    init_from: str = setting("", "Start from a trained run (work dir, stage dir or weights file): isr_kd the "
                             "pre-trained G_S (and its D and Adam state), pkdn the trained teacher.")
    data_dir: str = setting("", "tfds data folder (bundled sets are built there once; manual downloads go in "
                            "<data_dir>/downloads/manual). Empty: tfds' default.")
    real_data_dir: str = setting("", "Folder holding the real-image sets utkface/, anime_faces/ and lfw_parts/ "
                                 "(each images/ [masks/] and train.txt, validation.txt, test.txt), read once when a "
                                 "set is first built into --data_dir. Empty: <data_dir>/downloads/manual/<name>.")
    source_data: str = setting("celeb_a", "Real-face dataset (ISR-KD's old domain, PKDN's only one): a tfds name "
                               "(celeb_a, utkface, lfw_parts, synthetic_faces, celeba_dic, helen, celebamask_hq; "
                               "/tiny etc. for a size) or folder:PATH.")
    eval_limit: int = setting(0, "Test images per test set (0 = all).", minimum=0)
    width: float = setting(1.0, "Channel-width multiplier of every network (1 = the papers'; 0.125 etc. for CPU "
                           "runs).", positive=True)
    hr_size: int = setting(128, "HR image side in pixels (both papers: 128).", minimum=1)
    scale: int = setting(8, "Super-resolution factor (both papers: 8).", minimum=1)
    degradation: str = setting("box", "How LR is made: box (the official ISR-KD code's cascaded x0.5 bilinear = an "
                               "8x8 mean) or bicubic (anti-aliased, the PKDN / DIC protocol).", ("box", "bicubic"))
    augment: bool = setting(True, "Random horizontal flip (p = 0.5) and rot90 of training batches.")
    rotate_prob: float = setting(0.5, "Chance of a rot90 by 90/180/270 degrees (uniform among them): 0.5 as the "
                                 "ISR-KD code, 0.75 as KDFSRNet (k = 0..3 each 1/4).", minimum=0.0, maximum=1.0)
    learning_rate: float = setting(1e-4, "Adam learning rate of every network (both papers: 1e-4).", positive=True)
    lr_schedule: str = setting("constant", "Learning rate over a stage: constant (both papers) or cosine (from "
                               "--learning_rate down to 0 over the stage's own steps; the bundled-domain protocol).",
                               ("constant", "cosine"))
    epsilon: float = setting(1e-8, "Adam epsilon (both papers: 1e-8).", positive=True)
    epsilon_placement: str = setting("tf", "Where Adam adds epsilon: tf (to sqrt(v) before bias correction: "
                                     "TensorFlow, the official ISR-KD code) or torch (to sqrt(v_hat) after it: "
                                     "PyTorch, the official KDFSRNet code).", ("tf", "torch"))
    batch_size: int = setting(1, "Images per training step (ISR-KD code: 1; KDFSRNet: 8).", minimum=1)
    epochs: int = setting(200, "Training epochs per stage (ISR-KD code: 200; KDFSRNet: 400).", minimum=1)
    steps_per_epoch: int = setting(0, "Steps per epoch (0 = training images / batch size).", minimum=0)
    checkpoint_every: int = setting(1000, "Steps between checkpoints (a run resumes from the newest).", minimum=1)
    keep_checkpoints: int = setting(3, "Checkpoints kept per stage.", minimum=1)
    log_every: int = setting(50, "Steps between TensorBoard summaries (losses, image grids, validation).", minimum=1)
    val_images: int = setting(32, "Validation images per test set scored every --log_every steps (0 = off).", minimum=0)
    seed: int = setting(0, "Seed of weights, data selection, shuffling and augmentation.")
    deterministic: bool = setting(False, "Deterministic TensorFlow ops: a resumed run equals an uninterrupted one "
                                  "bit for bit (slower).")
    jit: str = setting("auto", "XLA for the training step: auto (on only where a GPU is present; on this kind "
                       "of CPU graph mode with oneDNN is faster), on or off.", ("auto", "on", "off"))
    strategy: str = setting("default", "default (one device), mirrored (every local GPU, or the logical CPUs) or "
                            "multi_worker (the machines of TF_CONFIG; python -m isr_kd_tf.launch starts them on one).",
                            ("default", "mirrored", "multi_worker"))
    cluster_timeout: float = setting(300.0, "Seconds a --strategy=multi_worker worker waits for the others to start "
                                     "before it stops, naming those that do not answer.", positive=True)
    mixed_precision: bool = setting(False, "Compute in bfloat16 on a CPU, float16 with loss scaling on a GPU; "
                                    "variables and losses stay float32.")
    eval_crop_border: int = setting(0, "Pixels cropped from each border before PSNR/SSIM (ISR-KD: 0; PKDN: 8).", minimum=0)
    eval_quantize: bool = setting(True, "Clip and round SR to uint8 values before scoring, as a saved image is.")
    fid_graph: str = setting("", "TF-FID Inception graph for FID (classify_image_graph_def.pb of "
                             "inception-2015-12-05.tgz; default: ~/.keras/models/ if there).")
    inception_weights: str = setting("", "Fallback FID network without --fid_graph: Keras InceptionV3 'notop' .h5; "
                                     "its FID is labelled and not comparable with published ones.")
    eval_jpeg_quality: int = setting(0, "Score SR and HR after a JPEG round trip at this quality (the official "
                                     "ISR-KD test.py: 95); 0 = off.", minimum=0)
    eval_y_channel: bool = setting(False, "PSNR/SSIM on the BT.601 Y channel (PKDN) instead of RGB (ISR-KD).")
    verbose: int = setting(1, "Keras progress bar: 0 none, 1 a live bar, 2 one line per epoch.", minimum=0,
                           maximum=2)


def names(config_class):
    return [f.name for f in dataclasses.fields(config_class)]


@dataclasses.dataclass
class Settings:
    """The run config and the method's config; `s.x` reads either (their names never clash)."""
    run: RunConfig
    paper: object

    @property
    def method(self):
        return methods.get(self.run.method)

    def __getattr__(self, name):
        if name in ("run", "paper"):
            raise AttributeError(name)
        for part in (self.run, self.paper):
            if hasattr(part, name):
                return getattr(part, name)
        raise AttributeError(f"no setting {name!r} in the run config or in {type(self.paper).__name__}")

    def as_dict(self):
        return {"run": dataclasses.asdict(self.run), "paper": dataclasses.asdict(self.paper)}


def owner(name):
    """Which method's config has a field `name` (None if none does)."""
    return next((m.name for m in methods.available().values() if name in names(m.config)), None)


def make(**settings):
    """Settings from keyword settings: each goes to the run config or the method's config;
    another method's setting is refused with one line naming its owner."""
    method = methods.get(settings.get("method", RunConfig.method))
    run_names, paper_names = set(names(RunConfig)), set(names(method.config))
    clash = run_names & paper_names
    if clash:
        raise ValueError(f"method {method.name} redefines run settings: {sorted(clash)}")
    for name in settings:
        if name not in run_names | paper_names:
            who = owner(name)
            raise UserError(f"--{name} is a setting of --method={who}, not of --method={method.name}" if who else
                            f"--{name} is not a setting of --method={method.name}")
    if isinstance(settings.get("stages"), list):
        settings["stages"] = tuple(settings["stages"])
    run = RunConfig(**{k: v for k, v in settings.items() if k in run_names})
    paper = method.config(**{k: v for k, v in settings.items() if k in paper_names})
    return Settings(run, paper)


def save(s):
    """workdir/config.json: what evaluate, export and infer rebuild the models from."""
    path = layout.config(s.run.workdir)
    with open(path + ".tmp", "w") as f:
        json.dump(s.as_dict(), f, indent=2)
    os.replace(path + ".tmp", path)


def from_dict(values):
    """Settings from a saved {"run": ..., "paper": ...}; fields since removed are dropped."""
    run_values = {k: v for k, v in values.get("run", {}).items() if k in names(RunConfig)}
    method = methods.get(run_values.get("method", RunConfig.method))
    paper_values = {k: v for k, v in values.get("paper", {}).items() if k in names(method.config)}
    return make(**run_values, **paper_values)


def load(workdir):
    """The Settings of a work directory (or zoo:NAME), or of an export (kept in its assets.extra/)."""
    from isr_kd_tf import zoo
    workdir = zoo.resolve(workdir)
    path = layout.config(workdir)
    if not os.path.isfile(path):
        path = layout.export_config(workdir)
    if not os.path.isfile(path):
        raise UserError(f"{workdir} is not a training work directory (no config.json); "
                        "give the --workdir of a run of isr_kd_tf.train")
    with open(path) as f:
        values = json.load(f)
    if "run" not in values:
        raise UserError(f"{path} was written by an older version (one flat config); train the run again")
    return from_dict(values)


def _field_types():
    types = {f.name: type(f.default) for f in dataclasses.fields(RunConfig)}
    for m in methods.available().values():
        types.update({f.name: type(f.default) for f in dataclasses.fields(m.config)})
    return types


def read_flagfile(path):
    """{setting: value} of a flagfile as `--flagfile` reads it (nested flagfiles first, later lines win),
    typed like the settings; what tools that run many trainings (claims) share with the flagfiles."""
    if not os.path.isfile(path):
        raise UserError(f"flagfile {path} not found; run from the repository's root folder")
    types, out = _field_types(), {}
    with open(path) as f:
        for raw in f:
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            name, has_value, value = line[2:].partition("=")
            if name == "flagfile":
                out.update(read_flagfile(value))
            elif not has_value:
                positive = name in types
                name = name if positive else name[2:]
                out[name] = positive
            elif name not in types:
                raise UserError(f"{path}: --{name} is not a setting")
            elif types[name] is bool:
                out[name] = value.lower() in ("true", "1")
            elif types[name] is tuple:
                out[name] = tuple(v for v in value.split(",") if v)
            else:
                out[name] = types[name](value)
    return out

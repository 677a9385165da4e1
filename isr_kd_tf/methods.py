"""Methods (papers) plug into the framework here; the framework never imports one by name.

A method is found by its name: one registered in this process
(`register`), one that an installed package declares under the
`isr_kd_tf.methods` entry-point group (setup.py: isr_kd, pkdn), or a
module path (`--method=my_package.my_method`) whose import registers it.

This module and the core modules it names are the plug-ins' API: a method
never imports a command (train, evaluate, export, infer, claims, bench,
experiment); tests/test_methods.py checks that for every plug-in.
"""

import dataclasses
import importlib
import importlib.metadata

from isr_kd_tf.errors import UserError

ENTRY_POINTS = "isr_kd_tf.methods"
_REGISTRY = {}


NETWORK = "model"                 # the checkpoint key of a stage's network: what export and evaluate restore


def model_variables(model):
    """{weight path without the model's own name: variable}: what checkpoints store.

    tf.train.Checkpoint does not see layers that a Keras 3 model keeps in
    Python lists, and a model's own name changes with how many were built;
    a flat dict keyed by the path inside the model has neither problem.
    """
    out = {v.path.split("/", 1)[1]: v.value for v in model.weights}
    if len(out) != len(model.weights):
        raise ValueError(f"{model.name}: weight paths are not unique")
    return out


def restore_model(model, path, key=NETWORK):
    """Loads `model`'s weights saved under `key` in the checkpoint at `path`; every weight must be there."""
    import tensorflow as tf
    tf.train.Checkpoint(**{key: model_variables(model)}).restore(path).expect_partial() \
        .assert_existing_objects_matched()
    return model


def adam(run, beta1=0.9, beta2=0.999, total_steps=0):
    """Adam with the run's rate (cosine over `total_steps` with --lr_schedule=cosine) and epsilon (fused
    kernel; loss scaling under float16). In a stage, methods get theirs from Stage.optimizer."""
    from isr_kd_tf import optim, precision
    cosine = total_steps if run.lr_schedule == "cosine" else 0
    return precision.wrap_optimizer(optim.FusedAdam(
        run.learning_rate, beta_1=beta1, beta_2=beta2, epsilon=run.epsilon,
        epsilon_after_bias_correction=run.epsilon_placement == "torch", cosine_steps=cosine))


@dataclasses.dataclass
class Stage:
    """One stage as the core starts it: what a method's `training` builds from."""
    settings: object              # config.Settings
    name: str
    init_path: str                # the earlier stage's result or --init_from's ("": fresh weights)
    steps_per_epoch: int
    total_steps: int
    made: list = dataclasses.field(default_factory=list, repr=False)

    def optimizer(self, variables, beta1=0.9, beta2=0.999):
        """Adam over `variables` with the run's rate, epsilon and schedule across this stage's steps,
        built now so that state restored from --init_from has somewhere to go."""
        opt = adam(self.settings.run, beta1, beta2, self.total_steps)
        opt.build(variables)
        self.made.append(opt)
        return opt

    def begin(self, optimizers):
        """The stage's rate and schedule start for {name: optimizer} (the trainer's), set once the method's
        training is built: the rate is the run's (a restored state brings the rate it was trained with)
        and the schedule counts this stage's steps only (a restored state brings its iteration count)."""
        for name, opt in optimizers.items():
            if not any(opt is m for m in self.made):
                raise TypeError(f"optimizer {name!r} was not made by stage.optimizer(variables, beta1, beta2): "
                                "the core cannot give it the run's rate and schedule")
            inner = getattr(opt, "inner_optimizer", opt)
            inner.learning_rate.assign(self.settings.run.learning_rate)
            inner.cosine_start = int(inner.iterations.numpy())


@dataclasses.dataclass
class Training:
    """What a method hands the training loop for one stage."""
    trainer: object               # an isr_kd_tf.trainer.Trainer: step(batch, masks) -> this step's loss terms
    model: object                 # the stage's network: checkpointed as NETWORK, saved as its weights file at the end
    state: dict = dataclasses.field(default_factory=dict)   # {name: model or optimizer} checkpointed beside it
    grid: object = None           # batch -> uint8 picture for TensorBoard
    progress_keys: tuple = ("loss",)

    def __post_init__(self):
        from isr_kd_tf.trainer import Trainer
        if not isinstance(self.trainer, Trainer):
            raise TypeError(f"{type(self.trainer).__name__} is not an isr_kd_tf.trainer.Trainer: subclass it and "
                            "write step(batch, masks)")
        if NETWORK in self.state:
            raise ValueError(f"state[{NETWORK!r}] is the network's own key; pass the network as `model`")

    def checkpoint(self):
        """{name: object}: everything a checkpoint saves and a resume restores, together."""
        return {NETWORK: self.model, **self.state}


class Method:
    """What a paper implements. Every hook gets `s`, the experiment's config.Settings
    (s.run: the shared run settings; s.paper: this method's `config`)."""

    name = ""
    config = None                 # dataclass of the paper's own settings (each field a flag; config.setting)
    stages = ()                   # every stage, in training order
    row_names = {}                # stage -> its row in results tables
    export_order = ()             # stages an export or evaluation prefers, most advanced first
    start_from = {}               # stage -> the earlier stage whose result it starts from (else --init_from)
    baseline_row = ""             # the row relative changes compare with, when it is in the table
    samples_per_set = 3           # rows per test set in samples.png
    onnx_refusal = ""             # why ONNX export is not offered ("" = it is)
    benchmarks_module = ""        # module holding BENCHMARKS = {name: fn(**options) -> dict}
    claims_module = ""            # module holding plan(smoke, protocol) -> isr_kd_tf.claims.contract.Plan
    whole_image_sets = ()         # datasets whose images are resized whole, never centre-cropped

    def check(self, s):
        """UserError for settings that contradict each other, before any work."""

    def batch_features(self, s):
        """None, or batch -> {name: tensor}: the fields this method's networks and losses read beyond
        hr and lr, computed per batch after the shared degradation (training and evaluation alike)."""
        return None

    def source_step(self, s):
        """None, or (dataset, name, split) -> dataset: applied to every dataset as it is loaded."""
        return None

    def identity_network(self, s):
        """None, or a face network (images in [0, 255] -> descriptors) whose descriptors of SR and HR score
        identity in this method's tables (evaluation.identity_scores)."""
        return None

    def sample_columns(self, s, batch):
        """{label: images [N, H, W(, C)] in [0, 255]}: inputs shown in samples.png after LR and bicubic."""
        return {}

    def preview_columns(self, s, batch):
        """{label: images}: what `python -m isr_kd_tf.preview` shows after HR and LR (default: sample_columns)."""
        return self.sample_columns(s, batch)

    def test_sets(self, s):
        """[(row label, domain id, dataset name)] the models are scored on."""
        raise NotImplementedError

    def domains(self, s, stage):
        """[data.DomainSpec] a stage trains on."""
        raise NotImplementedError

    def build(self, s, stage):
        """The stage's network with fresh weights (its checkpoints restore into it)."""
        raise NotImplementedError

    def load(self, s, stage, path):
        """A trained network of `stage` from a workdir, a stage dir or a weights file."""
        raise NotImplementedError

    def training(self, s, stage):
        """A Training for `stage` (a Stage: its name, init_path and steps; optimizers come from
        stage.optimizer), built inside the distribution strategy's scope."""
        raise NotImplementedError

    def predictor(self, s, model):
        """batch -> SR in [0, 255] (for scoring a model in memory); default: `serve` on the batch's LR."""
        from isr_kd_tf.serving import SuperResolver
        return SuperResolver(s, model).on_batch

    def serve(self, s, model, images):
        """LR images [N, H, W, 3] in [0, 255] -> SR [N, sH, sW, 3] in [0, 255]: the export's function."""
        raise NotImplementedError

    def extra_rows(self, s, trained):
        """{row name: model} scored beside the trained stages: the stages they started from that came
        from --init_from instead of this run (ISR-KD's G_S, PKDN's teacher)."""
        origins = {self.start_from[t] for t in trained if t in self.start_from} - set(trained)
        if not s.run.init_from:
            return {}
        from isr_kd_tf import zoo
        return {self.row_names[o]: self.load_origin(s, o, zoo.resolve(s.run.init_from)) for o in sorted(origins)}

    def load_origin(self, s, stage, path):
        """The network --init_from holds for `stage` (default: load)."""
        return self.load(s, stage, path)

    def baseline(self, s, rows):
        """The row the relative changes compare with: baseline_row if scored, else the first."""
        return self.baseline_row if self.baseline_row in rows else rows[0]

    def title(self, s):
        return f"{self.name} results"

    def benchmarks(self):
        """{name: fn(**options) -> dict} for `python -m isr_kd_tf.bench`."""
        return importlib.import_module(self.benchmarks_module).BENCHMARKS if self.benchmarks_module else {}

    def claim_plan(self, smoke=False, protocol="bundled"):
        """The paper's claims and the runs they need (isr_kd_tf.claims.contract.Plan), or None.
        smoke: the same runs at test size (tiny sets, a few steps); protocol: bundled or real data."""
        return importlib.import_module(self.claims_module).plan(smoke, protocol) if self.claims_module else None


def register(method):
    """Makes `method` (a Method instance) available under its name; returns it."""
    if not method.name:
        raise ValueError("a method needs a name")
    _REGISTRY[method.name] = method
    return method


def _entry_points():
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=ENTRY_POINTS)}


def get(name):
    """The method called `name` (registered, installed, or a module path that registers it)."""
    if name not in _REGISTRY and name in _entry_points():
        register(_entry_points()[name].load())
    if name not in _REGISTRY and "." in name:
        before = set(_REGISTRY)
        try:
            importlib.import_module(name)
        except ImportError as e:
            raise UserError(f"--method={name}: cannot import it ({e})") from None
        new = set(_REGISTRY) - before
        if len(new) == 1:                      # the module registered one method: its path names it too
            _REGISTRY[name] = _REGISTRY[new.pop()]
    if name not in _REGISTRY:
        raise UserError(f"--method={name!r} is not a method; use one of {', '.join(sorted(available()))} "
                        "or a module path that registers one (isr_kd_tf.methods.register)")
    return _REGISTRY[name]


def available():
    """{name: Method} of every installed and registered method."""
    for name in _entry_points():
        get(name)
    return dict(_REGISTRY)

"""The framework and its methods: a third method plugs in from this file alone, and the core
never reaches into a paper (no import cycles, no imports of pkdn_tf outside it, no switch on a
method's name).

`tests/plain_l1.py` is a complete third method (the README's example); the CLI finds it as
`--method=tests.plain_l1`.
"""

import ast
import glob
import os
import subprocess
import sys

import keras
import pytest

from isr_kd_tf import config, data, experiment, methods
from isr_kd_tf.errors import UserError
from tests.conftest import ROOT, TINY_SOURCE, TINY_TARGET
from tests.plain_l1 import L1Trainer, PlainL1Config, PlainSR        # registers plain_l1

# --- it trains, evaluates, exports and infers through the same CLI ----------------------------

def _cli(*args, cwd):
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=300,
                         env=env)
    assert out.returncode == 0, out.stderr[-3000:]
    return out.stdout


@pytest.mark.slow
def test_a_third_method_trains_evaluates_exports_and_infers_through_the_cli(tmp_path, data_dir):
    workdir = str(tmp_path / "plain")
    out = _cli("isr_kd_tf.train", "--method=tests.plain_l1", f"--workdir={workdir}", f"--data_dir={data_dir}",
               f"--source_data={TINY_SOURCE}", "--stages=train", "--hr_size=32", "--batch_size=2", "--epochs=1",
               "--steps_per_epoch=3", "--eval_limit=4", "--val_images=2", "--plain_channels=4", cwd=ROOT)
    assert "| plain_l1 | faces |" in out and "| bicubic | faces |" in out
    table = _cli("isr_kd_tf.evaluate", f"--workdir={workdir}", cwd=ROOT)
    assert "| plain_l1 | faces |" in table
    _cli("isr_kd_tf.export", f"--workdir={workdir}", f"--output={tmp_path / 'export'}", cwd=ROOT)
    from PIL import Image
    os.makedirs(tmp_path / "photos")
    Image.new("RGB", (6, 5), (120, 60, 30)).save(tmp_path / "photos" / "face.png")
    _cli("isr_kd_tf.infer", f"--model={tmp_path / 'export'}", f"--input={tmp_path / 'photos'}",
         f"--output={tmp_path / 'sr'}", cwd=ROOT)
    assert Image.open(tmp_path / "sr" / "face_x8.png").size == (48, 40)


def test_settings_go_to_their_owner_and_another_methods_are_refused():
    s = config.make(method="plain_l1", plain_channels=6, hr_size=32)
    assert s.paper == PlainL1Config(6) and s.run.hr_size == 32 and s.plain_channels == 6
    with pytest.raises(UserError, match="--alpha is a setting of --method=isr_kd, not of --method=plain_l1"):
        config.make(method="plain_l1", alpha=5.0)
    with pytest.raises(UserError, match="--nonsense is not a setting"):
        config.make(method="plain_l1", nonsense=1)
    with pytest.raises(UserError, match="--method='nowhere' is not a method"):
        methods.get("nowhere")
    again = config.from_dict(s.as_dict())
    assert again == s


@pytest.mark.slow
def test_the_cli_refuses_another_methods_flag(tmp_path):
    out = subprocess.run([sys.executable, "-m", "isr_kd_tf.train", "--flagfile=flags/pkdn/demo.cfg", "--alpha=5",
                          f"--workdir={tmp_path}"], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1] == "error: --alpha is a setting of --method=isr_kd, not of --method=pkdn"


# --- the core never reaches into a paper -------------------------------------------------------

CORE, PAPERS = "isr_kd_tf", ("isr_kd", "pkdn_tf")
PACKAGES = (CORE, *PAPERS)


def _in(module, *packages):
    """Whether `module` is one of `packages` or inside one."""
    return any(module == p or module.startswith(p + ".") for p in packages)


def _modules():
    """{module name: path} of every file of the core and both papers."""
    out = {}
    for package in PACKAGES:
        for path in glob.glob(os.path.join(ROOT, package, "**", "*.py"), recursive=True):
            name = os.path.relpath(path, ROOT)[:-3].replace(os.sep, ".")
            out[name.removesuffix(".__init__")] = path
    return out


def _imports(path, modules):
    """Package modules a file imports, at the top or inside functions (lazy imports count)."""
    found = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            submodules = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
            found.update(submodules)
            if len(submodules) < len(node.names):      # names defined in the module itself
                found.add(node.module)
    return {m for m in found if m in modules}


def test_no_import_cycles_and_no_paper_imported_outside_itself():
    modules = _modules()
    graph = {m: _imports(p, modules) - {m} for m, p in modules.items()}
    for m, deps in graph.items():
        for paper in PAPERS:
            if not _in(m, paper):
                assert not any(_in(d, paper) for d in deps), f"{m} imports {sorted(d for d in deps if _in(d, paper))}"
    state = {}

    def visit(m, path):
        state[m] = "open"
        for d in sorted(graph[m]):
            if state.get(d) == "open":
                raise AssertionError("import cycle: " + " -> ".join(path + [m, d]))
            if d not in state:
                visit(d, path + [m])
        state[m] = "done"
    for m in sorted(graph):
        if m not in state:
            visit(m, [])


PLUGINS = (*PAPERS, "tests.plain_l1")     # the two papers and the README's example


def _command_modules(modules):
    """The core's commands (a main() or a package's __main__) and the orchestrator they share."""
    out = {"isr_kd_tf.experiment"}
    for m, path in modules.items():
        if _in(m, *PLUGINS):
            continue
        with open(path) as f:
            if m.endswith("__main__") or "\ndef main(" in f.read():
                out.add(m.removesuffix(".__main__"))
    return out


def test_no_plug_in_imports_a_command_module(capsys):
    modules = _modules()
    with_example = {**modules, "tests.plain_l1": os.path.join(ROOT, "tests", "plain_l1.py")}
    commands = _command_modules(modules)
    assert {"isr_kd_tf.train", "isr_kd_tf.evaluate", "isr_kd_tf.export", "isr_kd_tf.infer", "isr_kd_tf.bench",
            "isr_kd_tf.claims"} <= commands
    listing, offenders = [], []
    for m, path in sorted(with_example.items()):
        if not _in(m, *PLUGINS):
            continue
        core = sorted(d for d in _imports(path, modules) if not _in(d, *PLUGINS))
        listing.append(f"{m}: {', '.join(core) or '-'}")
        offenders += [f"{m} imports {d}" for d in core if d in commands]
    with capsys.disabled():
        print("\nplug-in imports of the core:\n  " + "\n  ".join(listing))
    assert len(listing) > 10 and not offenders, offenders


def test_the_example_method_gets_the_cosine_schedule_without_asking(tmp_path):
    s = config.make(method="plain_l1", learning_rate=1e-3, lr_schedule="cosine", workdir=str(tmp_path))
    stage = methods.Stage(s, "train", "", steps_per_epoch=10, total_steps=10)
    training = s.method.training(s, stage)
    stage.begin(training.trainer.optimizers())
    opt = training.trainer.optimizer
    assert opt.scheduled_learning_rate() == pytest.approx(1e-3)
    opt.iterations.assign(5)
    assert opt.scheduled_learning_rate() == pytest.approx(0.5e-3)


def test_the_core_imports_no_paper_and_never_switches_on_a_method_name():
    names = set(methods.available())
    for module, path in _modules().items():
        if not _in(module, CORE):
            continue
        tree = ast.parse(open(path).read())
        assert not any(_in(m, *PAPERS) for m in _imports(path, _modules())), module
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare):
                constants = [c.value for c in [node.left, *node.comparators] if isinstance(c, ast.Constant)]
                assert not names & set(constants), f"{module}:{node.lineno} compares with a method name"


PAPER_WORDS = ("edge_", "lr_up", "parsing_input", "pretrained", "teacher", "student", "table ii", "isr-kd", "pkdn",
               "cartoon", "icartoonface")


def _code_strings(path):
    """(line, text) of every string constant in a file's code. Left out, as explanation: docstrings and the
    help text of settings (`setting(default, help, ...)`), which may say what each paper does."""
    tree = ast.parse(open(path).read())
    docs = {id(n.body[0].value) for n in ast.walk(tree)
            if isinstance(n, (ast.Module, ast.FunctionDef, ast.ClassDef)) and n.body
            and isinstance(n.body[0], ast.Expr) and isinstance(n.body[0].value, ast.Constant)}
    for call in ast.walk(tree):
        if isinstance(call, ast.Call) and getattr(call.func, "id", "") == "setting" and len(call.args) > 1:
            docs.update(id(n) for n in ast.walk(call.args[1]))
    return [(n.lineno, n.value) for n in ast.walk(tree)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs]


def test_the_core_names_no_paper_concept():
    """Every shared module, data/ and config.py included, names no paper's batch field, row, table or
    domain: methods contribute those through their hooks (their datasets and settings live with them)."""
    shared = [p for m, p in _modules().items() if _in(m, CORE)]
    assert len(shared) > 40
    found = [f"{os.path.relpath(p, ROOT)}:{line}: {text[:60]!r}" for p in shared for line, text in _code_strings(p)
             if any(w in text.lower() for w in PAPER_WORDS)]
    assert not found, found


def test_the_example_method_gets_every_shared_pipeline_setting():
    """The shared pipeline is built by the core from the run's settings: a method cannot forget one."""
    s = config.make(method="plain_l1", rotate_prob=0.9, hr_size=48, degradation="bicubic", augment=False)
    cfg = data.PipelineConfig.from_settings(s)
    assert (cfg.rotate_prob, cfg.hr_size, cfg.degradation, cfg.flip, cfg.rotate) == (0.9, 48, "bicubic", False, False)
    assert cfg.features is None and cfg.source_step is None


@pytest.mark.parametrize("method,stage,extra", [
    ("isr_kd", "pretrain", dict(target_data=TINY_TARGET, source_count=4, target_count=4)),
    ("pkdn", "teacher", dict(pfb_per_stage=1, student_blocks=1))])
@pytest.mark.slow
def test_a_run_converts_nothing_with_autograph(method, stage, extra, tmp_path, data_dir, monkeypatch):
    """Training steps, tf.data maps and predictors are plain TensorFlow, traced without autograph:
    converting them took about a second of every run's start."""
    from tensorflow.python.autograph.impl import api

    converted = []
    convert = api._convert_actual
    monkeypatch.setattr(api, "_convert_actual", lambda f, ctx: converted.append(f) or convert(f, ctx))
    experiment.run(config.make(method=method, stages=(stage,), workdir=str(tmp_path / "run"), data_dir=data_dir,
                               source_data=TINY_SOURCE, width=0.0625, hr_size=32, batch_size=2, epochs=1,
                               steps_per_epoch=1, checkpoint_every=1, val_images=0, eval_limit=2, verbose=0,
                               **extra))
    assert os.path.exists(tmp_path / "run" / "results.json")
    assert not converted, [getattr(f, "__qualname__", f) for f in converted]


def test_a_training_names_its_network_and_needs_the_core_trainer():
    """The exported network is the Training's `model`, checkpointed under methods.NETWORK (what export and
    evaluate restore); a trainer that is not a core Trainer is refused before any work."""
    model = PlainSR(4, 8)
    l1 = L1Trainer(model)
    t = methods.Training(l1, model, {"optimizer": "adam state"})
    assert t.checkpoint() == {methods.NETWORK: model, "optimizer": "adam state"}
    with pytest.raises(TypeError, match="trainer.Trainer"):
        methods.Training(keras.Model(), model)
    with pytest.raises(ValueError, match="network's own key"):
        methods.Training(l1, model, {methods.NETWORK: model})

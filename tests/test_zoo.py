"""The model zoo: every shipped entry is what its recipe (a flagfile in flags/zoo/) makes and loads by
name wherever a run is asked for (the demo starts from one: tests/test_readme_commands.py); each
recipe runs at smoke size into an entry."""

import glob
import json
import os
import subprocess
import sys

import pytest

from isr_kd_tf import config, zoo
from isr_kd_tf.errors import UserError
from tests.conftest import ROOT, TINY_SOURCE, TINY_TARGET

RECIPES = sorted(os.path.basename(p)[:-4] for p in glob.glob(os.path.join(ROOT, "flags", "zoo", "*.cfg")))
NOT_RECORDED = ("workdir", "data_dir", "real_data_dir", "verbose")   # where and how loudly it ran, not what it is
SMOKE = ["--width=0.0625", "--hr_size=32", "--batch_size=2", "--steps_per_epoch=2", "--checkpoint_every=2",
         "--eval_limit=2", "--val_images=0", "--verbose=0", f"--source_data={TINY_SOURCE}"]
SMOKE_BY_METHOD = {"isr_kd": [f"--target_data={TINY_TARGET}", "--source_count=4", "--target_count=8"],
                   "pkdn": ["--epochs=1", "--pfb_per_stage=1", "--student_blocks=1"]}
# Recipes whose smoke run would repeat another's: at smoke size they differ from their twin only in what the
# smoke run overrides (sizes, counts, the datasets), where the data lives, and the settings named here
TWINS = {"isr_kd_gs_utkface": ("isr_kd_gs_real", set()),
         "isr_kd_gt_anime": ("isr_kd_gs_cartoon", {"learning_rate"}),
         "pkdn_teacher_lfw": ("pkdn_teacher", {"augment"})}


def _run(args, timeout=300):
    out = subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                         env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stderr[-3000:]}"
    return out.stdout


def test_every_recipe_has_a_shipped_entry_and_every_entry_a_recipe():
    assert RECIPES and zoo.names() == RECIPES


def test_an_unknown_name_is_one_line_naming_what_the_zoo_has():
    with pytest.raises(UserError, match="no such zoo entry.*isr_kd_gs_real"):
        zoo.resolve("zoo:nope")
    assert zoo.resolve("runs/x") == "runs/x"


@pytest.mark.parametrize("name", RECIPES)
def test_a_shipped_entry_is_what_its_recipe_makes(name):
    recipe = config.read_flagfile(os.path.join(ROOT, "flags", "zoo", f"{name}.cfg"))
    s = config.load(f"zoo:{name}")
    shipped = {**s.run.__dict__, **s.paper.__dict__}
    for key, value in recipe.items():
        if key not in NOT_RECORDED:
            assert shipped[key] == value, key
    assert s.run.deterministic and s.run.data_dir == "" and s.run.real_data_dir == ""
    info = zoo.recipe(name)
    assert info["seed"] == recipe["seed"] and info["training_minutes"] > 0
    for stage in s.run.stages:
        steps = recipe["steps_per_epoch"] * recipe["epochs"]
        assert info["stages"][stage]["steps"] == steps
        folder = zoo.resolve(f"zoo:{name}")
        import tensorflow as tf
        assert tf.train.latest_checkpoint(os.path.join(folder, stage, "checkpoints")).endswith(f"-{steps}")
        s.method.load(s, stage, folder)             # the weights fit the network its config describes
    models = {r["model"] for r in info["results"]}
    assert "bicubic" in models and len(models) > 1


@pytest.mark.slow
def test_the_zoo_lists_its_entries_exports_one_by_name_and_evaluates_outside_the_package(tmp_path):
    out = _run(["isr_kd_tf.zoo"])
    assert all(f"zoo:{n}" in out for n in RECIPES)
    _run(["isr_kd_tf.export", "--workdir=zoo:isr_kd_gs_real", f"--output={tmp_path / 'export'}"])
    assert os.path.isfile(tmp_path / "export" / "saved_model.pb")
    from isr_kd_tf import evaluate
    assert evaluate.default_output("zoo:isr_kd_gs_real") == os.path.join("runs", "zoo_evaluation", "isr_kd_gs_real",
                                                                         "evaluation")


def _recipe(name):
    return config.read_flagfile(os.path.join(ROOT, "flags", "zoo", f"{name}.cfg"))


def test_a_recipe_left_untrained_at_smoke_size_differs_from_its_twin_only_where_it_says():
    for name, (twin, settings) in TWINS.items():
        a, b = _recipe(name), _recipe(twin)
        overridden = {arg[2:].split("=")[0] for arg in SMOKE + SMOKE_BY_METHOD[a.get("method", "isr_kd")]}
        differ = {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)}
        assert twin not in TWINS and differ - overridden - {"workdir", "real_data_dir"} == settings, name


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(set(RECIPES) - set(TWINS)))
def test_a_recipe_at_smoke_size_makes_a_loadable_entry(name, tmp_path, data_dir):
    method = _recipe(name).get("method", "isr_kd")
    smoke = [*SMOKE, f"--data_dir={data_dir}", *SMOKE_BY_METHOD[method]]
    workdir = str(tmp_path / "runs" / name)
    _run(["isr_kd_tf.train", f"--flagfile=flags/zoo/{name}.cfg", f"--workdir={workdir}", *smoke])
    folder = str(tmp_path / "zoo")
    _run(["isr_kd_tf.zoo", f"--add={workdir}", f"--folder={folder}"])
    entry = os.path.join(folder, name)
    info = json.load(open(os.path.join(entry, "recipe.json")))
    assert info["recipe"][0] == f"python -m isr_kd_tf.train --flagfile=flags/zoo/{name}.cfg"
    assert json.load(open(os.path.join(entry, "config.json")))["run"]["data_dir"] == ""
    s = config.load(entry)                          # the entry is a run: its networks load from its config
    for stage in s.run.stages:
        s.method.load(s, stage, os.path.join(entry, stage))
    assert {r["model"] for r in info["results"]} >= {"bicubic", s.method.row_names[s.run.stages[-1]]}

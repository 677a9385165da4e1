"""The work directory's names live in isr_kd_tf.layout only."""

import glob
import os
import re

import pytest

from isr_kd_tf import layout
from isr_kd_tf.errors import UserError
from tests.conftest import ROOT

NAMES = [layout.CONFIG, layout.RESULTS, layout.RESULTS_MD, layout.SAMPLES, layout.CHECKPOINTS, layout.WEIGHTS,
         layout.DONE, layout.EXPORT_ASSETS, layout.LANDMARKS, "tensorboard", "lists"]


def test_no_module_but_layout_spells_a_work_directory_name():
    spelled = re.compile("|".join(rf"[\"']{re.escape(n)}[\"']" for n in NAMES))
    offenders = []
    for path in glob.glob(os.path.join(ROOT, "*", "**", "*.py"), recursive=True):
        rel = os.path.relpath(path, ROOT)
        if rel.startswith(("tests", ".venv", "build")) or rel.endswith(os.path.join("isr_kd_tf", "layout.py")):
            continue
        with open(path) as f:
            offenders += [f"{rel}: {m.group(0)}" for m in spelled.finditer(f.read())]
    assert not offenders, offenders


def test_a_stage_is_done_once_marked_and_its_weights_are_found_from_the_run_or_the_stage(tmp_path):
    stage = layout.stage_dir(str(tmp_path), "pretrain")
    os.makedirs(stage)
    assert not layout.is_done(stage)
    layout.mark_done(stage, 42)
    assert layout.is_done(stage) and layout.done_steps(stage) == 42
    with pytest.raises(UserError, match="no finished pretrain"):
        layout.find_weights(str(tmp_path), "pretrain")
    open(layout.weights(stage), "w").close()
    assert layout.find_weights(str(tmp_path), "pretrain") == layout.weights(stage)
    assert layout.find_weights(stage, "pretrain") == layout.weights(stage)
    assert layout.newest_checkpoint_behind(str(tmp_path), "pretrain") is None

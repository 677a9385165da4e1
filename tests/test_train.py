import glob
import os
import re
import subprocess
import sys

import pytest

from tests.conftest import ROOT


_PARSE_ALL = """
import glob, sys
PROTOCOLS = ("flags/real/isr_kd.cfg", "flags/real/pkdn.cfg")
from absl import flags
from isr_kd_tf import experiment, train
FLAGS = flags.FLAGS
for path in sorted(glob.glob("flags/**/*.cfg", recursive=True)):
    if path.endswith("common.cfg") or path.startswith("flags/bundled/") or path in PROTOCOLS:   # included by others
        continue
    FLAGS.unparse_flags()
    FLAGS(["train", "--flagfile=" + path])
    cfg = train.settings_from_flags()
    experiment.check(cfg)
    paper = cfg.paper
    print(path, cfg.stages, getattr(paper, "source_count", "-"), getattr(paper, "target_count", "-"),
          getattr(paper, "alpha", "-"), getattr(paper, "beta", "-"), cfg.width)
"""


@pytest.mark.slow
def test_every_flagfile_parses_and_passes_the_checks():
    out = subprocess.run([sys.executable, "-c", _PARSE_ALL], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    files = glob.glob(os.path.join(ROOT, "flags", "**", "*.cfg"), recursive=True)
    assert len(lines) == len([f for f in files if not f.endswith("common.cfg") and "/bundled/" not in f
                              and not f.endswith(("real/isr_kd.cfg", "real/pkdn.cfg"))])
    assert "flags/pkdn/demo.cfg ('student', 'student_no_kd')" in out.stdout
    cc4 = next(line for line in lines if "cartoon_celeba_4" in line)
    assert "10000 50000 5.0 0.01 1.0" in cc4


@pytest.mark.slow
def test_a_missing_dataset_stops_with_one_line(tmp_path):
    cmd = [sys.executable, "-m", "isr_kd_tf.train", "--flagfile=flags/isr_kd/cartoon_celeba_2.cfg",
           f"--workdir={tmp_path}/run", f"--init_from={tmp_path}/nowhere"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --init_from=") and "model.weights.h5" in last


@pytest.mark.slow
def test_absent_data_stops_with_one_line_naming_the_files(tmp_path):
    cmd = [sys.executable, "-m", "isr_kd_tf.train", "--flagfile=flags/isr_kd/celeba_pretrain.cfg",
           f"--workdir={tmp_path}/run", f"--data_dir={tmp_path}/tfds", "--pretrain_data=target"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: icartoonface") and "personai_icartoonface_rectrain" in last


ENTRY_POINTS = ["isr_kd_tf.train", "isr_kd_tf.evaluate", "isr_kd_tf.export", "isr_kd_tf.infer", "isr_kd.convert",
                "pkdn_tf.convert", "isr_kd_tf.preview", "isr_kd_tf.bench"]


def _own_flags(module, text):
    """{flag: help} of the flags the module itself defines, from its --helpfull text."""
    section = text.split(module.replace(".", "/") + ".py:\n", 1)[1].split("\n\n", 1)[0]
    found, name = {}, None
    for line in section.splitlines():
        m = re.match(r"  --(?:\[no\])?(\w+): ?(.*)", line)
        if m:
            name = m.group(1)
            found[name] = m.group(2)
        elif name and line.startswith("    ") and not line.strip().startswith("("):
            found[name] += " " + line.strip()
    return found


@pytest.mark.slow
@pytest.mark.parametrize("module", ENTRY_POINTS)
def test_every_flag_explains_itself(module):
    out = subprocess.run([sys.executable, "-m", module, "--helpfull"], cwd=ROOT, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode in (0, 1) and out.stdout, out.stderr[-2000:]     # absl's --helpfull exits 1
    own = _own_flags(module, out.stdout)
    assert own, out.stdout[:2000]
    for name, text in own.items():
        assert len(text.split()) >= 3 and "See train_lib" not in text, (name, text)
    if module == "isr_kd_tf.train":
        import dataclasses
        import importlib.metadata
        from isr_kd_tf import config, methods
        installed = [methods.get(ep.name) for ep in importlib.metadata.entry_points(group=methods.ENTRY_POINTS)]
        every = {f.name for c in [config.RunConfig] + [m.config for m in installed] for f in dataclasses.fields(c)}
        assert set(own) == every                  # every flag is a setting (--jit too)
        assert "(Table III: 5, 10, 15; chosen 5)" in own["alpha"]
        assert "<box|bicubic>" in out.stdout      # choices are listed and enforced


def _out_of_bounds(meta, default):
    """A value the field's declaration forbids, or None when it declares nothing."""
    if meta.get("choices"):
        return type(default)("not-a-choice") if isinstance(default, str) else None
    if meta.get("positive"):
        return type(default)(0)
    if meta.get("maximum") is not None:
        return type(default)(meta["maximum"] + 1)
    if meta.get("minimum") is not None:
        return type(default)(meta["minimum"] - 1)
    return None


def test_every_declared_bound_and_choice_is_checked_by_the_one_validator():
    """Each setting's bounds sit beside it (config.setting); experiment.check refuses a value outside
    them in one line naming the flag, for the run's settings and every method's."""
    import dataclasses
    from isr_kd_tf import config, experiment, methods
    from isr_kd_tf.errors import UserError
    checked = 0
    for method in methods.available().values():
        for part in (config.RunConfig, method.config):
            for f in dataclasses.fields(part):
                bad = _out_of_bounds(f.metadata, f.default)
                if bad is None:
                    continue
                s = config.make(method=method.name, stages=(method.stages[0],), **{f.name: bad})
                with pytest.raises(UserError, match=f"^--{f.name}"):
                    experiment.check(s)
                checked += 1
    assert checked > 40

import glob
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_PARSE_ALL = """
import glob, sys
from absl import flags
from isr_kd_tf import train, train_lib
FLAGS = flags.FLAGS
for path in sorted(glob.glob("flags/**/*.cfg", recursive=True)):
    if path.endswith("common.cfg"):
        continue
    FLAGS.unparse_flags()
    FLAGS(["train", "--flagfile=" + path])
    cfg = train.config_from_flags()
    train_lib.check(cfg)
    print(path, cfg.stages, cfg.source_count, cfg.target_count, cfg.alpha, cfg.beta, cfg.width)
"""


def test_every_flagfile_parses_and_passes_the_checks():
    out = subprocess.run([sys.executable, "-c", _PARSE_ALL], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    files = glob.glob(os.path.join(ROOT, "flags", "**", "*.cfg"), recursive=True)
    assert len(lines) == len([f for f in files if not f.endswith("common.cfg")])
    assert "flags/pkdn/demo.cfg ('teacher', 'student', 'student_no_kd')" in out.stdout
    cc4 = next(line for line in lines if "cartoon_celeba_4" in line)
    assert "10000 50000 5.0 0.01 1.0" in cc4


def test_a_missing_dataset_stops_with_one_line(tmp_path):
    cmd = [sys.executable, "-m", "isr_kd_tf.train", "--flagfile=flags/isr_kd/cartoon_celeba_2.cfg",
           f"--workdir={tmp_path}/run", f"--init_from={tmp_path}/nowhere"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: --init_from=") and "generator.weights.h5" in last


def test_absent_data_stops_with_one_line_naming_the_files(tmp_path):
    cmd = [sys.executable, "-m", "isr_kd_tf.train", "--flagfile=flags/isr_kd/celeba_pretrain.cfg",
           f"--workdir={tmp_path}/run", f"--data_dir={tmp_path}/tfds", "--pretrain_data=target"]
    out = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert out.returncode == 2, out.stderr[-2000:]
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith("error: icartoonface") and "personai_icartoonface_rectrain" in last

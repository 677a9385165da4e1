"""Building the bundled sets from every way a user runs Python, and failures that end in time."""

import importlib.util
import os
import subprocess
import sys

import pytest

from isr_kd_tf.data import builders
from isr_kd_tf.errors import UserError
from tests.conftest import ROOT

# The README's data example as a user saves it: no `if __name__ == "__main__":` guard.
SCRIPT = """
from isr_kd_tf import data
ds = data.load("synthetic_faces/tiny", split="train", data_dir=DATA_DIR)
print("built", sum(1 for _ in ds))
"""
NOTEBOOK = ("import sys, types\n"
            "cell = types.ModuleType('__main__')      # a kernel's __main__: no __file__, no __spec__\n"
            "sys.modules['__main__'] = cell\n"
            "exec(compile(SRC, '<cell>', 'exec'), cell.__dict__)\n")


@pytest.mark.slow
@pytest.mark.parametrize("how", ["script", "stdin", "dash_c", "notebook"])
def test_building_works_from_a_script_without_a_main_guard_stdin_c_and_a_notebook(tmp_path, how):
    src = f"DATA_DIR = {str(tmp_path / 'tfds')!r}\n" + SCRIPT
    (tmp_path / "user_script.py").write_text(src)
    cmd, stdin = {
        "script": ([sys.executable, "user_script.py"], None),
        "stdin": ([sys.executable, "-"], src),
        "dash_c": ([sys.executable, "-c", src], None),
        "notebook": ([sys.executable, "-c", f"SRC = {src!r}\n" + NOTEBOOK], None),
    }[how]
    env = {**os.environ, "PYTHONPATH": ROOT}
    out = subprocess.run(cmd, cwd=tmp_path, input=stdin, capture_output=True, text=True, timeout=240, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1] == "built 24"


def _module(tmp_path, body):
    (tmp_path / "renderer.py").write_text(body)
    spec = importlib.util.spec_from_file_location("renderer_under_test", tmp_path / "renderer.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod
    spec.loader.exec_module(mod)
    return mod


def test_workers_render_in_seed_order(tmp_path):
    mod = _module(tmp_path, "def render(seed):\n    return seed * 2\n")
    assert list(builders._render_all(mod.render, list(range(150)), 2)) == [2 * s for s in range(150)]


def test_a_worker_that_dies_ends_the_build_with_one_line(tmp_path):
    mod = _module(tmp_path, "def render(seed):\n    raise SystemExit('out of memory while rendering')\n")
    with pytest.raises(UserError, match="worker died .*out of memory while rendering"):
        list(builders._render_all(mod.render, list(range(40)), 2))


def test_a_worker_that_hangs_is_stopped_in_bounded_time(tmp_path, monkeypatch):
    mod = _module(tmp_path, "import time\ndef render(seed):\n    time.sleep(600)\n")
    monkeypatch.setattr(builders, "_chunk_timeout", lambda n: 1)
    with pytest.raises(UserError, match="took over 1 s"):
        list(builders._render_all(mod.render, list(range(40)), 2))

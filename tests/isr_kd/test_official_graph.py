"""The authors' TF1 graph of the incremental step, run from a checkout of their code (isr_kd.official_graph).
Nothing of theirs is in this repository: the tests that run it need ISR_KD_REFERENCE_CODE, a checkout of
TRINETRA-DEVKATTE/ISR-KD-Network, and pip install -e ".[official]"."""

import os

import numpy as np
import pytest

from isr_kd import official_graph
from isr_kd_tf.errors import UserError

CHECKOUT = os.environ.get("ISR_KD_REFERENCE_CODE", "")


def test_a_folder_that_is_not_the_authors_checkout_is_one_line_naming_the_flag(tmp_path):
    with pytest.raises(UserError, match="--reference_code is needed"):
        official_graph.build("", 2, 32)
    with pytest.raises(UserError, match=r"--reference_code=.*: no networks.py or train.py"):
        official_graph.build(str(tmp_path), 2, 32)
    (tmp_path / "networks.py").write_text("")
    (tmp_path / "train.py").write_text("print('something else')\n")
    with pytest.raises(UserError, match="not the authors' train.py"):
        official_graph.build(str(tmp_path), 2, 32)


def test_python_2_halves_of_an_image_side_stay_integers():
    side = official_graph._Side(128)
    assert side / 2 == 64 and isinstance(side / 2, int) and side / 8 / 2 == 8


@pytest.mark.skipif(not CHECKOUT, reason="set ISR_KD_REFERENCE_CODE to a checkout of TRINETRA-DEVKATTE/"
                    "ISR-KD-Network to run the authors' graph")
def test_the_authors_graph_has_our_generator_s_size_and_trains_beside_ours():
    pytest.importorskip("tf_keras", reason='pip install -e ".[official]"')
    from isr_kd import bench
    from isr_kd.generator import build_generator
    r = bench.bench_official_incremental_step(CHECKOUT, batch_size=2, hr_size=32, steps=1)
    assert r["official_parameters"]["generator"] == build_generator(1.0).count_params() == 11_912_582
    assert r["official_step_s"] > 0 and r["step_s"] > 0 and 0 < r["official_teacher_forward_s"] < r["official_step_s"]
    graph, names = official_graph.build(CHECKOUT, 2, 32)
    sess = official_graph.session(graph)
    costs = [official_graph.step_fn(sess, names, official_graph.feeds(names))() for _ in range(2)]
    assert np.all(np.isfinite(costs)) and costs[1] != costs[0]      # the generator's update moved it


@pytest.mark.slow
def test_the_benchmark_command_without_a_checkout_says_which_flag_in_one_line():
    import subprocess
    import sys
    from tests.conftest import ROOT
    out = subprocess.run([sys.executable, "-m", "isr_kd_tf.bench", "--only=official_incremental_step"],
                         capture_output=True, text=True, timeout=300, cwd=ROOT, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 2 and "--reference_code is needed" in out.stderr, out.stderr[-2000:]

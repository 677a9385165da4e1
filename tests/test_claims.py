"""The claims runner: its statistics against NumPy, and the command at smoke size (two seeds, one claim)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from isr_kd_tf.claims import stats
from tests.conftest import ROOT


def test_a_part_holds_when_its_mean_is_positive_and_beyond_its_standard_error():
    v = [0.3, 0.1, 0.2]
    s = stats.summarise(v)
    assert s["mean"] == pytest.approx(np.mean(v)) and s["sd"] == pytest.approx(np.std(v, ddof=1))
    assert s["se"] == pytest.approx(np.std(v, ddof=1) / np.sqrt(3)) and s["holds"]
    assert not stats.summarise([0.3, -0.25, 0.05])["holds"]      # positive mean, inside one standard error
    assert not stats.summarise([-0.1, -0.2])["holds"]
    assert not stats.summarise([0.5])["holds"]                   # one seed cannot tell a result from noise


def test_the_scores_table_averages_each_row_over_seeds_and_shows_identity_when_scored():
    from isr_kd_tf.claims.report import markdown
    seeds = [{"rows": [{"model": "kd", "test": "source", "psnr": p, "ssim": 0.5, "fid": None, "id_cos": c,
                        "id_verified": v}]} for p, c, v in ((24.0, 0.9, 0.5), (25.0, 0.8, 0.6))]
    (row,) = stats.mean_scores({("isr_kd", "kd"): seeds})
    assert row == {"method": "isr_kd", "run": "kd", "model": "kd", "test": "source", "seeds": 2, "psnr": 24.5,
                   "ssim": 0.5, "id_cos": pytest.approx(0.85), "id_verified": pytest.approx(0.55)}
    md = markdown({"seeds": 2, "minutes": 1.0, "rule": "r", "claims": [], "scores": [row]})
    assert "| PSNR | SSIM | ID cos | ID verified |" in md and "| isr_kd | kd | kd | source | 2 | 24.50 | 0.5000 | " \
        "0.8500 | 55.0 % |" in md
    assert "(2 seeds, 1.0 min)" in md
    assert "every run reused" in markdown({"seeds": 2, "minutes": 0.0, "rule": "r", "claims": [], "scores": []})
    plain = stats.mean_scores({("pkdn", "s"): [{"rows": [{"model": "s", "test": "t", "psnr": 30.0, "ssim": 0.9}]}]})
    assert "ID cos" not in markdown({"seeds": 1, "minutes": 1.0, "rule": "r", "claims": [], "scores": plain})


@pytest.mark.slow
def test_the_claims_command_writes_json_markdown_and_a_plot_per_claim(tmp_path, data_dir):
    out = subprocess.run([sys.executable, "-m", "isr_kd_tf.claims", "--seeds=2", "--smoke",
                          "--claims=isr_kd_beats_bicubic",                       # the claim of fewest runs
                          f"--output={tmp_path}", f"--data_dir={data_dir}"], cwd=ROOT, capture_output=True,
                         text=True, timeout=600, env={**os.environ, "PYTHONPATH": ROOT})
    assert out.returncode == 0, out.stderr[-3000:]
    report = json.load(open(tmp_path / "claims.json"))
    (claim,) = report["claims"]
    assert claim["name"] == "isr_kd_beats_bicubic" and len(claim["per_seed"]) == 2 and isinstance(claim["holds"], bool)
    assert set(claim) >= {"name", "paper", "statement", "holds", "per_seed", "mean", "sd"}
    assert os.path.isfile(tmp_path / "isr_kd_beats_bicubic.png")
    assert "| isr_kd_beats_bicubic |" in (tmp_path / "claims.md").read_text()
    assert sorted(os.listdir(tmp_path / "seed0" / "isr_kd")) == ["gs", "kd"]     # only what it needs
    # the margin at each kept checkpoint (steps 1 and 2), averaged over the seeds, as a curve
    steps = [p["step"] for p in claim["curve"]]
    assert steps == [1, 2] and set(claim["curve"][-1]) == {"step", *claim["mean"]}
    assert claim["curve"][-1][next(iter(claim["mean"]))] == pytest.approx(next(iter(claim["mean"].values())))
    assert "against training steps" in (tmp_path / "claims.md").read_text()
    # the scores behind the margins, every run's rows averaged over the seeds
    gs_source = [r for r in report["scores"] if r["run"] == "gs" and r["model"] == "pretrained" and r["test"] == "source"]
    runs = [json.load(open(tmp_path / f"seed{k}" / "isr_kd" / "gs" / "results.json")) for k in range(2)]
    assert len(gs_source) == 1 and gs_source[0]["seeds"] == 2
    assert gs_source[0]["psnr"] == pytest.approx(np.mean([next(
        r["psnr"] for r in res["rows"] if r["model"] == "pretrained" and r["test"] == "source") for res in runs]))
    assert "| isr_kd | gs | pretrained | source | 2 |" in (tmp_path / "claims.md").read_text()


@pytest.mark.parametrize("numbers, folder", [("bundled.json", ""), ("real_isr_kd.json", "real")])
def test_the_committed_claim_figures_redraw_from_their_numbers(tmp_path, numbers, folder):
    """docs/claims/*.png come from docs/claims/bundled.json, docs/claims/real/*.png from real_isr_kd.json
    (matplotlib; whole labels), as the README's --replot commands draw them."""
    from isr_kd_tf.claims.__main__ import replot
    report = os.path.join(ROOT, "docs", "claims", numbers)
    paths = replot(report, str(tmp_path))
    names = {os.path.basename(p) for p in paths}
    assert names == {n for n in os.listdir(os.path.join(ROOT, "docs", "claims", folder)) if n.endswith(".png")}
    from PIL import Image
    assert all(Image.open(p).size[0] == 800 for p in paths)
    with pytest.raises(Exception, match="not a claims.json"):
        replot(str(tmp_path / "missing.json"), str(tmp_path))

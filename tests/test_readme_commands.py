"""Every flagfile in flags/ and every follow-up command the README documents, run as a user
runs them (a fresh process each, from a folder holding `flags/`), in the README's order, at
smoke size: the bundled tiny domains stand in for CelebA / iCartoonFace / Helen, widths are
1/16, two steps per stage. A documented path cannot break without failing here.
"""

import glob
import json
import os
import re
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from tests.conftest import ROOT, TINY_SOURCE, TINY_TARGET

SMOKE = ["--width=0.0625", "--hr_size=32", "--batch_size=2", "--epochs=1", "--steps_per_epoch=2", "--eval_limit=2",
         "--val_images=0", "--checkpoint_every=2", "--verbose=0", f"--source_data={TINY_SOURCE}"]
ISR_KD = ["flags/isr_kd/celeba_pretrain.cfg", "flags/isr_kd/cartoon_celeba_1.cfg", "flags/isr_kd/cartoon_celeba_2.cfg",
          "flags/isr_kd/cross_cartoon_to_celeba.cfg", "flags/isr_kd/extended.cfg"]
PKDN = ["flags/pkdn/demo.cfg", "flags/pkdn/celeba_teacher.cfg", "flags/pkdn/celeba_student.cfg",
        "flags/pkdn/kdfsrnet.cfg"]
# Flagfiles whose smoke-size training would repeat another's: each differs from its twin only in settings
# the smoke run overrides (counts, the dataset), in loss weights, or in one architecture switch that
# tests/pkdn/test_models.py counts; test_train.py parses and checks every one of them. (The PKDN ablation
# without FFB also runs both stages in one process, as kdfsrnet.cfg does.)
TWINS = {
    "flags/isr_kd/cartoon_celeba_3.cfg": ("flags/isr_kd/cartoon_celeba_2.cfg", {"workdir", "source_count"}),
    "flags/isr_kd/cartoon_celeba_4.cfg": ("flags/isr_kd/cartoon_celeba_2.cfg", {"workdir", "target_count"}),
    "flags/isr_kd/cartoon_celeba_5.cfg": ("flags/isr_kd/cartoon_celeba_2.cfg", {"workdir", "source_count",
                                                                                "target_count"}),
    "flags/isr_kd/ablation_alpha5_beta001.cfg": ("flags/isr_kd/cartoon_celeba_2.cfg", {"workdir"}),
    "flags/isr_kd/ablation_alpha5_beta004.cfg": ("flags/isr_kd/cartoon_celeba_2.cfg", {"workdir", "beta"}),
    "flags/isr_kd/ablation_alpha5_beta008.cfg": ("flags/isr_kd/cartoon_celeba_2.cfg", {"workdir", "beta"}),
    "flags/isr_kd/ablation_alpha10_beta008.cfg": ("flags/isr_kd/cartoon_celeba_2.cfg", {"workdir", "alpha", "beta"}),
    "flags/isr_kd/ablation_alpha15_beta004.cfg": ("flags/isr_kd/cartoon_celeba_2.cfg", {"workdir", "alpha", "beta"}),
    "flags/pkdn/ablation_no_ffb.cfg": ("flags/pkdn/celeba_teacher.cfg", {"workdir", "stages", "teacher_ffb"}),
    "flags/pkdn/ablation_no_pfb_ffb.cfg": ("flags/pkdn/celeba_teacher.cfg", {"workdir", "stages", "teacher_pfb",
                                                                            "teacher_ffb"}),
    "flags/pkdn/helen_teacher.cfg": ("flags/pkdn/celeba_teacher.cfg", {"workdir", "source_data"}),
    "flags/pkdn/helen_student.cfg": ("flags/pkdn/celeba_student.cfg", {"workdir", "init_from", "source_data"}),
}


def test_the_chains_cover_every_flagfile():
    every = {os.path.relpath(p, ROOT) for p in glob.glob(os.path.join(ROOT, "flags", "**", "*.cfg"), recursive=True)}
    included = {"flags/isr_kd/common.cfg", "flags/pkdn/common.cfg", "flags/bundled/isr_kd.cfg",
                "flags/bundled/pkdn.cfg", "flags/real/isr_kd.cfg", "flags/real/pkdn.cfg"}
    zoo_recipes = {p for p in every if p.startswith("flags/zoo/")}      # run by tests/test_zoo.py
    real_demos = {"flags/real/demo.cfg", "flags/real/pkdn_demo.cfg"}     # run by tests/test_real_data.py
    assert zoo_recipes and every - included - zoo_recipes - real_demos == (set(ISR_KD) | set(PKDN) | set(TWINS)
                                                                           | {"flags/demo.cfg"})


def test_a_flagfile_left_untrained_differs_from_its_trained_twin_only_where_it_says():
    from isr_kd_tf.config import read_flagfile
    for flagfile, (twin, settings) in TWINS.items():
        a, b = read_flagfile(os.path.join(ROOT, flagfile)), read_flagfile(os.path.join(ROOT, twin))
        assert twin in ISR_KD + PKDN
        assert {k for k in a.keys() | b.keys() if a.get(k) != b.get(k)} == settings, flagfile


def _flag(flagfile, name, cwd):
    """The last value a flagfile (and the flagfiles it includes) gives --name, or None."""
    value = None
    with open(os.path.join(cwd, flagfile)) as f:
        for line in f:
            line = line.strip()
            if line.startswith("--flagfile="):
                value = _flag(line.split("=", 1)[1], name, cwd) or value
            elif line.startswith(f"--{name}="):
                value = line.split("=", 1)[1]
    return value


def _smoke_counts(flagfile, cwd):
    """Keep zero counts zero (Cartoon-CelebA-1 has no real faces); make the others tiny."""
    out = []
    for name, small in (("source_count", 4), ("target_count", 8)):
        value = _flag(flagfile, name, cwd)
        if value is not None:
            out.append(f"--{name}={small if int(value) else 0}")
    return out


def _run(args, cwd, timeout=300, env=None):
    env = {**os.environ, **(env or {}), "PYTHONPATH": ROOT + os.pathsep + os.environ.get("PYTHONPATH", "")}
    env = {k: v for k, v in env.items() if v is not None}        # None: unset for this command
    out = subprocess.run([sys.executable, "-m", *args], cwd=cwd, capture_output=True, text=True, timeout=timeout,
                         env=env)
    assert out.returncode == 0, f"{' '.join(args)} failed:\n{out.stderr[-3000:]}"
    return out.stdout + out.stderr


def _train(flagfile, cwd, data_dir, *extra, env=None):
    return _run(["isr_kd_tf.train", f"--flagfile={flagfile}", f"--data_dir={data_dir}", *SMOKE,
                 *_smoke_counts(flagfile, cwd), *extra], cwd, env=env)


def _results(cwd, workdir):
    with open(os.path.join(cwd, workdir, "results.json")) as f:
        return json.load(f)


def _row(results, model, test):
    return next(r for r in results["rows"] if r["model"] == model and r["test"] == test)


@pytest.fixture
def user_dir(tmp_path):
    """A folder as a user has it: the flagfiles beside them, a few photos to super-resolve."""
    os.symlink(os.path.join(ROOT, "flags"), tmp_path / "flags")
    os.makedirs(tmp_path / "photos")
    rng = np.random.default_rng(0)
    for i in range(2):
        Image.fromarray(rng.integers(0, 255, (12, 10, 3), np.uint8)).save(tmp_path / "photos" / f"face{i}.png")
    return tmp_path


def _infer(cwd, model, out):
    _run(["isr_kd_tf.infer", f"--model={model}", "--input=photos/", f"--output={out}", "--compare"], cwd)
    assert sorted(os.listdir(os.path.join(cwd, out))) == ["face0_compare.png", "face0_x8.png", "face1_compare.png",
                                                          "face1_x8.png"]
    assert Image.open(os.path.join(cwd, out, "face0_x8.png")).size == (80, 96)


@pytest.mark.slow
def test_isr_kd_paper_flagfiles_and_follow_ups(user_dir, data_dir):
    cwd = str(user_dir)
    target = [f"--target_data={TINY_TARGET}"]
    for flagfile in ISR_KD:
        _train(flagfile, cwd, data_dir, *target)
    pre = _results(cwd, "runs/isr_kd/celeba_pretrain")
    for workdir in ("cartoon_celeba_2", "extended"):    # every run from G_S reports G_S itself as `pretrained`
        got = _results(cwd, f"runs/isr_kd/{workdir}")
        assert _row(got, "pretrained", "source")["psnr"] == pytest.approx(_row(pre, "pretrained", "source")["psnr"])
        assert got["protocol"]["jpeg_quality"] == 95
    assert {r["model"] for r in _results(cwd, "runs/isr_kd/cartoon_celeba_1")["rows"]} == {
        "bicubic", "pretrained", "incremental_no_kd"}
    # "Using a trained model", in the README's order
    table1 = _run(["isr_kd_tf.evaluate", "--workdir=runs/isr_kd/cartoon_celeba_1",
                   "--workdir=runs/isr_kd/cartoon_celeba_2", "--output=runs/table1"], cwd)
    assert "| cartoon_celeba_2/incremental_kd | source |" in table1 and "cartoon_celeba_1/bicubic" in table1
    evaluated = {(r["model"], r["test"]): r["psnr"] for r in _results(cwd, "runs/table1")["rows"]}
    assert _results(cwd, "runs/isr_kd/cartoon_celeba_2")["baseline"] == "pretrained"     # G_S: Table I's baseline
    assert _results(cwd, "runs/table1")["baseline"] == "cartoon_celeba_1/pretrained"     # evaluate picks the same
    for r in _results(cwd, "runs/isr_kd/cartoon_celeba_2")["rows"]:      # the CLI's numbers are the run's own
        assert evaluated[("cartoon_celeba_2/" + r["model"], r["test"])] == pytest.approx(r["psnr"], abs=1e-4)
    table2 = _run(["isr_kd_tf.evaluate", "--workdir=runs/isr_kd/cartoon_celeba_2", "--similarity_to=pretrained"], cwd)
    assert re.search(r"\| incremental_kd \| target \| \d+\.\d{4}", table2)
    similar = _results(cwd, "runs/isr_kd/cartoon_celeba_2/similarity_to_pretrained")["rows"]
    assert [r["model"] for r in similar] == ["incremental_kd", "incremental_kd"]     # against G_S, no bicubic
    _run(["isr_kd_tf.export", "--workdir=runs/isr_kd/cartoon_celeba_2", "--output=export/cc2"], cwd)
    scored = _run(["isr_kd_tf.evaluate", "--workdir=export/cc2", "--output=runs/export_scores"], cwd)
    assert "| incremental_kd | source |" in scored
    for r in _results(cwd, "runs/export_scores")["rows"]:                  # the export scores as its checkpoint
        if r["model"] == "incremental_kd":
            assert r["psnr"] == pytest.approx(evaluated[("cartoon_celeba_2/incremental_kd", r["test"])], abs=1e-3)
    _infer(cwd, "export/cc2", "sr")


@pytest.mark.slow
def test_pkdn_paper_flagfiles_and_follow_ups(user_dir, data_dir):
    cwd = str(user_dir)
    for flagfile in PKDN:
        size = (["--width=0.25", "--hr_size=64", "--pfb_per_stage=1", "--student_blocks=2"]   # the zoo's teacher
                if flagfile == "flags/pkdn/demo.cfg" else ["--pfb_per_stage=1", "--student_blocks=1"])
        _train(flagfile, cwd, data_dir, *size)
    demo = _results(cwd, "runs/pkdn_demo")
    assert [r["model"] for r in demo["rows"]] == ["bicubic", "teacher", "student_kd", "student_no_kd"]
    assert demo["baseline"] == "student_no_kd"
    for f in ("results.md", "samples.png", "student/DONE", "student_no_kd/model.weights.h5", "tensorboard/student"):
        assert os.path.exists(os.path.join(cwd, "runs/pkdn_demo", f)), f
    assert not os.path.exists(os.path.join(cwd, "runs/pkdn_demo", "teacher"))      # the teacher came from the zoo
    student = _results(cwd, "runs/pkdn/celeba")
    assert {r["model"] for r in student["rows"]} == {"bicubic", "teacher", "student_kd"}
    assert student["protocol"] == {"y_channel": True, "crop_border": 8, "jpeg_quality": 0}
    _run(["isr_kd_tf.evaluate", "--workdir=runs/pkdn/celeba", "--workdir=runs/pkdn/kdfsrnet",
          "--output=runs/pkdn_table1"], cwd)
    # the run's own table and evaluate's are one scoring path: the same rows, in order, the same numbers
    table = _results(cwd, "runs/pkdn_table1")
    evaluated = [r for r in table["rows"] if r["model"].startswith("celeba/")]
    assert [(r["model"], r["test"]) for r in evaluated] == [("celeba/" + r["model"], r["test"]) for r in student["rows"]]
    for a, b in zip(evaluated, student["rows"]):
        assert a["psnr"] == pytest.approx(b["psnr"], abs=1e-4) and a["ssim"] == pytest.approx(b["ssim"], abs=1e-4)
    _run(["isr_kd_tf.export", "--workdir=runs/pkdn/celeba", "--output=export/pkdn"], cwd)
    _infer(cwd, "export/pkdn", "sr_pkdn")


CXX_LOG = re.compile(r"^[IWE]\d{4} [\d:.]+\s+\d+ \S+\] ", re.M)     # C++ and absl-formatted log lines


@pytest.mark.slow
def test_the_isr_kd_demo_flagfile_prints_what_matters_and_no_start_up_chatter(user_dir, data_dir):
    """Default output: stages, progress, the table, where the files went; --verbosity brings the rest back."""
    args = ("flags/demo.cfg", str(user_dir), data_dir, f"--target_data={TINY_TARGET}", "--source_count=4",
            "--target_count=8", "--width=0.125", "--hr_size=128")     # the zoo's G_S it starts from
    quiet_env = {"TF_CPP_MIN_LOG_LEVEL": None}      # as a newcomer's shell has it
    out = _train(*args, env=quiet_env)
    assert "| incremental_no_kd | target |" in out and "== stage finetune" in out and "tensorboard --logdir" in out
    demo = os.path.join(str(user_dir), "runs/demo")
    assert {(r["model"], r["test"]) for r in _results(str(user_dir), "runs/demo")["rows"]} == {
        (m, t) for m in ("bicubic", "pretrained", "incremental_kd", "incremental_no_kd") for t in ("source", "target")}
    for f in ("results.md", "samples.png", "finetune/DONE", "incremental/model.weights.h5"):
        assert os.path.exists(os.path.join(demo, f)), f
    assert not os.path.exists(os.path.join(demo, "pretrain"))       # G_S came from the zoo
    assert len(os.listdir(os.path.join(demo, "lists", "incremental"))) == 2      # both domains' exact lists
    assert len(out.splitlines()) <= 40, out
    for chatter in ("cuda", "oneDNN", "cpu_feature_guard", "absl::InitializeLog", "Load dataset info"):
        assert chatter not in out, chatter
    assert not CXX_LOG.search(out), out
    # every command starts up through the same quieting (isr_kd_tf.console), so the logging checks need
    # no training: the preview loads both datasets, 5 s against a stage's 11
    preview = ["isr_kd_tf.preview", "--output=preview.png", f"--data_dir={data_dir}", f"--source={TINY_SOURCE}",
               f"--target={TINY_TARGET}", "--n=2"]
    loud = _run([*preview, "--verbosity=0"], str(user_dir), env=quiet_env)
    assert "Load dataset info" in loud and CXX_LOG.search(loud)
    own = _run(preview, str(user_dir), env={"TF_CPP_MIN_LOG_LEVEL": "0"})    # the user's own level wins
    assert CXX_LOG.search(own)


@pytest.mark.slow
def test_the_other_documented_tools(user_dir, data_dir):
    """pkdn_tf.convert on a checkpoint in the official layout, preview, and a benchmark, as the README calls them."""
    torch = pytest.importorskip("torch")
    from pkdn_tf.torch_reference import KDFSRNet
    cwd = str(user_dir)
    torch.save(KDFSRNet(3, c=8, blocks=1, reduction=4).state_dict(), user_dir / "student.pth")
    out = _run(["pkdn_tf.convert", "--pth=student.pth", "--which=student", "--output=student.weights.h5"], cwd)
    assert "KDFSRNet student" in out and os.path.isfile(user_dir / "student.weights.h5")
    _run(["isr_kd_tf.preview", "--output=preview.png", f"--data_dir={data_dir}", f"--source={TINY_SOURCE}",
          f"--target={TINY_TARGET}", "--n=2"], cwd)
    assert Image.open(user_dir / "preview.png").size[0] == 5 * 130 + 2          # HR, LR, three edge maps
    _run(["isr_kd_tf.preview", "--output=preview_pkdn.png", "--method=pkdn", f"--data_dir={data_dir}",
          f"--source={TINY_SOURCE}", f"--target={TINY_SOURCE}", "--n=2"], cwd)
    assert Image.open(user_dir / "preview_pkdn.png").size[0] == 3 * 130 + 2      # HR, LR, the parsing map
    bench = _run(["isr_kd_tf.bench", "--json", "--only=inference", "--width=0.0625", "--steps=1"], cwd)
    result = json.loads(next(line for line in bench.splitlines() if line.startswith("{")))
    assert result["name"] == "inference" and result["batch1_s"] > 0      # the profile: tests/test_bench.py


def _readme_block(after, lang):
    """The first ```lang block after the line containing `after` in the README."""
    with open(os.path.join(ROOT, "README.md")) as f:
        text = f.read()
    return re.search(rf"```{lang}\n(.*?)```", text[text.index(after):], re.S).group(1)


@pytest.mark.slow
def test_training_on_several_machines_as_documented(user_dir, data_dir):
    """The launcher command, the TF_CONFIG of N machines and the JobSet's TF_CONFIG, as the README gives them."""
    from isr_kd_tf import cluster
    cwd = str(user_dir)
    command = _readme_block("## Training on several machines", "").split()
    assert command[:4] == ["python", "-m", "isr_kd_tf.launch", "--workers=2"]
    out = _run([*command[2:], f"--data_dir={data_dir}", *SMOKE, f"--target_data={TINY_TARGET}", "--source_count=4",
                "--target_count=8", "--width=0.125", "--hr_size=128"],      # the zoo's G_S the demo starts from
               cwd, env={"TF_CPP_MIN_LOG_LEVEL": None})
    assert "launch: 2 workers at 127.0.0.1:" in out and "2 workers, 2 replicas" in out
    assert "| incremental_no_kd | target |" in out and "[worker 1] error" not in out
    assert os.path.isfile(os.path.join(cwd, "runs/demo_2workers/results.json"))

    export = _readme_block("On N machines", "").strip()
    config = export.split("=", 1)[1].strip().strip("'")
    jobs, kind, index, addresses = cluster.tf_config({"TF_CONFIG": config})
    assert (kind, index, len(addresses)) == ("worker", 1, 3)

    import yaml
    jobset = yaml.safe_load(_readme_block("A Kubernetes `JobSet`", "yaml"))
    assert jobset["kind"] == "JobSet" and jobset["spec"]["failurePolicy"]["maxRestarts"] >= 1
    job = jobset["spec"]["replicatedJobs"][0]["template"]["spec"]
    script = job["template"]["spec"]["containers"][0]["args"][0]
    code = re.search(r"python -c '(.*?)'\)", script).group(1)
    made = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60,
                          env={**os.environ, "JOB_COMPLETION_INDEX": "2"})
    jobs, kind, index, addresses = cluster.tf_config({"TF_CONFIG": made.stdout.strip()})
    assert (index, len(addresses)) == (2, job["parallelism"])
    assert addresses[0] == f"{jobset['metadata']['name']}-worker-0-0.{jobset['metadata']['name']}:2222"
    flagfile = re.search(r"--flagfile=(\S+)", script).group(1)
    assert os.path.isfile(os.path.join(ROOT, flagfile)) and "--strategy=multi_worker" in script

"""--strategy=multi_worker: two worker processes on 127.0.0.1 against one process.

Each worker is a real `python -m isr_kd_tf.train` with its TF_CONFIG (as
isr_kd_tf.launch sets it) and one CPU thread; every wait has a timeout.
"""

import glob
import json
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest
import tensorflow as tf

from isr_kd_tf import cluster, data, launch, timing
from isr_kd_tf.config import RunConfig
from isr_kd_tf.errors import UserError
from tests.conftest import ROOT, TINY_SOURCE, TINY_TARGET

SMALL = ["--width=0.0625", "--hr_size=32", "--batch_size=4", "--epochs=1", "--eval_limit=2", "--val_images=0",
         "--verbose=0", "--deterministic", f"--source_data={TINY_SOURCE}", "--cluster_timeout=120"]
ISR_KD = ["--flagfile=flags/demo.cfg", "--stages=pretrain,incremental", "--init_from=", f"--target_data={TINY_TARGET}",
          "--source_count=4", "--target_count=8", "--steps_per_epoch=8", "--checkpoint_every=4"]
PLAIN = ["--method=tests.plain_l1", "--stages=train", "--steps_per_epoch=6", "--checkpoint_every=3"]
# Deadlines bound a hang, they do not measure speed: a multi-worker run may take WORKERS_PER_SINGLE times the
# single-process run it is compared with (one CPU thread per worker, plus joining), and a run with no
# reference RUN_SECONDS stretched by how loaded the machine is.
SINGLE_HANG_SECONDS = 1800
WORKERS_PER_SINGLE = 8
RUN_SECONDS = 240


def _loaded(seconds):
    """`seconds` stretched by the machine's load (load average per core, at least 1)."""
    return seconds * max(1.0, os.getloadavg()[0] / (os.cpu_count() or 1))


def _workers_deadline(single_seconds):
    return 60 + WORKERS_PER_SINGLE * single_seconds
USER_ENV = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}    # as a user's shell


def _command(args, workdir, data_dir):
    return [sys.executable, "-m", "isr_kd_tf.train", *args, *SMALL, f"--data_dir={data_dir}", f"--workdir={workdir}"]


def _single(args, workdir, data_dir):
    """Runs one process; returns its wall time (what the multi-worker deadlines scale with)."""
    started = time.monotonic()
    out = subprocess.run(_command(args, workdir, data_dir), cwd=ROOT, capture_output=True, text=True,
                         timeout=SINGLE_HANG_SECONDS, env=USER_ENV)
    assert out.returncode == 0, out.stderr[-3000:]
    return time.monotonic() - started


def _start_workers(args, workdir, data_dir, addresses, logdir):
    os.makedirs(logdir, exist_ok=True)
    procs = []
    for i, config in enumerate(launch.tf_configs(addresses)):
        log = open(os.path.join(logdir, f"worker{i}.log"), "w")
        procs.append(subprocess.Popen(_command(args, workdir, data_dir) + ["--strategy=multi_worker"], cwd=ROOT,
                                      env=launch.worker_env(config, 1, USER_ENV), stdout=log, stderr=subprocess.STDOUT))
    return procs


def _wait(procs, logdir, seconds):
    deadline = time.monotonic() + seconds
    try:
        for p in procs:
            p.wait(max(1.0, deadline - time.monotonic()))
    finally:
        launch._stop(procs)
    return [p.returncode for p in procs], [open(os.path.join(logdir, f"worker{i}.log")).read()
                                           for i in range(len(procs))]


def _multi_worker(args, workdir, data_dir, logdir, seconds):
    addresses = launch.loopback_addresses(2)
    codes, logs = _wait(_start_workers(args, workdir, data_dir, addresses, logdir), logdir, seconds)
    assert codes == [0, 0], "\n".join(log[-2000:] for log in logs)
    return logs


def _weights(path):
    out = {}
    with h5py.File(path) as f:
        f.visititems(lambda k, v: out.__setitem__(k, v[()]) if isinstance(v, h5py.Dataset) else None)
    return out


def _logged(logdir, tag):
    """{step: value} of a scalar in a TensorBoard folder."""
    from tensorflow.core.util import event_pb2
    out = {}
    for path in glob.glob(str(logdir / "events.*")):
        for record in tf.data.TFRecordDataset(path):
            for v in event_pb2.Event.FromString(record.numpy()).summary.value:
                if v.tag == tag:
                    out[event_pb2.Event.FromString(record.numpy()).step] = float(tf.make_ndarray(v.tensor))
    return out


def _max_relative_diff(a, b):
    assert a.keys() == b.keys() and a
    return max(float(np.max(np.abs(a[k] - b[k])) / (np.max(np.abs(b[k])) + 1e-12)) for k in a)


def _kill_one_and_check_the_other_stops(args, workdir, data_dir, addresses, logdir, checkpoint, victim, seconds):
    """Two workers; SIGKILL worker `victim` once `checkpoint` exists (within `seconds`): the other stops
    within the heartbeat (and a minute), exit status 2, one error line naming the victim's address."""
    procs = _start_workers(args, workdir, data_dir, addresses, logdir)
    deadline = time.monotonic() + seconds
    while not (workdir / checkpoint).exists() and time.monotonic() < deadline and procs[0].poll() is None:
        time.sleep(0.05)
    assert (workdir / checkpoint).exists()
    procs[victim].send_signal(signal.SIGKILL)
    started = time.monotonic()
    bound = cluster.HEARTBEAT_SECONDS + _loaded(60)
    codes, logs = _wait(procs, logdir, seconds=bound)
    assert time.monotonic() - started < bound
    other = 1 - victim
    assert codes[other] == 2, logs[other][-2000:]
    errors = [line for line in logs[other].splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "lost the cluster" in errors[0] and addresses[victim] in errors[0], logs[other][-2000:]
    assert "Traceback" not in logs[other]


# PKDN's trainer on two workers was checked here too (81 s of the suite's time); its per-replica reduction is the
# same code that tests/test_strategy.py checks on two replicas for every method, so ISR-KD's run is kept alone
@pytest.mark.parametrize("args,stages,first_checkpoint", [
    (ISR_KD, ("pretrain", "incremental"), "pretrain/checkpoints/ckpt-4.index")], ids=["isr_kd"])
@pytest.mark.slow
def test_two_workers_equal_one_process_and_resume_bit_identical_after_a_kill(args, stages, first_checkpoint,
                                                                             tmp_path, data_dir):
    """1) The chief's weights after every stage equal a single process on the same global batches;
    only the chief writes. 2) Kill worker 1 after the first checkpoint: the chief stops within the
    heartbeat with one line; both restarted with the same command resume and end bit-identical to 1).
    Part 2 is the shared loop's and runs once (ISR-KD); part 1 is each method's trainer."""
    deadline = _workers_deadline(_single(args, tmp_path / "single", data_dir))
    logs = _multi_worker(args, tmp_path / "two", data_dir, tmp_path / "logs", deadline)
    for stage in stages:
        diff = _max_relative_diff(_weights(tmp_path / "two" / stage / "model.weights.h5"),
                                  _weights(tmp_path / "single" / stage / "model.weights.h5"))
        assert diff < 1e-4, (stage, diff)
    assert "2 workers, 2 replicas" in logs[0] and "results.md" in logs[0]
    assert timing.ms_per_step(logs[0], stages[0]) > 0          # what the multi_worker benchmark reads
    assert not [line for line in logs[1].splitlines() if line.startswith("error")], logs[1]
    # only the chief writes: no worker's temporary folders are left, one results file, one event file per stage
    assert not glob.glob(str(tmp_path / "two" / "**" / "workertemp_*"), recursive=True)
    for stage in stages:
        assert len(glob.glob(str(tmp_path / "two" / "tensorboard" / stage / "events.*"))) == 1
    with open(tmp_path / "two" / "results.json") as f:
        assert json.load(f)["rows"]
    if first_checkpoint is None:
        return

    workdir = tmp_path / "killed"
    addresses = launch.loopback_addresses(2)
    _kill_one_and_check_the_other_stops(args, workdir, data_dir, addresses, tmp_path / "logs_a", first_checkpoint,
                                        victim=1, seconds=deadline)
    codes, logs = _wait(_start_workers(args, workdir, data_dir, addresses, tmp_path / "logs_b"),
                        tmp_path / "logs_b", deadline)
    assert codes == [0, 0], logs[0][-2000:]
    assert "resuming stage" in logs[0]
    for stage in stages:
        a = _weights(workdir / stage / "model.weights.h5")
        b = _weights(tmp_path / "two" / stage / "model.weights.h5")
        assert all(np.array_equal(a[k], b[k]) for k in b), stage


@pytest.mark.slow
def test_the_example_method_on_two_workers_equals_one_process(tmp_path, data_dir):
    """The README's example method (tests/plain_l1.py) is exact on two workers: the core reduces its loss."""
    deadline = _workers_deadline(_single(PLAIN, tmp_path / "single", data_dir))
    _multi_worker(PLAIN, tmp_path / "two", data_dir, tmp_path / "logs", deadline)
    diff = _max_relative_diff(_weights(tmp_path / "two" / "train" / "model.weights.h5"),
                              _weights(tmp_path / "single" / "train" / "model.weights.h5"))
    assert diff < 1e-4, diff
    # Adam hides a gradient scale; the logged loss does not (a local mean would be summed to twice it)
    single, two = (_logged(tmp_path / run / "tensorboard" / "train", "loss/loss") for run in ("single", "two"))
    assert single and single.keys() == two.keys()
    np.testing.assert_allclose(list(two.values()), list(single.values()), rtol=1e-4)


def test_deadlines_scale_with_the_reference_run_and_the_load(monkeypatch):
    """A slow or loaded machine gets longer deadlines; a hung run still meets one."""
    assert _workers_deadline(100) > _workers_deadline(10) > 10 * WORKERS_PER_SINGLE
    monkeypatch.setattr(os, "getloadavg", lambda: (8.0, 8.0, 8.0))
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert _loaded(60) == 240
    monkeypatch.setattr(os, "getloadavg", lambda: (0.5, 0.5, 0.5))
    assert _loaded(60) == 60


@pytest.mark.slow
def test_a_killed_chief_stops_the_other_worker_with_one_line(tmp_path, data_dir):
    addresses = launch.loopback_addresses(2)
    _kill_one_and_check_the_other_stops(ISR_KD, tmp_path / "w", data_dir, addresses, tmp_path / "logs",
                                        "pretrain/checkpoints/ckpt-4.index", victim=0, seconds=_loaded(RUN_SECONDS))


@pytest.mark.slow
def test_a_worker_alone_stops_naming_the_silent_address(tmp_path, data_dir):
    addresses = launch.loopback_addresses(2)
    env = launch.worker_env(launch.tf_configs(addresses)[0], 1, USER_ENV)
    started = time.monotonic()
    out = subprocess.run(_command(ISR_KD, tmp_path / "w", data_dir) + ["--strategy=multi_worker",
                                                                        "--cluster_timeout=5"],
                         cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert time.monotonic() - started < 90
    assert out.returncode != 0
    errors = [line for line in out.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and f"worker 1 at {addresses[1]}" in errors[0] and "5 s" in errors[0], out.stderr


@pytest.mark.parametrize("environ,message", [
    ({}, "needs TF_CONFIG"),
    ({"TF_CONFIG": "{"}, "TF_CONFIG is not"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1"]}, "task": {"type": "worker", "index": 1}})},
     "task worker:1 is not in the cluster"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["a:1", "a:1"]}, "task": {"type": "worker", "index": 0}})},
     "listed twice"),
    ({"TF_CONFIG": json.dumps({"cluster": {"worker": ["nohost"]}, "task": {"type": "worker", "index": 0}})},
     "not host:port"),
    ({"TF_CONFIG": json.dumps({"cluster": {"ps": ["a:1"], "worker": ["a:2"]}, "task": {"type": "worker", "index": 0}})},
     "not used by MultiWorkerMirroredStrategy"),
])
def test_tf_config_mistakes_are_one_line(environ, message):
    with pytest.raises(UserError, match=message):
        cluster.tf_config(environ)


def test_tf_config_orders_the_chief_first():
    spec = {"cluster": {"worker": ["w0:1", "w1:1"], "chief": ["c:1"]}, "task": {"type": "worker", "index": 1}}
    jobs, kind, index, addresses = cluster.tf_config({"TF_CONFIG": json.dumps(spec)})
    assert addresses == ["c:1", "w0:1", "w1:1"] and (kind, index) == ("worker", 1)
    lost = cluster.Cluster(None, 2, tuple(addresses), chief_job=True)
    assert "worker 1 (w0:1)" in lost.what_failed("The following tasks are unhealthy (stopped sending heartbeats):\n"
                                                 "/job:worker/replica:0/task:0\n")
    assert lost.write_dir("/w/ckpt") == "/w/ckpt/workertemp_2"
    assert cluster.Cluster(None, 0, tuple(addresses)).write_dir("/w/ckpt") == "/w/ckpt"


def test_launch_configs_are_a_cluster_of_free_loopback_ports():
    ports = launch.free_ports(3)
    assert len(set(ports)) == 3
    configs = [json.loads(c) for c in launch.tf_configs([f"127.0.0.1:{p}" for p in ports])]
    assert [c["task"] for c in configs] == [{"type": "worker", "index": i} for i in range(3)]
    for i, c in enumerate(configs):
        env = {"TF_CONFIG": json.dumps(c)}
        assert cluster.tf_config(env)[3][i] == f"127.0.0.1:{ports[i]}"


def _finish_checks(cfg, batch, seed):
    whole = data.finish(batch, cfg, seed)
    parts = [data.finish(batch, cfg, seed, rows=(a, b)) for a, b in ((0, 1), (1, 3), (3, 4))]
    for k in whole:
        np.testing.assert_array_equal(np.concatenate([p[k].numpy() for p in parts]), whole[k].numpy(), err_msg=k)


def test_shares_of_a_batch_put_together_equal_the_batch_eagerly_and_in_tf_data():
    cfg = data.PipelineConfig(run=RunConfig(hr_size=32, rotate_prob=0.75), noise_sigma=3.0)
    hr = tf.cast(tf.random.stateless_uniform((4, 32, 32, 3), (1, 2), 0, 255), tf.uint8)
    batch = {"hr": hr, "domain": tf.constant([0, 1, 1, 0])}
    seed = tf.constant([5, 9], tf.int64)
    _finish_checks(cfg, batch, seed)
    whole = next(iter(tf.data.Dataset.from_tensors(batch).map(lambda b: data.finish(b, cfg, seed))))
    share = next(iter(tf.data.Dataset.from_tensors(batch).map(lambda b: data.finish(b, cfg, seed, rows=(1, 3)))))
    for k in whole:
        np.testing.assert_array_equal(share[k].numpy(), whole[k].numpy()[1:3], err_msg=k)


@pytest.mark.slow          # five training pipelines built and read: 5 s
def test_worker_streams_split_the_global_batches(data_dir):
    """Two workers' streams, replica by replica (one or two per worker), are the single stream's batches
    cut in order."""
    specs = [data.DomainSpec(TINY_SOURCE, data.SOURCE, 6), data.DomainSpec(TINY_TARGET, data.TARGET, 6)]
    cfg = data.PipelineConfig(run=RunConfig(hr_size=32))
    whole = list(data.training_dataset(specs, cfg, 4, 3, data_dir).take(3))
    for local_replicas in (1, 2):
        per = 4 // (2 * local_replicas)
        streams = [list(data.training_dataset(specs, cfg, 4, 3, data_dir, share=(w * 2, 2, per))
                        .take(3 * local_replicas)) for w in range(2)]
        for step in range(3):
            pieces = [streams[w][step * local_replicas + r] for w in range(2) for r in range(local_replicas)]
            for k in whole[step]:
                np.testing.assert_array_equal(np.concatenate([p[k].numpy() for p in pieces]), whole[step][k].numpy(),
                                              err_msg=f"{local_replicas} replica(s) per worker, step {step}, {k}")


@pytest.mark.slow
def test_joining_is_possible_after_importing_the_entry_points():
    """MultiWorkerMirroredStrategy must be made before TensorFlow's runtime starts: no tensor at import."""
    script = ("import tensorflow as tf\nfrom tensorflow.python.eager import context\n"
              "import isr_kd_tf.train, isr_kd_tf.launch, pkdn_tf.method, isr_kd.method\n"
              "print('started', context.context()._context_handle is not None)\n")
    out = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert "started False" in out.stdout, out.stderr[-2000:]


@pytest.mark.slow
def test_launcher_stops_everyone_when_a_worker_fails(capsys):
    started = time.monotonic()
    status = launch.launch(["--no_such_flag=1"], workers=2, threads=1, grace=10)
    assert status != 0 and time.monotonic() - started < 60
    err = capsys.readouterr().err
    assert "launch: worker" in err and "exited with status" in err

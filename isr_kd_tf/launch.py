"""python -m isr_kd_tf.launch --workers=2 -- --flagfile=flags/demo.cfg

Tries --strategy=multi_worker on one machine: starts that many training
processes, each with the TF_CONFIG of a cluster on free 127.0.0.1 ports and
its share of the CPU threads. The chief's output is shown as it is, the
others' lines prefixed with their worker. If one worker fails, the others
get --grace seconds to stop on their own, then are stopped; the launcher
exits with the first failure's status. On real machines, set TF_CONFIG on
each and run `python -m isr_kd_tf.train ... --strategy=multi_worker` there
(README, "Training on several machines").
"""

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

from absl import app, flags

from isr_kd_tf.errors import UserError, run_main

flags.DEFINE_integer("workers", 2, "Worker processes to start (each a task of the cluster).")
flags.DEFINE_integer("threads", 0, "CPU threads per worker (0 = this machine's cores / --workers, at least 1).")
flags.DEFINE_string("module", "isr_kd_tf.train", "The training entry point each worker runs with python -m.")
flags.DEFINE_float("grace", 45.0, "Seconds the other workers get to stop on their own after one fails.")
FLAGS = flags.FLAGS


def free_ports(n, host="127.0.0.1"):
    """n distinct ports free on `host` now (held open together so they differ)."""
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind((host, 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def loopback_addresses(n):
    """n free 127.0.0.1:port addresses: a cluster on this machine."""
    return [f"127.0.0.1:{port}" for port in free_ports(n)]


def tf_configs(addresses):
    """TF_CONFIG of each worker of a cluster of `addresses` (worker 0 is the chief)."""
    return [json.dumps({"cluster": {"worker": list(addresses)}, "task": {"type": "worker", "index": i}})
            for i in range(len(addresses))]


def worker_env(config, threads, environ=None):
    env = dict(os.environ if environ is None else environ)
    env.update(TF_CONFIG=config, TF_NUM_INTRAOP_THREADS=str(threads), TF_NUM_INTEROP_THREADS=str(threads),
               OMP_NUM_THREADS=str(threads))
    return env


def _forward(stream, prefix):
    for line in iter(stream.readline, ""):
        sys.stdout.write(prefix + line)
        sys.stdout.flush()


def _stop(procs, seconds=5.0):
    for p in procs:
        if p.poll() is None:
            p.terminate()
    deadline = time.monotonic() + seconds
    for p in procs:
        try:
            p.wait(max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            p.kill()          # a process blocked in a collective may not heed SIGTERM
            p.wait()


def launch(args, workers, threads=0, module="isr_kd_tf.train", grace=45.0):
    """Runs `python -m module *args --strategy=multi_worker` as `workers` processes; returns the exit status."""
    if workers < 1:
        raise UserError(f"--workers must be at least 1 (got {workers})")
    threads = threads or max(1, (os.cpu_count() or 1) // workers)
    addresses = loopback_addresses(workers)
    command = [sys.executable, "-m", module, *args, "--strategy=multi_worker"]
    procs, forwarders = [], []
    for i, config in enumerate(tf_configs(addresses)):
        piped = subprocess.PIPE if i else None
        p = subprocess.Popen(command, env=worker_env(config, threads), stdout=piped,
                             stderr=subprocess.STDOUT if i else None, text=True)
        procs.append(p)
        if i:
            t = threading.Thread(target=_forward, args=(p.stdout, f"[worker {i}] "), daemon=True)
            t.start()
            forwarders.append(t)
    print(f"launch: {workers} workers at {', '.join(addresses)}, {threads} thread(s) each", flush=True)
    try:
        failed = None
        while any(p.poll() is None for p in procs):
            failed = next((i for i, p in enumerate(procs) if p.poll()), None)
            if failed is not None:
                break
            time.sleep(0.2)
        failed = failed if failed is not None else next((i for i, p in enumerate(procs) if p.poll()), None)
        if failed is not None:
            deadline = time.monotonic() + grace
            while any(p.poll() is None for p in procs) and time.monotonic() < deadline:
                time.sleep(0.2)
            _stop(procs)
            status = procs[failed].returncode
            print(f"launch: worker {failed} exited with status {status}; the others were stopped "
                  f"(run the same command again to resume)", file=sys.stderr, flush=True)
            return status if status > 0 else 1
        return 0
    except KeyboardInterrupt:
        _stop(procs)
        return 128 + signal.SIGINT
    finally:
        for t in forwarders:
            t.join(5)


@run_main
def main(argv):
    args = argv[1:]
    if not args:
        raise app.UsageError("give the training flags after --, e.g. "
                             "python -m isr_kd_tf.launch --workers=2 -- --flagfile=flags/demo.cfg")
    sys.exit(launch(args, FLAGS.workers, FLAGS.threads, FLAGS.module, FLAGS.grace))


if __name__ == "__main__":
    app.run(main)

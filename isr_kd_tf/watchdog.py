"""Stops a worker that cannot join its cluster, from a separate small process.

TensorFlow's cluster start-up can block inside C++ without giving Python's
other threads a turn, so a timer thread in the worker itself never fires.
This process (no TensorFlow import) waits on a pipe from the worker: the
worker closes it once joined (or by dying); if it is still open after the
timeout, it names the addresses that do not answer and kills the worker.
"""

import os
import select
import signal
import socket
import sys


def answers(address, seconds=2.0):
    """Whether something accepts TCP connections at host:port."""
    host, _, port = address.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout=seconds):
            return True
    except OSError:
        return False


def main(argv):
    pid, seconds, task_id, addresses = int(argv[1]), float(argv[2]), int(argv[3]), argv[4:]
    ready, _, _ = select.select([sys.stdin], [], [], seconds)
    if ready:                     # the worker joined, or died: the pipe closed
        return 0
    silent = [f"worker {i} at {a}" for i, a in enumerate(addresses) if i != task_id and not answers(a)]
    who = ", ".join(silent) if silent else "the others (every address answers: do all workers have the same " \
                                           "TF_CONFIG cluster?)"
    print(f"error: worker {task_id} ({addresses[task_id]}) waited {seconds:g} s for {who}: start every worker "
          "listed in TF_CONFIG, or check those addresses (--cluster_timeout sets the wait)",
          file=sys.stderr, flush=True)
    try:
        os.kill(pid, signal.SIGKILL)        # blocked in C++, it heeds nothing gentler
    except ProcessLookupError:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

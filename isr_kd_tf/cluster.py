"""Where this process stands in a run: one device, one machine's replicas, or one worker of many.

--strategy=multi_worker uses TensorFlow's MultiWorkerMirroredStrategy with
the cluster in TF_CONFIG, the variable Kubernetes' TFJob operator and
Vertex AI set. Every worker computes the same global batches and
finishes its own rows of each; gradients and loss sums are all-reduced, so
a step equals the single-device step. The chief (task 0 of job `chief`, or
worker 0 without one) writes the work directory; the others write only to
temporary folders (TensorFlow's multi-worker convention) and read the
chief's checkpoints, so --workdir must be a folder every worker shares.

A worker that cannot reach the others is stopped after --cluster_timeout
seconds by isr_kd_tf.watchdog, which names the silent addresses; once
running, a lost worker is noticed by the coordination service's heartbeats
and every other worker stops with one line. Restarting all workers with the
same command resumes from the chief's newest checkpoint.
"""

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys

import tensorflow as tf

from isr_kd_tf.errors import UserError
from isr_kd_tf.watchdog import answers

WORKER_JOBS = ("chief", "worker")
HEARTBEAT_SECONDS = 15          # a silent worker is declared lost after this long
WAIT_SECONDS = 24 * 3600        # waits for the chief's files; a dead chief ends them at once


def mirrored_strategy(devices=None):
    """MirroredStrategy; without GPUs it reduces on one device, since CPU collectives of
    several all-reduces in one step (D's, then G's) can be matched out of order."""
    if tf.config.list_physical_devices("GPU"):
        return tf.distribute.MirroredStrategy(devices)
    return tf.distribute.MirroredStrategy(devices, cross_device_ops=tf.distribute.ReductionToOneDevice())


@dataclasses.dataclass
class Cluster:
    """The strategy and this process's place: task_id 0 is the chief; addresses lists every worker."""
    strategy: tf.distribute.Strategy
    task_id: int = 0
    addresses: tuple = ()
    chief_job: bool = False      # TF_CONFIG has a "chief" job (else worker 0 is the chief)

    @property
    def num_workers(self):
        return max(1, len(self.addresses))

    @property
    def is_chief(self):
        return self.task_id == 0

    @property
    def multi_worker(self):
        return bool(self.addresses)

    @property
    def name(self):
        return f"worker {self.task_id}" + (f" ({self.addresses[self.task_id]})" if self.addresses else "")

    def what_failed(self, message):
        """The gist of a collective's or the coordination service's error: which worker went silent."""
        m = re.search(r"unhealthy.*?/job:(\w+)/replica:\d+/task:(\d+)", message, re.S)
        if m:
            job, task = m.group(1), int(m.group(2))
            silent = [task if job == "chief" or not self.chief_job else task + 1]
        else:       # a transfer cut short: the lost worker's port no longer answers
            silent = [i for i, a in enumerate(self.addresses) if i != self.task_id and not answers(a)]
        if silent:
            return ", ".join(f"worker {i} ({self.addresses[i] if i < len(self.addresses) else '?'})"
                             for i in silent) + " stopped answering"
        if "coordination service" in message:
            return f"the chief ({self.addresses[0]}) stopped answering"
        lines = [line.strip() for line in message.splitlines()]
        lines = [line for line in lines if line and not line.startswith(("Graph execution error", "Detected at node",
                                                                         "File "))]
        return lines[0][:200] if lines else "a collective operation failed"

    def write_dir(self, path):
        """Where this worker writes what belongs in `path`: the chief writes there, the others
        to a temporary folder beside it (remove_temporary deletes it)."""
        return path if self.is_chief else os.path.join(path, f"workertemp_{self.task_id}")

    def remove_temporary(self, path):
        if not self.is_chief:
            shutil.rmtree(self.write_dir(path), ignore_errors=True)

    def barrier(self, name):
        """Every worker waits here until all arrive (no-op on one machine)."""
        if self.multi_worker:
            with lost_worker_is_user_error(self, f"waiting for the others at {name!r}"):
                from tensorflow.python.eager import context
                context.context().wait_at_barrier(name, WAIT_SECONDS * 1000)

    def chief_value(self, key, value=None):
        """The chief's `value` on every worker (the chief passes it, the others receive it)."""
        if not self.multi_worker:
            return value
        from tensorflow.python.eager import context
        with lost_worker_is_user_error(self, f"waiting for the chief's {key!r}"):
            if self.is_chief:
                context.context().set_config_key_value(key, json.dumps(value))
                return value
            return json.loads(context.context().get_config_key_value(key, WAIT_SECONDS * 1000))

    def distribute(self, make_dataset, batch_size):
        """make_dataset(share) -> tf.data.Dataset (see data.training_dataset), distributed:
        this worker's rows of each global batch, split among its replicas."""
        replicas = self.strategy.num_replicas_in_sync
        if replicas == 1 and not self.multi_worker:
            return make_dataset(None)
        if batch_size % replicas:
            raise UserError(f"--batch_size={batch_size} does not split evenly over {replicas} replicas "
                            f"({self.num_workers} worker(s)); use a multiple of {replicas}")
        per_replica = batch_size // replicas

        def dataset_fn(ctx):
            local = ctx.num_replicas_in_sync // ctx.num_input_pipelines
            return make_dataset((ctx.input_pipeline_id * local * per_replica, local * per_replica, per_replica))
        return self.strategy.distribute_datasets_from_function(dataset_fn)


class lost_worker_is_user_error:
    """Turns the errors a lost or unreachable worker causes into one line that says what to do."""

    LOST = (tf.errors.UnavailableError, tf.errors.AbortedError, tf.errors.DeadlineExceededError,
            tf.errors.CancelledError, tf.errors.FailedPreconditionError, tf.errors.InternalError)

    def __init__(self, cluster, doing):
        self.cluster, self.doing = cluster, doing

    def __enter__(self):
        return self

    def __exit__(self, kind, error, tb):
        if error is None or not self.cluster.multi_worker or not isinstance(error, self.LOST):
            return False
        raise UserError(f"{self.cluster.name} lost the cluster while {self.doing}: "
                        f"{self.cluster.what_failed(getattr(error, 'message', '') or str(error))}; restart every "
                        "worker with the same command: training resumes from the chief's newest checkpoint") \
            from None


def tf_config(environ=None):
    """(TF_CONFIG's {job: [address]}, task type, task index, every address chief first), checked;
    one line per mistake."""
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw:
        raise UserError("--strategy=multi_worker needs TF_CONFIG (the cluster and this worker's task); set it as "
                        "the README shows, or start the workers with python -m isr_kd_tf.launch")
    try:
        spec = json.loads(raw)
        cluster, task = spec["cluster"], spec["task"]
        kind, index = task["type"], int(task["index"])
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"TF_CONFIG is not {{\"cluster\": {{...}}, \"task\": {{\"type\": ..., \"index\": ...}}}} "
                        f"({type(e).__name__}: {e})") from None
    jobs = {job: list(addresses) for job, addresses in cluster.items() if job in WORKER_JOBS}
    if set(cluster) - set(WORKER_JOBS) - {"evaluator"}:
        raise UserError(f"TF_CONFIG: job(s) {sorted(set(cluster) - set(WORKER_JOBS))} are not used by "
                        "MultiWorkerMirroredStrategy; list the machines under \"worker\" (and one \"chief\")")
    if len(jobs.get("chief", [])) > 1:
        raise UserError("TF_CONFIG: at most one \"chief\" address")
    if kind not in WORKER_JOBS or not 0 <= index < len(jobs.get(kind, [])):
        raise UserError(f"TF_CONFIG: task {kind}:{index} is not in the cluster {json.dumps(cluster)}")
    addresses = jobs.get("chief", []) + jobs.get("worker", [])
    for a in addresses:
        host, _, port = a.rpartition(":")
        if not host or not port.isdigit():
            raise UserError(f"TF_CONFIG: address {a!r} is not host:port")
    if len(set(addresses)) != len(addresses):
        raise UserError(f"TF_CONFIG: an address is listed twice ({addresses})")
    return jobs, kind, index, addresses


def cluster_for(run):
    """The Cluster of --strategy; models and optimizers are built in its strategy's scope."""
    if run.strategy == "mirrored":
        return Cluster(mirrored_strategy())
    if run.strategy == "multi_worker":
        return connect(run.cluster_timeout)
    return Cluster(tf.distribute.get_strategy())


_CONNECTED = {}


def connect(timeout):
    """Joins the TF_CONFIG cluster (once per process); stops the process after `timeout` seconds
    without every worker, naming those that do not answer."""
    if "cluster" in _CONNECTED:
        return _CONNECTED["cluster"]
    jobs, kind, index, addresses = tf_config()
    task_id = addresses.index(jobs[kind][index])
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context
    leader = "chief" if "chief" in jobs else "worker"
    context.context().configure_coordination_service(
        service_type="standalone", service_leader=f"/job:{leader}/replica:0/task:0",
        cluster_register_timeout_in_ms=int(timeout * 1000), heartbeat_timeout_in_ms=HEARTBEAT_SECONDS * 1000,
        shutdown_barrier_timeout_in_ms=HEARTBEAT_SECONDS * 1000,
        coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=job, num_tasks=len(jobs[job]))
                          for job in WORKER_JOBS if job in jobs])
    me = f"worker {task_id} ({addresses[task_id]})"
    watchdog = subprocess.Popen([sys.executable, "-m", "isr_kd_tf.watchdog", str(os.getpid()), str(timeout),
                                 str(task_id), *addresses], stdin=subprocess.PIPE)
    try:
        strategy = tf.distribute.MultiWorkerMirroredStrategy(
            cluster_resolver=tf.distribute.cluster_resolver.TFConfigClusterResolver())
    except (RuntimeError, tf.errors.OpError) as e:
        raise UserError(f"{me} could not join the cluster ({str(e).strip().splitlines()[0][:200]}); check "
                        "TF_CONFIG and that its port is free") from None
    finally:
        watchdog.stdin.close()          # joined (or failed on our own): the watchdog leaves quietly
        watchdog.wait()
    _CONNECTED["cluster"] = Cluster(strategy, task_id, tuple(addresses), "chief" in jobs)
    return _CONNECTED["cluster"]

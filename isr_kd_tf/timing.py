"""Timing a train step against this machine's own matmul peak: what the benchmarks of the core
and of every method share (python -m isr_kd_tf.bench prints them)."""

import re
import time

from isr_kd_tf.errors import UserError


def compares_with_peak(benchmark):
    """Whether a benchmark times steps against the matmul peak (set `fn.compares_with_peak = False` on
    one that does not, e.g. a data pipeline or a launcher: the peak is then not measured for it)."""
    return getattr(benchmark, "compares_with_peak", True)


def peak_matmul_gflops(n=4096, repeats=5, dtype="float32"):
    """Best GFLOP/s of an n x n matmul: the roofline the steps are compared with."""
    import tensorflow as tf
    a, b = tf.cast(tf.random.normal((n, n)), dtype), tf.cast(tf.random.normal((n, n)), dtype)
    mm = tf.function(lambda a, b: tf.reduce_sum(tf.matmul(a, b)))
    mm(a, b).numpy()
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        mm(a, b).numpy()
        best = min(best, time.perf_counter() - t)
    return 2 * n ** 3 / best / 1e9


def graph_flops(fn, *args):
    """Float ops of one call of tf.function `fn`, counted on its graph (forward and backward)."""
    from tensorflow.python.profiler import model_analyzer, option_builder
    opts = option_builder.ProfileOptionBuilder.float_operation()
    opts["output"] = "none"
    return model_analyzer.profile(graph=fn.get_concrete_function(*args).graph, options=opts).total_float_ops


def _sync(out):
    """Waits for `out` (TensorFlow or PyTorch tensors, nested or not)."""
    import tensorflow as tf
    tf.nest.map_structure(lambda t: t.numpy(), out)


def _warm(fn, batch):
    """A trace (or compile) call, then one warm call, before anything is timed."""
    for _ in range(2):
        _sync(fn(batch))


def time_steps(fn, batch, steps):
    """Seconds per call, averaged over `steps` calls after `_warm`."""
    _warm(fn, batch)
    t = time.perf_counter()
    for _ in range(steps):
        out = fn(batch)
    _sync(out)
    return (time.perf_counter() - t) / steps


def median_step_seconds(fn, batch, steps):
    """Median seconds of `steps` calls, each waited for, after `_warm`: one slow call (a hiccup of the
    shared host) moves it less than a mean."""
    import statistics
    _warm(fn, batch)
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        _sync(fn(batch))
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def cpu_times():
    """(steal, total) jiffies of all CPUs from /proc/stat; None off Linux.

    Steal is time the hypervisor gave this VM's CPUs to someone else: on a
    shared host it is why two runs of the same step differ.
    """
    try:
        with open("/proc/stat") as f:
            fields = [int(v) for v in f.readline().split()[1:]]
    except (OSError, ValueError):
        return None
    return fields[7] if len(fields) > 7 else 0, sum(fields)


def steal_share(before, after):
    """Share of all CPU time between two cpu_times() readings that was stolen."""
    if before is None or after is None or after[1] == before[1]:
        return None
    return round((after[0] - before[0]) / (after[1] - before[1]), 3)


def _time_steps_against_peak(fn, batch, steps):
    """Seconds of each step, the matmul peak measured around each (the better
    of just before and just after), and the largest share of CPU time the
    hypervisor stole during a step.

    This machine's speed drifts by ~15 % within minutes (shared host); a peak
    taken around each step follows the drift, the run's best peak does not.
    """
    _warm(fn, batch)
    times, local_peaks, steal = [], [], 0.0
    before = peak_matmul_gflops(repeats=2)
    for _ in range(steps):
        cpu = cpu_times()
        t = time.perf_counter()
        _sync(fn(batch))
        times.append(time.perf_counter() - t)
        steal = max(steal, steal_share(cpu, cpu_times()) or 0.0)
        after = peak_matmul_gflops(repeats=2)
        local_peaks.append(max(before, after))
        before = after
    return times, local_peaks, steal


def traced_ops(fn, batch):
    """(op events [(op type, start ps, duration ps)], wall seconds) of one profiled call of `fn`
    (already traced and warm), from the TensorFlow profiler's trace; None when its format is unavailable."""
    import glob
    import shutil
    import tempfile

    import tensorflow as tf
    try:
        from tensorflow.tsl.profiler.protobuf import xplane_pb2
    except ImportError:
        return None
    logdir = tempfile.mkdtemp()
    try:
        tf.profiler.experimental.start(logdir)
        t = time.perf_counter()
        _sync(fn(batch))
        wall = time.perf_counter() - t
        tf.profiler.experimental.stop()
        space = xplane_pb2.XSpace()
        with open(glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)[0], "rb") as f:
            space.ParseFromString(f.read())
    finally:
        shutil.rmtree(logdir, ignore_errors=True)
    events = []
    for plane in space.planes:
        for line in plane.lines:
            for event in line.events:
                name = plane.event_metadata[event.metadata_id].name
                op = name.rpartition(":")[2]
                # "op name:OpType" is a kernel; the executor's own spans ("...:Process", "...:Run") and the
                # function call around them contain the kernels and are left out
                if ":" in name and op not in ("Process", "Run") and "__inference" not in op:
                    events.append((op, line.timestamp_ns * 1000 + event.offset_ps, event.duration_ps))
    return events, wall


def contraction_share(fn, batch, kinds=("Conv2D", "MatMul")):
    """Share of one profiled call of `fn` (already traced and warm) during
    which at least one convolution or matmul kernel ran (TensorFlow profiler,
    graph mode).

    Splits a step into the contractions that carry its FLOPs and everything
    else (elementwise ops, pooling, copies, scheduling gaps): the step's
    fraction of peak divided by this share is what it would reach if
    everything else were free. None when the profiler's trace format is
    unavailable.
    """
    traced = traced_ops(fn, batch)
    if traced is None:
        return None
    events, wall = traced
    intervals = [(start, start + dur) for op, start, dur in events if any(k in op for k in kinds)]
    return min(1.0, union_length(intervals) / 1e12 / wall)


# What a train step's time goes to, by op: the first category whose patterns an op's name contains.
# TensorFlow's op types (oneDNN's kernels keep them: _MklNativeConv2D..., _FusedConv2D) and PyTorch's
# aten:: operators, one table for both, so the two profiles read side by side.
OP_CATEGORIES = (
    ("conv backward-data", ("Conv2DBackpropInput",)),
    ("conv backward-filter", ("Conv2DBackpropFilter", "BiasAddGrad")),
    ("conv backward (data and filter)", ("convolution_backward",)),
    ("conv forward", ("Conv2D", "convolution", "conv2d", "mkldnn_convolution")),
    ("layout reorders and copies", ("Transpose", "MklToTf", "InputConversion", "copy_", "contiguous", "clone",
                                    "to_dense", "to_mkldnn", "_to_copy")),
    ("optimizer", ("ApplyAdam", "FusedAdam", "AssignSubVariable", "AssignAddVariable", "AssignVariable",
                   "_foreach", "Adam")),
    ("channel attention (pool, sigmoid)", ("Mean", "Sigmoid", "mean", "sigmoid", "adaptive_avg_pool")),
    ("elementwise (add, mul, ReLU, shifts)", ("Add", "Mul", "Sub", "Relu", "add", "mul", "sub", "relu", "threshold",
                                              "BiasAdd", "AddN", "sum", "Sum", "Abs", "abs", "sign", "Sign")),
)


def op_category(op):
    return next((name for name, patterns in OP_CATEGORIES if any(p in op for p in patterns)), "other")


def step_profile(fn, batch):
    """{category: milliseconds} of one profiled call of `fn` (already warm): the summed duration of
    its kernels by OP_CATEGORIES (with two threads, kernels overlap: the sum can exceed the wall), and
    "wall" the call's own time. None when the trace format is unavailable."""
    traced = traced_ops(fn, batch)
    if traced is None:
        return None
    events, wall = traced
    out = {}
    for op, _, dur in events:
        key = op_category(op)
        out[key] = out.get(key, 0.0) + dur / 1e9
    return {**{k: round(v, 1) for k, v in sorted(out.items())}, "wall": round(wall * 1e3, 1)}


def union_length(intervals):
    """Total length covered by (start, end) intervals that may overlap."""
    total, end = 0, None
    for lo, hi in sorted(intervals):
        if end is None or lo > end:
            total, end = total + hi - lo, hi
        elif hi > end:
            total, end = total + hi - end, hi
    return total


def step_report(name, make_step, batch, steps, peak, **info):
    """Graph mode and XLA timings of a train step, with FLOPs and the share of the matmul peak."""
    import statistics

    import tensorflow as tf
    result = {"name": name, **info}
    for mode, jit in (("graph", False), ("xla", True)):
        fn = tf.function(make_step(), jit_compile=jit, autograph=False)     # as loop.fit traces it
        if mode == "graph":
            gflop = result["gflop"] = round(graph_flops(fn, batch) / 1e9, 2)
            times, local_peaks, steal = _time_steps_against_peak(fn, batch, steps)
            step_s = statistics.median(times)
            peak = max(peak, *local_peaks)
            result["best_step_s"] = round(min(times), 4)
            result["worst_step_steal_share"] = steal
            local = statistics.median(gflop / t / p for t, p in zip(times, local_peaks))
            result["fraction_of_local_peak"] = round(local, 3)
            share = contraction_share(fn, batch)
            if share:
                result["contraction_share"] = round(share, 3)
                result["fraction_if_only_contractions"] = round(local / share, 3)
        else:
            step_s = time_steps(fn, batch, steps)
        result[f"{mode}_step_s"] = round(step_s, 4)
        result[f"{mode}_achieved_gflops"] = round(result["gflop"] / step_s, 1)
    result["step_s"] = result["graph_step_s"]
    result["achieved_gflops"] = result["graph_achieved_gflops"]
    result["peak_gflops"] = round(peak, 1)
    result["fraction_of_peak"] = round(result["achieved_gflops"] / peak, 3)
    return result


MS_PER_STEP = re.compile(r"stage (\S+): (\d+) steps, ([\d.]+) ms per step after the first")


def ms_per_step(output, stage):
    """The chief's steady-state step time of `stage`, from the line the training loop prints."""
    for m in MS_PER_STEP.finditer(output):
        if m.group(1) == stage:
            return float(m.group(3))
    raise UserError(f"no step time of stage {stage} in the run's output:\n{output[-2000:]}")

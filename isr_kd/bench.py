"""ISR-KD benchmarks for `python -m isr_kd_tf.bench`: the incremental GAN step and exported inference."""

import tempfile

from isr_kd_tf.errors import UserError
from isr_kd_tf.timing import graph_flops, median_step_seconds, ms_per_step, peak_matmul_gflops, step_report, time_steps


def _incremental_step_maker(batch_size, hr_size, width):
    """(make_step, batch): the incremental GAN step at a size, teacher + G + D, half source, half target."""
    import keras
    import tensorflow as tf
    from isr_kd_tf import data
    from isr_kd_tf.config import RunConfig
    from isr_kd.discriminator import build_discriminator
    from isr_kd.edges import EdgeTargets
    from isr_kd.generator import build_generator
    from isr_kd.trainer import ISRKDTrainer, copy_generator
    from isr_kd_tf.optim import FusedAdam

    hr = tf.random.uniform((batch_size, hr_size, hr_size, 3), 0, 255, seed=0)
    batch = data.finish({"hr": tf.cast(hr, tf.uint8), "domain": tf.range(batch_size) % 2},
                        data.PipelineConfig(run=RunConfig(hr_size=hr_size), features=EdgeTargets(8, "fixed")))

    def make_step():
        keras.utils.set_random_seed(0)
        g = build_generator(width)
        trainer = ISRKDTrainer(g, build_discriminator(width, hr_size), copy_generator(g), "incremental")
        trainer.compile(FusedAdam(1e-4), FusedAdam(1e-4))
        trainer.g_optimizer.build(g.trainable_variables)
        trainer.d_optimizer.build(trainer.discriminator.trainable_variables)
        return trainer.train_step
    return make_step, batch


def bench_isr_kd_incremental_train_step(batch_size=16, hr_size=128, width=1.0, steps=3, peak=None, **_):
    """The incremental GAN step at paper width: teacher + G + D, half source, half target."""
    make_step, batch = _incremental_step_maker(batch_size, hr_size, width)
    return step_report("isr_kd_incremental_train_step", make_step, batch, steps, peak or peak_matmul_gflops(),
                       batch_size=batch_size, hr_size=hr_size, width=width)


def bench_official_incremental_step(reference_code="", batch_size=16, hr_size=128, steps=3, **_):
    """This package's incremental step (graph mode) beside the authors' TF1 graph of it, run from a checkout
    of their code (official_graph), same batch size and image size, paper width, in the same run.

    Theirs is D's update then G's, each with its own G forward, the teacher's outputs fed (computed once,
    offline); ours is one G forward for both updates with the frozen teacher inside the step. So two ratios:
    ratio_to_official (their two updates alone) and ratio_to_official_with_teacher (plus their generator's
    forward on the distilled half, the teacher work they do offline)."""
    import tensorflow as tf
    from isr_kd import official_graph
    graph, names = official_graph.build(reference_code, batch_size, hr_size)
    sess = official_graph.session(graph)
    values = official_graph.feeds(names)
    theirs = official_graph.step_fn(sess, names, values)
    forward = official_graph.teacher_forward_fn(sess, names, values)
    official_s = median_step_seconds(lambda _: (theirs(), {})[1], None, steps)   # sess.run returns when done
    teacher_s = median_step_seconds(lambda _: (forward(), {})[1], None, steps) / 2   # the distilled half
    make_step, batch = _incremental_step_maker(batch_size, hr_size, 1.0)
    ours = median_step_seconds(tf.function(make_step(), autograph=False), batch, steps)
    return {"name": "official_incremental_step", "batch_size": batch_size, "hr_size": hr_size, "width": 1.0,
            "official_parameters": official_graph.parameter_counts(graph), "step_s": round(ours, 4),
            "official_step_s": round(official_s, 4), "official_teacher_forward_s": round(teacher_s, 4),
            "ratio_to_official": round(ours / official_s, 3),
            "ratio_to_official_with_teacher": round(ours / (official_s + teacher_s), 3)}


bench_official_incremental_step.compares_with_peak = False


def bench_identity_loss_cost(batch_size=16, hr_size=96, width=0.25, steps=3, **_):
    """The incremental step of the real-image protocol (96x96, width 1/4) without and with the identity loss
    (face-api's network on SR and HR inside the step): ms per step each, alternated in one run."""
    import keras
    import tensorflow as tf
    from isr_kd_tf import data
    from isr_kd_tf.config import RunConfig
    from isr_kd import face_api
    from isr_kd.discriminator import build_discriminator
    from isr_kd.generator import build_generator
    from isr_kd.edges import EdgeTargets
    from isr_kd.trainer import ISRKDTrainer, copy_generator
    from isr_kd_tf.optim import FusedAdam

    hr = tf.random.uniform((batch_size, hr_size, hr_size, 3), 0, 255, seed=0)
    batch = data.finish({"hr": tf.cast(hr, tf.uint8), "domain": tf.range(batch_size) % 2},
                        data.PipelineConfig(run=RunConfig(hr_size=hr_size), features=EdgeTargets(8, "fixed")))

    def step(identity):
        keras.utils.set_random_seed(0)
        g = build_generator(width)
        trainer = ISRKDTrainer(g, build_discriminator(width, hr_size), copy_generator(g), "incremental",
                               identity_net=face_api.build() if identity else None)
        trainer.compile(FusedAdam(1e-4), FusedAdam(1e-4))
        trainer.g_optimizer.build(g.trainable_variables)
        trainer.d_optimizer.build(trainer.discriminator.trainable_variables)
        return tf.function(trainer.train_step, autograph=False)

    without, with_id = step(False), step(True)
    times = {"without": [], "with": []}
    for _ in range(steps):                     # alternated, so both see the machine's same drift
        times["without"].append(time_steps(without, batch, 1))
        times["with"].append(time_steps(with_id, batch, 1))
    a, b = sorted(times["without"])[steps // 2], sorted(times["with"])[steps // 2]
    return {"name": "identity_loss_cost", "batch_size": batch_size, "hr_size": hr_size, "width": width,
            "step_ms_without_identity": round(1000 * a, 1), "step_ms_with_identity": round(1000 * b, 1),
            "identity_ms_per_step": round(1000 * (b - a), 1), "ratio": round(b / a, 2)}


def bench_inference(width=1.0, steps=5, peak=None, **_):
    """The exported ISR-KD generator, 16x16 -> 128x128: batch-1 latency, batch-32 throughput."""
    import tensorflow as tf
    from isr_kd_tf import config
    from isr_kd_tf.serving import SuperResolver
    from isr_kd.generator import build_generator

    peak = peak or peak_matmul_gflops()
    out = tempfile.mkdtemp()
    generator = build_generator(width)
    module = SuperResolver(config.make(method="isr_kd", width=width), generator)
    tf.saved_model.save(module, out, signatures={"serving_default": module.serving})
    serve = tf.saved_model.load(out).signatures["serving_default"]
    result = {"name": "inference", "width": width, "peak_gflops": round(peak, 1)}
    for n in (1, 32):
        lr = tf.cast(tf.random.uniform((n, 16, 16, 3), 0, 255, seed=n), tf.uint8)
        flops = graph_flops(tf.function(lambda x: generator(x)["sr"]), tf.cast(lr, tf.float32))
        s = time_steps(lambda x: serve(images=x), lr, steps)
        result[f"batch{n}_s"] = round(s, 4)
        result[f"batch{n}_images_per_s"] = round(n / s, 1)
        result[f"batch{n}_achieved_gflops"] = round(flops / s / 1e9, 1)
    result["gflop_per_image"] = round(flops / 32 / 1e9, 3)
    result["latency_ms"] = round(1000 * result["batch1_s"], 1)
    return result



def bench_multi_worker(data_dir=None, steps=3, width=1.0, workers=(1, 2), **_):
    """ISR-KD pre-training steps (batch 8, 128 px HR) as 1 worker with every core, then as 2 workers
    sharing this machine's cores (each its share of the threads): a scaling figure of the multi-worker
    code path (gradient all-reduce over loopback), not of more hardware."""
    import os
    import subprocess
    import sys
    import tempfile

    from isr_kd_tf.console import child_environ
    steps = max(steps, 2) + 1
    out = {"name": "multi_worker", "method": "isr_kd", "stage": "pretrain", "batch_size": 8, "hr_size": 128,
           "width": width, "timed_steps": steps - 1, "cores": os.cpu_count()}
    for n in workers:
        with tempfile.TemporaryDirectory() as workdir:
            args = ["--stages=pretrain", "--source_data=synthetic_faces", "--target_data=avatar_faces",
                    f"--width={width}", "--hr_size=128",
                    "--batch_size=8", "--epochs=1", f"--steps_per_epoch={steps}", "--val_images=0", "--verbose=0",
                    f"--checkpoint_every={steps}", "--eval_limit=8", f"--workdir={workdir}"]
            args += [f"--data_dir={data_dir}"] if data_dir else []
            run = subprocess.run([sys.executable, "-m", "isr_kd_tf.launch", f"--workers={n}", "--", *args],
                                 capture_output=True, text=True, timeout=3600, env=child_environ())
            if run.returncode:
                raise UserError(f"multi_worker benchmark: {n} worker(s) failed:\n{run.stderr[-2000:]}")
            out[f"ms_per_step_{n}_worker{'s' if n > 1 else ''}"] = ms_per_step(run.stdout, "pretrain")
    if len(workers) == 2:
        a, b = (out[k] for k in out if k.startswith("ms_per_step"))
        out["speedup"] = round(a / b, 3)
    return out


bench_multi_worker.compares_with_peak = False

BENCHMARKS = {"multi_worker": bench_multi_worker, "isr_kd_incremental_train_step": bench_isr_kd_incremental_train_step, "inference": bench_inference,
              "identity_loss_cost": bench_identity_loss_cost, "official_incremental_step": bench_official_incremental_step}

"""Benchmarks that print numbers (never asserted in tests).

python -m isr_kd_tf.bench [--json] [--only=data_pipeline,...]
"""

import json
import time

from absl import app, flags

from isr_kd_tf.errors import UserError, run_main

flags.DEFINE_bool("json", False, "One JSON object per line instead of text.")
flags.DEFINE_list("only", [], "Benchmarks to run (default: all).")
flags.DEFINE_string("data_dir", None, "tfds data dir for the bundled datasets.")
flags.DEFINE_integer("batches", 60, "Batches to time in data_pipeline.")
flags.DEFINE_integer("steps", 3, "Timed steps per train-step benchmark and mode.")
flags.DEFINE_float("width", 1.0, "Channel width of the networks (1.0 = the papers).")
flags.DEFINE_bool("mixed_precision", False, "Train steps in mixed precision (bfloat16 on CPU); the float32 peak "
                  "stays the reference and the bfloat16 matmul peak is reported beside it.")
FLAGS = flags.FLAGS


def bench_data_pipeline(data_dir=None, batches=60, batch_size=32, **_):
    """The full ISR-KD training pipeline on the bundled domains (CC-2 style mix)."""
    from isr_kd_tf import data

    specs = [data.DomainSpec("synthetic_faces", data.SOURCE), data.DomainSpec("avatar_faces", data.TARGET)]
    for s in specs:  # build outside the timing
        data.num_examples(s.name, s.split, data_dir)
    ds = data.training_dataset(specs, data.PipelineConfig(), batch_size, seed=0, data_dir=data_dir)
    it = iter(ds)
    n_cold = (2 * 1000) // batch_size + 1  # first pass decodes and fills the cache
    t = time.perf_counter()
    for _ in range(n_cold):
        next(it)
    cold = n_cold * batch_size / (time.perf_counter() - t)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    warm = batches * batch_size / (time.perf_counter() - t)
    return {"name": "data_pipeline", "images_per_s": round(warm, 1),
            "first_epoch_images_per_s": round(cold, 1), "batch_size": batch_size,
            "includes": "decode+crop+resize (first epoch, then cached), flip/rot90, box x8, Canny 32/64/128, batch"}


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


def _time_steps(fn, batch, steps):
    import tensorflow as tf
    for _ in range(2):                       # trace / compile, then one warm step
        tf.nest.map_structure(lambda t: t.numpy(), fn(batch))
    t = time.perf_counter()
    for _ in range(steps):
        out = fn(batch)
    tf.nest.map_structure(lambda t: t.numpy(), out)
    return (time.perf_counter() - t) / steps


def _step_report(name, make_step, batch, steps, peak, **info):
    """Graph mode and XLA timings of a train step, with FLOPs and the share of the matmul peak."""
    import tensorflow as tf
    result = {"name": name, **info}
    for mode, jit in (("graph", False), ("xla", True)):
        fn = tf.function(make_step(), jit_compile=jit)
        if mode == "graph":
            result["gflop"] = round(graph_flops(fn, batch) / 1e9, 2)
        step_s = _time_steps(fn, batch, steps)
        result[f"{mode}_step_s"] = round(step_s, 4)
        result[f"{mode}_achieved_gflops"] = round(result["gflop"] / step_s, 1)
    result["step_s"] = result["graph_step_s"]
    result["achieved_gflops"] = result["graph_achieved_gflops"]
    result["peak_gflops"] = round(peak, 1)
    result["fraction_of_peak"] = round(result["achieved_gflops"] / peak, 3)
    return result


def bench_isr_kd_incremental_train_step(batch_size=16, hr_size=128, width=1.0, steps=3, peak=None, **_):
    """The incremental GAN step at paper width: teacher + G + D, half source, half target."""
    import keras
    import tensorflow as tf
    from isr_kd_tf import data
    from isr_kd_tf.models import build_discriminator, build_generator
    from isr_kd_tf.optim import FusedAdam
    from isr_kd_tf.trainer import ISRKDTrainer, copy_generator

    peak = peak or peak_matmul_gflops()
    hr = tf.random.uniform((batch_size, hr_size, hr_size, 3), 0, 255, seed=0)
    batch = data.finish({"hr": tf.cast(hr, tf.uint8), "domain": tf.range(batch_size) % 2},
                        data.PipelineConfig(hr_size=hr_size))

    def make_step():
        keras.utils.set_random_seed(0)
        g = build_generator(width)
        trainer = ISRKDTrainer(g, build_discriminator(width, hr_size), copy_generator(g), "incremental")
        trainer.compile(FusedAdam(1e-4), FusedAdam(1e-4))
        trainer.g_optimizer.build(g.trainable_variables)
        trainer.d_optimizer.build(trainer.discriminator.trainable_variables)
        return trainer.train_step

    return _step_report("isr_kd_incremental_train_step", make_step, batch, steps, peak,
                        batch_size=batch_size, hr_size=hr_size, width=width)


def bench_pkdn_student_train_step(batch_size=8, hr_size=128, width=1.0, steps=3, peak=None, **_):
    """The PKDN student step at paper width: frozen PKDN teacher + student with both distillation terms."""
    import keras
    import tensorflow as tf
    from isr_kd_tf import data
    from isr_kd_tf.optim import FusedAdam
    from pkdn_tf import models
    from pkdn_tf.trainer import PKDNTrainer

    peak = peak or peak_matmul_gflops()
    hr = tf.random.uniform((batch_size, hr_size, hr_size, 3), 0, 255, seed=0)
    labels = tf.random.uniform((batch_size, hr_size, hr_size), 0, 19, tf.int32, seed=1)
    cfg = data.PipelineConfig(hr_size=hr_size, degradation="bicubic", edges=False, upsample_lr=True,
                              parsing_encoding="color")
    batch = data.finish({"hr": tf.cast(hr, tf.uint8), "parsing": labels, "domain": tf.zeros([batch_size], tf.int32)},
                        cfg)

    def make_step():
        keras.utils.set_random_seed(0)
        feats = max(1, round(64 * width))
        student = models.build(models.Student(n_feats=feats), hr_size)
        trainer = PKDNTrainer(student, models.build(models.Teacher(n_feats=feats), hr_size), steps_per_epoch=10 ** 6)
        trainer.compile(optimizer=FusedAdam(1e-4, beta_2=0.99))
        trainer.optimizer.build(student.trainable_variables)
        return trainer.train_step

    return _step_report("pkdn_student_train_step", make_step, batch, steps, peak,
                        batch_size=batch_size, hr_size=hr_size, width=width)


def bench_inference(width=1.0, steps=5, peak=None, **_):
    """The exported ISR-KD generator, 16x16 -> 128x128: batch-1 latency, batch-32 throughput."""
    import tempfile

    import tensorflow as tf
    from isr_kd_tf.export import SuperResolver
    from isr_kd_tf.models import build_generator

    peak = peak or peak_matmul_gflops()
    out = tempfile.mkdtemp()
    generator = build_generator(width)
    module = SuperResolver(generator)
    tf.saved_model.save(module, out, signatures={"serving_default": module.serving})
    serve = tf.saved_model.load(out).signatures["serving_default"]
    result = {"name": "inference", "width": width, "peak_gflops": round(peak, 1)}
    for n in (1, 32):
        lr = tf.cast(tf.random.uniform((n, 16, 16, 3), 0, 255, seed=n), tf.uint8)
        flops = graph_flops(tf.function(lambda x: generator(x)["sr"]), tf.cast(lr, tf.float32))
        s = _time_steps(lambda x: serve(images=x), lr, steps)
        result[f"batch{n}_s"] = round(s, 4)
        result[f"batch{n}_images_per_s"] = round(n / s, 1)
        result[f"batch{n}_achieved_gflops"] = round(flops / s / 1e9, 1)
    result["gflop_per_image"] = round(flops / 32 / 1e9, 3)
    result["latency_ms"] = round(1000 * result["batch1_s"], 1)
    return result


BENCHMARKS = {"data_pipeline": bench_data_pipeline,
              "isr_kd_incremental_train_step": bench_isr_kd_incremental_train_step,
              "pkdn_student_train_step": bench_pkdn_student_train_step,
              "inference": bench_inference}


@run_main
def main(argv):
    del argv
    names = FLAGS.only or list(BENCHMARKS)
    unknown = sorted(set(names) - set(BENCHMARKS))
    if unknown:
        raise UserError(f"--only: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(BENCHMARKS)}")
    peak = peak_matmul_gflops() if set(names) - {"data_pipeline"} else None
    extra = {}
    if FLAGS.mixed_precision:
        from isr_kd_tf import precision
        extra = {"precision": precision.set_policy(True),
                 "peak_bf16_gflops": round(peak_matmul_gflops(dtype="bfloat16"), 1)}
    for name in names:
        result = BENCHMARKS[name](data_dir=FLAGS.data_dir, batches=FLAGS.batches, steps=FLAGS.steps,
                                  width=FLAGS.width, peak=peak)
        result.update(extra if name != "data_pipeline" else {})
        if FLAGS.json:
            print(json.dumps(result), flush=True)
        else:
            print("  ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    app.run(main)

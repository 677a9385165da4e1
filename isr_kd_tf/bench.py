"""Benchmarks that print numbers (never asserted in tests).

python -m isr_kd_tf.bench [--json] [--only=data_pipeline,...]
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import json
import time

from absl import app, flags

from isr_kd_tf.errors import UserError, run_main
from isr_kd_tf import timing
from isr_kd_tf.timing import peak_matmul_gflops

FLAGS = flags.FLAGS


def bench_data_pipeline(data_dir=None, batches=60, batch_size=32, **_):
    """The default method's full training pipeline on the bundled domains (a two-domain mix)."""
    from isr_kd_tf import config, data

    specs = [data.DomainSpec("synthetic_faces", data.SOURCE), data.DomainSpec("avatar_faces", data.TARGET)]
    for s in specs:  # build outside the timing
        data.num_examples(s.name, s.split, data_dir)
    s = config.make()
    ds = data.training_dataset(specs, data.PipelineConfig.from_settings(s), batch_size, seed=0, data_dir=data_dir)
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


bench_data_pipeline.compares_with_peak = False


def benchmarks():
    """The framework's own benchmarks and every method's (Method.benchmarks)."""
    from isr_kd_tf import methods
    out = {"data_pipeline": bench_data_pipeline}
    for method in methods.available().values():
        out.update(method.benchmarks())
    return out


@run_main
def main(argv):
    del argv
    available = benchmarks()
    names = FLAGS.only or list(available)
    unknown = sorted(set(names) - set(available))
    if unknown:
        raise UserError(f"--only: unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(available)}")
    timed = [n for n in names if timing.compares_with_peak(available[n])]
    peak = peak_matmul_gflops() if timed else None
    extra = {}
    if FLAGS.mixed_precision:
        from isr_kd_tf import precision
        extra = {"precision": precision.set_policy(True),
                 "peak_bf16_gflops": round(peak_matmul_gflops(dtype="bfloat16"), 1)}
    for name in names:
        result = available[name](data_dir=FLAGS.data_dir, batches=FLAGS.batches, steps=FLAGS.steps,
                                  width=FLAGS.width, peak=peak, reference_code=FLAGS.reference_code)
        result.update(extra if name in timed else {})
        if FLAGS.json:
            print(json.dumps(result), flush=True)
        else:
            print("  ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    # defined here, not at import: the methods' benchmark modules import this one
    flags.DEFINE_bool("json", False, "One JSON object per line instead of text.")
    flags.DEFINE_list("only", [], "Benchmarks to run (default: all).")
    flags.DEFINE_string("data_dir", None, "tfds data dir for the bundled datasets.")
    flags.DEFINE_integer("batches", 60, "Batches to time in data_pipeline.")
    flags.DEFINE_integer("steps", 3, "Timed steps per train-step benchmark and mode.")
    flags.DEFINE_float("width", 1.0, "Channel width of the networks (1.0 = the papers).")
    flags.DEFINE_string("reference_code", "", "A checkout of a paper's own code, for the benchmarks that time it "
                        "beside this package (each such benchmark names the repository it reads).")
    flags.DEFINE_bool("mixed_precision", False, "Train steps in mixed precision (bfloat16 on CPU); the float32 peak "
                      "stays the reference and the bfloat16 matmul peak is reported beside it.")
    app.run(main)

"""Benchmarks that print numbers (never asserted in tests).

python -m isr_kd_tf.bench [--json] [--only=data_pipeline,...]
"""

import json
import time

from absl import app, flags

from isr_kd_tf.errors import run_main

flags.DEFINE_bool("json", False, "One JSON object per line instead of text.")
flags.DEFINE_list("only", [], "Benchmarks to run (default: all).")
flags.DEFINE_string("data_dir", None, "tfds data dir for the bundled datasets.")
flags.DEFINE_integer("batches", 60, "Batches to time per benchmark.")
FLAGS = flags.FLAGS


def bench_data_pipeline(data_dir=None, batches=60, batch_size=32):
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


BENCHMARKS = {"data_pipeline": bench_data_pipeline}


@run_main
def main(argv):
    del argv
    names = FLAGS.only or list(BENCHMARKS)
    for name in names:
        result = BENCHMARKS[name](data_dir=FLAGS.data_dir, batches=FLAGS.batches)
        if FLAGS.json:
            print(json.dumps(result), flush=True)
        else:
            print("  ".join(f"{k}={v}" for k, v in result.items()), flush=True)


if __name__ == "__main__":
    app.run(main)

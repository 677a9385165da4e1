"""Writes a PNG grid of what training sees: HR, LR, edge targets, parsing.

python -m isr_kd_tf.preview --output=preview.png [--n=4] [--data_dir=...]
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

from absl import app, flags

from isr_kd_tf import data, visualize
from isr_kd_tf.errors import run_main

flags.DEFINE_string("output", "preview.png", "PNG file to write (one row per example).")
flags.DEFINE_integer("n", 4, "Examples shown per domain.")
flags.DEFINE_string("data_dir", None, "tfds data dir (default: ~/tensorflow_datasets).")
flags.DEFINE_string("source", "synthetic_faces", "Real-face dataset to show (a tfds name or folder:PATH).")
flags.DEFINE_string("target", "avatar_faces", "Cartoon dataset to show (a tfds name or folder:PATH).")
FLAGS = flags.FLAGS

COLUMNS = ["HR", "LR x8", "edge 32", "edge 64", "edge 128", "parsing"]


def preview_rows(names, n, data_dir=None, cfg=None):
    cfg = cfg or data.PipelineConfig()
    rows = []
    for domain, name in enumerate(names):
        batch = next(iter(data.eval_dataset(name, "test", domain, cfg, n, data_dir)))
        for i in range(n):
            row = [batch["hr"][i].numpy(), batch["lr"][i].numpy(),
                   batch["edge_32"][i].numpy(), batch["edge_64"][i].numpy(), batch["edge_128"][i].numpy()]
            if "parsing" in batch:
                row.append(visualize.colour_parsing(batch["parsing"][i].numpy()))
            rows.append(row)
    return rows


@run_main
def main(argv):
    del argv
    rows = preview_rows([FLAGS.source, FLAGS.target], FLAGS.n, FLAGS.data_dir)
    visualize.save_png(FLAGS.output, visualize.grid(rows, 128, COLUMNS))
    print(f"wrote {FLAGS.output} ({len(rows)} rows: {FLAGS.source}, {FLAGS.target})")


if __name__ == "__main__":
    app.run(main)

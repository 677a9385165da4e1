"""Writes a PNG grid of what training sees: HR, LR and the method's own inputs and targets.

python -m isr_kd_tf.preview --output=preview.png [--method=pkdn] [--n=4] [--data_dir=...]
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

from absl import app, flags

from isr_kd_tf import config, data, visualize
from isr_kd_tf.errors import run_main

flags.DEFINE_string("output", "preview.png", "PNG file to write (one row per example).")
flags.DEFINE_integer("n", 4, "Examples shown per domain.")
flags.DEFINE_string("data_dir", None, "tfds data dir (default: ~/tensorflow_datasets).")
flags.DEFINE_string("source", "synthetic_faces", "First dataset to show (the source domain; a tfds name or folder:PATH).")
flags.DEFINE_string("target", "avatar_faces", "Second dataset to show (the target domain; a tfds name or folder:PATH).")
flags.DEFINE_string("method", config.RunConfig.method, "Whose pipeline: its degradation and its own batch features.")
FLAGS = flags.FLAGS


def preview_rows(names, n, data_dir=None, method=config.RunConfig.method):
    """(rows, labels): HR | LR | the method's preview columns, n rows per dataset."""
    s = config.make(method=method)
    cfg = data.PipelineConfig.from_settings(s)
    rows, labels = [], []
    for domain, name in enumerate(names):
        batch = next(iter(data.eval_dataset(name, "test", domain, cfg, n, data_dir)))
        extra = s.method.preview_columns(s, batch)
        labels = ["HR", f"LR x{cfg.scale}"] + list(extra)
        for i in range(n):
            rows.append([batch["hr"][i].numpy(), batch["lr"][i].numpy()] + [v[i] for v in extra.values()])
    return rows, labels


@run_main
def main(argv):
    del argv
    rows, labels = preview_rows([FLAGS.source, FLAGS.target], FLAGS.n, FLAGS.data_dir, FLAGS.method)
    visualize.save_png(FLAGS.output, visualize.grid(rows, 128, labels))
    print(f"wrote {FLAGS.output} ({len(rows)} rows: {FLAGS.source}, {FLAGS.target})")


if __name__ == "__main__":
    app.run(main)

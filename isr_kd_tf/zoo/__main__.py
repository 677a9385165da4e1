"""Lists the model zoo, or adds a finished run to it.

    python -m isr_kd_tf.zoo                                  # the entries and their recipes
    python -m isr_kd_tf.zoo --add=runs/zoo/isr_kd_gs_real    # after training flags/zoo/isr_kd_gs_real.cfg
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

from absl import app, flags

from isr_kd_tf import zoo
from isr_kd_tf.errors import run_main

flags.DEFINE_string("add", "", "A finished training work directory to copy into the zoo.")
flags.DEFINE_string("name", "", "The entry's name (default: the work directory's name).")
flags.DEFINE_string("folder", zoo.FOLDER, "The zoo folder (the package's own by default).")
FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    if FLAGS.add:
        out = zoo.add(FLAGS.add, FLAGS.name, FLAGS.folder)
        print(f"added {out}; use it as --init_from=zoo:{out.rstrip('/').split('/')[-1]}", flush=True)
        return
    entries = zoo.names(FLAGS.folder)
    if not entries:
        print(f"the zoo in {FLAGS.folder} is empty", flush=True)
    for name in entries:
        r = zoo.recipe(name, FLAGS.folder)
        rows = {(x["model"], x["test"]): x["psnr"] for x in r["results"]}
        scores = ", ".join(f"{m}/{t} {v:.2f} dB" for (m, t), v in rows.items())
        print(f"zoo:{name}  {r['method']}, seed {r['seed']}, {r['training_minutes']} min: {scores}", flush=True)


if __name__ == "__main__":
    app.run(main)

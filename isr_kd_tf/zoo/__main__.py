"""Lists the model zoo, or adds a finished run to it.

    python -m isr_kd_tf.zoo                                  # the entries and their recipes
    python -m isr_kd_tf.zoo --add=runs/zoo/isr_kd_gs_real    # after training flags/zoo/isr_kd_gs_real.cfg
    python -m isr_kd_tf.zoo --add=runs/zoo/isr_kd_gs_utkface --face_template=500   # and its face template
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

from absl import app, flags

from isr_kd_tf import zoo
from isr_kd_tf.errors import run_main

flags.DEFINE_string("add", "", "A finished training work directory to copy into the zoo.")
flags.DEFINE_string("name", "", "The entry's name (default: the work directory's name).")
flags.DEFINE_string("folder", zoo.FOLDER, "The zoo folder (the package's own by default).")
flags.DEFINE_integer("face_template", 0, "With --add, or alone with --name: measure the face detector's five "
                     "landmarks on this many of the entry's training crops and store their mean with it "
                     "(landmarks.json), how infer --faces aligns photographs' faces for its network.")
flags.DEFINE_string("data_dir", "", "With --face_template: the tfds data folder holding the entry's training set.")
flags.DEFINE_string("real_data_dir", "", "With --face_template: the real-image folders, if the set is not built yet.")
FLAGS = flags.FLAGS


def add_face_template(name, n=500, folder=zoo.FOLDER, data_dir="", real_data_dir=""):
    """Measures where the detector puts the five landmarks in the first `n` training crops of entry
    `name`'s network (its first stage's data, framed as training frames it) and stores the mean beside
    the entry, for `infer --faces` to align photographs' faces the same way."""
    import numpy as np

    from isr_kd_tf import config, data, faces
    path = zoo.resolve(zoo.PREFIX + name, folder)
    s = config.load(path)
    spec = s.method.domains(s, s.run.stages[0])[0]
    data.prepare_sets([spec.name], data_dir or None, real_data_dir or None)
    ds = data.eval_dataset(spec.name, "train", spec.domain, data.PipelineConfig.from_settings(s), 50, data_dir or None, n)
    crops = np.concatenate([b["hr"].numpy() for b in ds]).round().astype(np.uint8)
    landmarks, used = faces.measure_template(crops)
    faces.save_template(path, landmarks, measured_on=f"{spec.name} train, first {len(crops)} crops "
                        f"({s.run.hr_size}x{s.run.hr_size}); one face found in {used}")
    return landmarks, used, len(crops)


@run_main
def main(argv):
    del argv
    if FLAGS.add:
        out = zoo.add(FLAGS.add, FLAGS.name, FLAGS.folder)
        name = out.rstrip('/').split('/')[-1]
        print(f"added {out}; use it as --init_from=zoo:{name}", flush=True)
    if FLAGS.face_template:
        name = name if FLAGS.add else FLAGS.name
        landmarks, used, n = add_face_template(name, FLAGS.face_template, FLAGS.folder, FLAGS.data_dir,
                                               FLAGS.real_data_dir)
        print(f"zoo:{name}: face template from {used} of {n} training crops: "
              + ", ".join(f"({x:.3f}, {y:.3f})" for x, y in landmarks), flush=True)
    if FLAGS.add or FLAGS.face_template:
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

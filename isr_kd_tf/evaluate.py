"""Score trained runs the way the papers did; several work directories make one table.

    python -m isr_kd_tf.evaluate --workdir=runs/cc1 --workdir=runs/cc2 ... --output=runs/table1
    python -m isr_kd_tf.evaluate --workdir=runs/cc2 --similarity_to=pretrained   # ISR-KD Table II
    python -m isr_kd_tf.evaluate --workdir=export/cc2                             # an export

Each work directory's trained stages (newest checkpoints) are scored on its
test sets with its own protocol (ISR-KD: RGB, no crop; PKDN: Y, 8-pixel crop),
with a bicubic row, and FID where a FID network is available. results.json /
results.md go to --output (default: a folder inside the first work directory,
so the run's own results stay).
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import json
import os

import tensorflow as tf
from absl import app, flags

from isr_kd_tf import config, data, evaluation, experiment, export, fid, layout, zoo
from isr_kd_tf.errors import UserError, run_main


def _export_predictors(path, s):
    """{row name: predictor} of a SavedModel export."""
    with open(layout.export_config(path)) as f:
        stage = json.load(f).get("exported_stage", "")
    sr_float = export.load_super_resolver(path)

    def predict(batch):
        return sr_float(batch["lr"])["sr"]
    return {s.method.row_names.get(stage, "export"): predict}


def _prefix(workdir, workdirs):
    """Rows of several work directories are told apart by the folder's name."""
    return f"{os.path.basename(os.path.normpath(workdir))}/" if len(workdirs) > 1 else ""


def evaluate(workdirs, split="test", limit=None, similarity_to="", inception_weights="", checkpoint="",
             data_dir="", fid_graph="", extractor=None, progress=True, real_data_dir="", test_sets=()):
    """Rows {"model", "test", "psnr", "ssim", "fid"} for bicubic upsampling and every trained
    stage of every workdir (or the model of an export); data_dir overrides where the runs
    found their data (real_data_dir: the real-image folders); test_sets: "setting=dataset" pairs that score
    on other sets than the run's (e.g. source_data=lfw_parts: real faces from elsewhere). extractor: the FID network (default fid.fid_network(fid_graph, inception_weights))."""
    if checkpoint and len(workdirs) != 1:
        raise UserError("--checkpoint names one checkpoint: give exactly one --workdir with it")
    extractor = extractor or fid.fid_network(fid_graph, inception_weights)
    rows = []
    for name in workdirs:
        workdir = zoo.resolve(name)
        s = config.load(workdir)
        if data_dir:
            s.run.data_dir = data_dir
        if real_data_dir:
            s.run.real_data_dir = real_data_dir
        if test_sets:
            for pair in test_sets:
                key, _, value = pair.partition("=")
                if key not in ("source_data", "target_data") or not value:
                    raise UserError(f"--test_set={pair}: give source_data=NAME or target_data=NAME")
                setattr(s.run if hasattr(s.run, key) else s.paper, key, value)
        method = s.method
        data.prepare_sets([n for _, _, n in method.test_sets(s)], s.run.data_dir or None, s.run.real_data_dir or None)
        is_export = tf.io.gfile.exists(os.path.join(workdir, "saved_model.pb"))
        trained = [] if is_export else export.trained_stages(workdir, method)
        stages = [stage for stage in method.stages if stage in trained]      # training order, as the run's table
        if not stages and not is_export:
            raise UserError(f"{workdir} has no trained stage yet")
        prefix = _prefix(workdir, workdirs)
        predictors = {} if similarity_to else {evaluation.BICUBIC: evaluation.bicubic}
        if is_export:
            predictors.update(_export_predictors(workdir, s))
        else:   # e.g. G_S of a run started with --init_from: Table I's baseline, Table II's reference
            predictors.update({row: method.predictor(s, m)
                               for row, m in method.extra_rows(s, dict.fromkeys(stages)).items()})
        for stage in stages:
            _, _, model = export.load_trained(workdir, stage, checkpoint if len(stages) == 1 else "")
            predictors[method.row_names[stage]] = method.predictor(s, model)
        if similarity_to and similarity_to not in predictors:
            raise UserError(f"--similarity_to={similarity_to}: {workdir} has {', '.join(predictors)}")
        reference = predictors.pop(similarity_to, None)
        rows += experiment.score_models(s, predictors, split, limit, reference, extractor, prefix, progress)
    return rows


def baseline(workdirs, rows):
    """The first work directory's method picks the row the relative changes compare with, as its
    run's own results.md does."""
    workdir = zoo.resolve(workdirs[0])
    return experiment.baseline_row(config.load(workdir), list(dict.fromkeys(r["model"] for r in rows)),
                                   _prefix(workdir, workdirs))


def default_output(workdir, similarity_to=""):
    """A folder of its own inside the first work directory: the run's own results.json stays
    (a zoo entry's in runs/zoo_evaluation/NAME: the package folder is not written)."""
    if zoo.is_name(workdir):
        workdir = os.path.join("runs", "zoo_evaluation", workdir[len(zoo.PREFIX):])
    return os.path.join(workdir, f"similarity_to_{similarity_to}" if similarity_to else "evaluation")


FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    extractor = fid.fid_network(FLAGS.fid_graph, FLAGS.inception_weights)
    rows = evaluate(FLAGS.workdir, FLAGS.split, FLAGS.limit or None, FLAGS.similarity_to, checkpoint=FLAGS.checkpoint,
                    data_dir=FLAGS.data_dir, extractor=extractor,
                    real_data_dir=FLAGS.real_data_dir, test_sets=FLAGS.test_set)
    out = FLAGS.output or default_output(FLAGS.workdir[0], FLAGS.similarity_to)
    os.makedirs(out, exist_ok=True)
    title = (f"Output similarity to {FLAGS.similarity_to}" if FLAGS.similarity_to
             else f"Evaluation on the {FLAGS.split} split")
    md = evaluation.write_results(out, title, rows, FLAGS.baseline or baseline(FLAGS.workdir, rows),
                                  getattr(extractor, "label", fid.LABEL),
                                  workdirs=FLAGS.workdir, split=FLAGS.split)
    print(md)


if __name__ == "__main__":
    flags.DEFINE_multi_string("workdir", None, "Training work directories or exports (repeat for one table).",
                              required=True)
    flags.DEFINE_string("data_dir", "", "Where the datasets are, if not where the runs found them.")
    flags.DEFINE_string("real_data_dir", "", "Where the real-image folders are (utkface/, anime_faces/, lfw_parts/), "
                        "if not where the runs found them.")
    flags.DEFINE_string("split", "test", "Dataset split to score.")
    flags.DEFINE_multi_string("test_set", [], "Score on another set: source_data=NAME or target_data=NAME (e.g. "
                              "source_data=lfw_parts: real faces the model never trained on).")
    flags.DEFINE_integer("limit", 0, "Images per test set (0 = all, or the run's --eval_limit).")
    flags.DEFINE_string("checkpoint", "", "A checkpoint prefix instead of the newest (one workdir, one stage).")
    flags.DEFINE_string("baseline", "", "Row that the relative % changes compare with (default: the one the "
                        "first work directory's method compares with in its own results).")
    flags.DEFINE_string("similarity_to", "", "Score every model's outputs against this model's (how alike two models are).")
    flags.DEFINE_string("fid_graph", "", "TF-FID Inception graph (classify_image_graph_def.pb of "
                        "inception-2015-12-05.tgz) for FID; default: " + fid.GRAPH_CACHE + " if present.")
    flags.DEFINE_string("inception_weights", "", "Fallback FID network when there is no --fid_graph: Keras "
                        "InceptionV3 'notop' .h5 (its FID is labelled and not comparable with published ones).")
    flags.DEFINE_string("output", "", "Folder for results.json / results.md (default: <first workdir>/evaluation, "
                        "or <first workdir>/similarity_to_<model>).")
    app.run(main)

"""Any method's experiment as a function: `run(settings)` trains its stages, then scores them.

What it writes: isr_kd_tf.layout.
"""

import logging
import os
import sys

import keras
import tensorflow as tf
from tqdm import tqdm

from isr_kd_tf import config, data, evaluation, fid, layout, loop, methods, precision, zoo
from isr_kd_tf.cluster import Cluster, cluster_for, lost_worker_is_user_error
from isr_kd_tf.errors import UserError


def check(s):
    """Rejects contradictory or out-of-range settings before any work, one line each."""
    run = s.run
    config.validate(s)
    if run.hr_size % run.scale:
        raise UserError(f"--hr_size={run.hr_size} is not a multiple of --scale={run.scale}")
    if not run.stages:
        raise UserError("--stages is empty")
    method = s.method
    for stage in run.stages:
        if stage not in method.stages:
            raise UserError(f"--stages: {stage!r} is not one of {', '.join(method.stages)} (--method={method.name})")
    for stage in run.stages:
        before = method.start_from.get(stage)
        if before and before not in run.stages[:run.stages.index(stage)] and not run.init_from:
            raise UserError(f"--stages starts {stage} without {before}: run the {before} stage first or set "
                            f"--init_from to a finished {before} run")
    method.check(s)


def check_writable(workdir):
    """A clear error before any work when the work directory cannot be written."""
    try:
        os.makedirs(workdir, exist_ok=True)
        probe = os.path.join(workdir, f".write_test_{os.getpid()}")
        with open(probe, "w") as f:
            f.write("ok")
        os.remove(probe)
    except OSError as e:
        raise UserError(f"--workdir={workdir} is not writable ({e.strerror}); choose another folder "
                        "or free space") from None


def eval_set(s, name, domain, split="test", limit=None):
    """A split as the run's models are scored on it; one per test set serves every model (its LR is the
    same on every pass)."""
    run = s.run
    limit = run.eval_limit if limit is None else limit
    return data.eval_dataset(name, split, domain, data.PipelineConfig.from_settings(s), 16, run.data_dir or None, limit)


def score_on(s, predict, ds, **kwargs):
    """{"psnr", "ssim", "fid"} of `predict` on an eval_set, per the run's protocol (kwargs: evaluation.score)."""
    run = s.run
    return evaluation.score(predict, ds, run.eval_crop_border, run.eval_y_channel, quantize=run.eval_quantize,
                            jpeg_quality=run.eval_jpeg_quality, **kwargs)


def score_models(s, predictors, split="test", limit=None, reference=None, extractor=None, prefix="",
                 progress=False):
    """Rows {"model", "test", "psnr", "ssim", "fid"}: each predictor ({row name: batch -> SR}) on each
    of the run's test sets, in the method's test-set order, then the predictors' order. The one path
    that scores models: a run's own results and `python -m isr_kd_tf.evaluate` both use it.
    reference: a predictor whose outputs replace HR (similarity between models)."""
    rows = []
    identity = s.method.identity_network(s)
    for test, domain, name in s.method.test_sets(s):
        ds = eval_set(s, name, domain, split, limit)
        for model, fn in predictors.items():
            total = limit or s.run.eval_limit or None
            with tqdm(desc=f"{prefix}{model} on {test}", unit="image", file=sys.stderr, total=total,
                      disable=not progress) as bar:
                r = score_on(s, fn, ds, reference=reference, fid_extractor=extractor, progress=bar,
                             identity=identity)
            rows.append({"model": prefix + model, "test": test, **r})
    return rows


def baseline_row(s, rows, prefix=""):
    """The row relative changes compare with among the scored `rows` (row names, bicubic's too):
    the method's choice among its models, named with the table's prefix."""
    models = [m[len(prefix):] for m in rows if m != prefix + evaluation.BICUBIC and m.startswith(prefix)]
    return prefix + s.method.baseline(s, models) if models else rows[0]


def validation(s, predict):
    """PSNR / SSIM per test set on the first --val_images validation images, and bicubic's
    on the same images for reference (None: off)."""
    if not s.run.val_images:
        return None
    sets = {}       # test: (its eval set, bicubic's scores on it)

    def validate():
        out = {}
        for test, domain, name in s.method.test_sets(s):
            if test not in sets:     # the same images every time: build the set and score bicubic once
                ds = eval_set(s, name, domain, "validation", s.run.val_images)
                sets[test] = ds, score_on(s, evaluation.bicubic, ds)
            ds, bicubic = sets[test]
            r = score_on(s, predict, ds)
            out[f"psnr_{test}"], out[f"ssim_{test}"] = r["psnr"], r["ssim"]
            out[f"psnr_{test}_bicubic"], out[f"ssim_{test}_bicubic"] = bicubic["psnr"], bicubic["ssim"]
        return out
    return validate


def dataset_names(s):
    """Every dataset the run reads, training and test sets."""
    names = [spec.name for stage in s.run.stages for spec in s.method.domains(s, stage)]
    return names + [name for _, _, name in s.method.test_sets(s)]


def prepare_data(s):
    """Makes every dataset the run reads (bundled sets are built, missing parsing maps labelled on
    first use), so that workers sharing --data_dir never write one at the same time."""
    run, method = s.run, s.method
    data.prepare_sets(dataset_names(s), run.data_dir or None, run.real_data_dir or None)
    for stage in run.stages:
        data.training_dataset(method.domains(s, stage), data.PipelineConfig.from_settings(s), run.batch_size, run.seed,
                              run.data_dir or None)
    for _, domain, name in method.test_sets(s):
        for split in ("validation", "test"):
            data.eval_dataset(name, split, domain, data.PipelineConfig.from_settings(s), 1, run.data_dir or None)


def train_stage(s, stage, init_path, cluster=None):
    """Trains one stage to the end (resuming if a checkpoint exists); returns its network.

    With several workers every one trains; the chief writes the weights and
    DONE, and the others wait for them before going on."""
    method, run = s.method, s.run
    cluster = cluster or Cluster(tf.distribute.get_strategy())
    stage_dir = layout.stage_dir(run.workdir, stage)
    if cluster.chief_value(f"{stage}/done", layout.is_done(stage_dir)):
        logging.info("stage %s already finished in %s", stage, stage_dir)
        return method.load(s, stage, stage_dir)
    keras.utils.set_random_seed(run.seed)
    specs = method.domains(s, stage)
    steps_per_epoch, total = loop.stage_steps(run, specs)
    start = methods.Stage(s, stage, init_path or "", steps_per_epoch, total)
    with cluster.strategy.scope():
        training = method.training(s, start)
        start.begin(training.trainer.optimizers())
    validate = validation(s, method.predictor(s, training.model)) if cluster.is_chief else None
    loop.fit(s, stage, training, total, validate_fn=validate, cluster=cluster)
    if cluster.is_chief:
        training.model.save_weights(layout.weights(stage_dir))
        layout.mark_done(stage_dir, total)
    cluster.barrier(f"{stage}/finished")
    return training.model


def report(s, models):
    """Scores bicubic upsampling and every model on the run's test sets; writes
    results.json/.md and samples.png. models: {row name: network}."""
    method, run = s.method, s.run
    extractor = fid.fid_network(run.fid_graph, run.inception_weights)
    scored = {evaluation.BICUBIC: evaluation.bicubic, **{k: method.predictor(s, m) for k, m in models.items()}}
    rows = score_models(s, scored, extractor=extractor)
    baseline = baseline_row(s, list(scored))
    extra = dict(protocol={"y_channel": run.eval_y_channel, "crop_border": run.eval_crop_border,
                           "jpeg_quality": run.eval_jpeg_quality},
                 test_sets={test: name for test, _, name in method.test_sets(s)})
    md = evaluation.write_results(run.workdir, method.title(s), rows, baseline,
                                  getattr(extractor, "label", fid.LABEL), **extra)
    evaluation.write_samples(layout.samples(run.workdir), [t[1:] for t in method.test_sets(s)],
                             {k: v for k, v in scored.items() if k != evaluation.BICUBIC}, data.PipelineConfig.from_settings(s),
                             run.data_dir or None, n=method.samples_per_set,
                             columns=lambda batch: method.sample_columns(s, batch))
    print(md, flush=True)
    print(f"wrote {run.workdir}/results.md, results.json and samples.png; "
          f"pictures and curves: tensorboard --logdir {run.workdir}/tensorboard", flush=True)
    return {"rows": rows, "baseline": baseline, **extra}


def run(s):
    """Trains every stage of `s` in order, scores each model on its test sets, writes the results."""
    if not isinstance(s, config.Settings):
        raise TypeError("run() takes config.Settings (config.make(...))")
    check(s)
    check_writable(s.run.workdir)
    cluster = cluster_for(s.run)        # first: joining a cluster must precede any TensorFlow op
    if s.run.deterministic:
        tf.config.experimental.enable_op_determinism()

    def say(message):                   # the chief speaks for the run
        if cluster.is_chief:
            print(message, flush=True)
    if cluster.is_chief:
        config.save(s)
    if cluster.multi_worker:
        say(f"{cluster.num_workers} workers, {cluster.strategy.num_replicas_in_sync} replicas; "
            f"{cluster.name} is the chief")
        if cluster.is_chief:
            prepare_data(s)
        cluster.barrier("data prepared")
    elif cluster.is_chief:       # the sets read from --real_data_dir, built before any work; the others on first use
        data.prepare_sets([n for n in dataset_names(s) if data.reads_real_data_dir(n)], s.run.data_dir or None,
                          s.run.real_data_dir or None)
    keras.utils.set_random_seed(s.run.seed)
    say(f"precision policy: {precision.set_policy(s.run.mixed_precision)}")
    method = s.method
    trained = {}
    for stage in s.run.stages:
        before = method.start_from.get(stage)
        init = layout.stage_dir(s.run.workdir, before) if before in trained else zoo.resolve(s.run.init_from)
        say(f"== stage {stage}")
        with lost_worker_is_user_error(cluster, f"in stage {stage}"):
            trained[stage] = train_stage(s, stage, init, cluster)
    if not cluster.is_chief:
        cluster.barrier("reported")
        return None
    models = {**method.extra_rows(s, trained), **{method.row_names[k]: m for k, m in trained.items()}}
    results = report(s, models)
    try:
        cluster.barrier("reported")      # the others wait for the results before they leave
    except UserError as e:               # one left early: the results are written all the same
        logging.warning("%s", e)
    return results

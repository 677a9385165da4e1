"""A plan's runs for one seed: trained once and reused, or read from the zoo; their kept checkpoints
re-scored for the margin-against-steps curves."""

import json
import os

from isr_kd_tf import layout


def run_plan(plan, folder, seed, common, needs=None):
    """Trains (or reuses) the runs of a plan that `needs` names (default all), for one seed;
    {run name: results.json}. A run given as "zoo:NAME" is not trained: its results are the
    zoo entry's (made once, by its recipe)."""
    from isr_kd_tf import config, experiment, zoo
    results = {}
    needs = set(plan.runs if needs is None else needs)
    for name, settings in plan.runs.items():
        if name not in needs:
            continue
        if zoo.is_name(settings):
            results[name] = {"rows": zoo.recipe(settings[len(zoo.PREFIX):])["results"]}
            continue
        workdir = os.path.join(folder, name)
        path = layout.results(workdir)
        if not os.path.isfile(path):
            settings = dict(settings)
            origin = str(settings.get("init_from", ""))
            if origin.startswith("@"):
                earlier = plan.runs[origin[1:]]
                settings["init_from"] = earlier if zoo.is_name(earlier) else os.path.join(folder, origin[1:])
            print(f"== seed {seed}: {os.path.relpath(workdir)}", flush=True)
            experiment.run(config.make(**{**settings, **common, "workdir": workdir, "seed": seed}))
        with open(path) as f:
            results[name] = json.load(f)
    return results


def checkpoint_results(folder, plan, names, results):
    """{run name: [(step, results)]}: every single-stage run of `names` scored at each checkpoint
    it kept, its last being results.json, for the margin-against-training-length curves."""
    import tensorflow as tf
    from isr_kd_tf import config, evaluate, zoo
    out = {}
    for name in names:
        if zoo.is_name(plan.runs[name]):
            continue
        workdir = os.path.join(folder, name)
        s = config.load(workdir)
        if len(s.run.stages) != 1:
            continue
        cache = os.path.join(workdir, "checkpoint_results.json")
        if not os.path.isfile(cache):
            stage_dir = layout.stage_dir(workdir, s.run.stages[0])
            state = tf.train.get_checkpoint_state(layout.checkpoints(stage_dir))
            paths = list(state.all_model_checkpoint_paths)[:-1] if state else []
            points = [(int(p.rsplit("-", 1)[1]), {"rows": evaluate.evaluate([workdir], checkpoint=p, progress=False)}) for p in paths]
            points.append((layout.done_steps(stage_dir), results[name]))
            with open(cache + ".tmp", "w") as f:
                json.dump(points, f)
            os.replace(cache + ".tmp", cache)
        with open(cache) as f:
            out[name] = [tuple(x) for x in json.load(f)]
    return out

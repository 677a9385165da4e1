"""The papers' claims on the bundled domains, measured over seeds.

    python -m isr_kd_tf.claims --seeds=3 --output=runs/claims
    python -m isr_kd_tf.claims --protocol=real --seeds=3 --output=runs/claims_real

Each method states its claims (Method.claim_plan): the runs they need, and
for each claim one or more *margins*, numbers that are positive when the
claim holds in that seed. Runs are shared within a seed (one pre-training
serves every incremental run, one teacher every student) and a finished run
is reused when the command is run again. A part of a claim holds when the
mean of its margin over seeds is positive and larger than its standard
error (sd / sqrt(seeds)); a claim holds when all of its parts do.
Writes claims.json, claims.md and one PNG per claim (each seed's margins
and their mean ± standard error).
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import dataclasses
import json
import math
import os
import time

import numpy as np
from absl import app, flags

from isr_kd_tf import layout, methods
from isr_kd_tf.errors import UserError, run_main


@dataclasses.dataclass
class Claim:
    name: str
    paper: str
    statement: str
    margins: object       # {run name: results.json} -> {part: margin (> 0 when the part holds)}
    needs: tuple          # the plan's runs it reads (with the runs they start from)


@dataclasses.dataclass
class Plan:
    runs: dict            # run name -> settings for config.make; init_from="@name" names an earlier run
    claims: list


def row(results, model, test, metric="psnr"):
    """One number of a run's results.json."""
    for r in results["rows"]:
        if r["model"] == model and r["test"] == test:
            return r[metric]
    raise KeyError(f"no row {model} / {test} in these results")


def summarise(values):
    """mean, sd and whether the part holds (mean > 0 and mean > standard error)."""
    v = np.asarray(values, np.float64)
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    se = sd / math.sqrt(len(v)) if len(v) > 1 else float("inf")
    return {"mean": mean, "sd": sd, "se": se, "holds": bool(mean > 0 and mean > se)}


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


def margin_curve(claim, results, at_checkpoints):
    """[(step, {part: margin})]: the claim's margins with each of its trained runs taken at its k-th
    kept checkpoint (the runs of a claim train alike: same steps, same checkpoint spacing)."""
    runs = [r for r in claim.needs if r in at_checkpoints]
    if not runs or len({tuple(step for step, _ in at_checkpoints[r]) for r in runs}) != 1:
        return []
    return [(step, claim.margins({**results, **{r: at_checkpoints[r][k][1] for r in runs}}))
            for k, (step, _) in enumerate(at_checkpoints[runs[0]])]


def plot(path, claim, per_part, curve=()):
    """Each seed's margin (dots) and the mean ± standard error (bar), zero marked; one line per part.
    Below, with `curve`: each part's mean margin against training steps (zero dashed)."""
    import cv2
    from isr_kd_tf import visualize
    w, line, left = 640, 60, 170
    img = np.full((40 + line * len(per_part), w, 3), 255, np.uint8)
    cv2.putText(img, claim[:90], (8, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1, cv2.LINE_AA)
    values = [v for part in per_part.values() for v in part["per_seed"]] + [0.0]
    span = max(1e-9, max(abs(v) for v in values)) * 1.2
    x = lambda v: int(left + (w - left - 20) * (v + span) / (2 * span))  # noqa: E731
    for i, (name, part) in enumerate(per_part.items()):
        y = 50 + i * line
        colour = (0, 140, 0) if part["holds"] else (200, 0, 0)
        cv2.putText(img, name[:22], (8, y + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (0, 0, 0), 1, cv2.LINE_AA)
        cv2.line(img, (x(-span), y), (x(span), y), (200, 200, 200), 1)
        cv2.line(img, (x(0), y - 12), (x(0), y + 12), (0, 0, 0), 1)
        se = part["se"] if math.isfinite(part["se"]) else 0.0
        cv2.rectangle(img, (x(part["mean"] - se), y - 5), (x(part["mean"] + se), y + 5), colour, -1)
        for v in part["per_seed"]:
            cv2.circle(img, (x(v), y), 4, (0, 0, 0), -1)
        cv2.putText(img, f"mean {part['mean']:+.3f}", (x(span) - 90, y - 10), cv2.FONT_HERSHEY_SIMPLEX, 0.35,
                    colour, 1, cv2.LINE_AA)
    if len(curve) > 1:
        img = np.concatenate([img, curve_panel(curve, list(per_part), w)], 0)
    visualize.save_png(path, img)


PALETTE = [(31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189), (140, 86, 75)]


def curve_panel(curve, parts, w=640, h=240):
    """Mean margin of each part (a colour each) against training steps; zero is the dashed line."""
    import cv2
    img = np.full((h, w, 3), 255, np.uint8)
    left, right, top, bottom = 60, 20, 30, 40
    steps = [p["step"] for p in curve]
    values = [p[part] for p in curve for part in parts] + [0.0]
    lo, hi = min(values), max(values)
    pad = max(1e-9, hi - lo) * 0.1
    lo, hi = lo - pad, hi + pad
    x = lambda s: int(left + (w - left - right) * (s - steps[0]) / max(1, steps[-1] - steps[0]))  # noqa: E731
    y = lambda v: int(top + (h - top - bottom) * (hi - v) / (hi - lo))  # noqa: E731
    cv2.putText(img, "mean margin (dB) against training steps", (8, 18), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (0, 0, 0), 1, cv2.LINE_AA)
    for xs in range(left, w - right, 12):
        cv2.line(img, (xs, y(0)), (xs + 6, y(0)), (0, 0, 0), 1)
    for s_ in steps:
        cv2.putText(img, str(s_), (x(s_) - 12, h - bottom + 16), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1,
                    cv2.LINE_AA)
    for v in (lo + pad, hi - pad):
        cv2.putText(img, f"{v:+.2f}", (4, y(v) + 4), cv2.FONT_HERSHEY_SIMPLEX, 0.35, (0, 0, 0), 1, cv2.LINE_AA)
    for i, part in enumerate(parts):
        colour = PALETTE[i % len(PALETTE)]
        pts = [(x(p["step"]), y(p[part])) for p in curve]
        for a, b in zip(pts, pts[1:]):
            cv2.line(img, a, b, colour, 2, cv2.LINE_AA)
        for pt in pts:
            cv2.circle(img, pt, 3, colour, -1)
    legend = np.full((14 * len(parts) + 6, w, 3), 255, np.uint8)
    for i, part in enumerate(parts):
        cv2.putText(legend, part[:90], (8, 14 + 14 * i), cv2.FONT_HERSHEY_SIMPLEX, 0.38,
                    PALETTE[i % len(PALETTE)], 1, cv2.LINE_AA)
    return np.concatenate([img, legend], 0)


def measure(output, seeds, common, only=(), smoke=False, protocol="bundled"):
    """Runs every plan for each seed and judges each claim; returns the claims.json content.
    protocol: bundled (the generated domains) or real (the real-image sets, flags/real/)."""
    plans = {name: m.claim_plan(smoke, protocol) for name, m in sorted(methods.available().items())}
    plans = {name: p for name, p in plans.items() if p is not None}
    claims = [(name, c) for name, p in plans.items() for c in p.claims if not only or c.name in only]
    if not claims:
        raise UserError(f"--claims: none of {', '.join(only)} is a claim; choose from "
                        + ", ".join(c.name for p in plans.values() for c in p.claims))
    needed = {name: {r for m, c in claims if m == name for r in c.needs} for name, _ in claims}
    margins = {c.name: [] for _, c in claims}
    curves = {c.name: [] for _, c in claims}
    start = time.time()
    for seed in range(seeds):
        for name in sorted(needed):
            folder = os.path.join(output, f"seed{seed}", name)
            results = run_plan(plans[name], folder, seed, common, needed[name])
            at_checkpoints = checkpoint_results(folder, plans[name], needed[name], results)
            for method_name, c in claims:
                if method_name == name:
                    margins[c.name].append(c.margins(results))
                    curves[c.name].append(margin_curve(c, results, at_checkpoints))
    out = []
    for _, c in claims:
        parts = {part: [m[part] for m in margins[c.name]] for part in margins[c.name][0]}
        per_part = {part: {"per_seed": v, **summarise(v)} for part, v in parts.items()}
        entry = {"name": c.name, "paper": c.paper, "statement": c.statement,
                 "holds": all(p["holds"] for p in per_part.values()), "parts": per_part,
                 "per_seed": [dict(zip(parts, vals)) for vals in zip(*parts.values())],
                 "mean": {p: v["mean"] for p, v in per_part.items()}, "sd": {p: v["sd"] for p, v in per_part.items()},
                 "curve": mean_curve(curves[c.name])}
        plot(os.path.join(output, f"{c.name}.png"), c.statement, per_part, entry["curve"])
        out.append(entry)
    return {"claims": out, "seeds": seeds, "minutes": round((time.time() - start) / 60, 1),
            "rule": "a part holds when the mean of its margin over seeds is > 0 and > its standard error"}


def mean_curve(per_seed):
    """[{"step", part: mean margin over seeds}] where every seed has the same steps (else [])."""
    if not per_seed or not per_seed[0] or len({tuple(step for step, _ in c) for c in per_seed}) != 1:
        return []
    return [{"step": step, **{part: float(np.mean([c[k][1][part] for c in per_seed])) for part in margins}}
            for k, (step, margins) in enumerate(per_seed[0])]


def markdown(report):
    lines = [f"# The papers' claims on the bundled domains ({report['seeds']} seeds, {report['minutes']} min)", "",
             report["rule"] + "; a claim holds when all its parts do.", "",
             "| claim | paper | holds | part | per seed | mean ± se |", "|---|---|---|---|---|---|"]
    for c in report["claims"]:
        for i, (part, p) in enumerate(c["parts"].items()):
            seeds = ", ".join(f"{v:+.3f}" for v in p["per_seed"])
            head = f"| {c['name']} | {c['paper']} | {'yes' if c['holds'] else '**no**'} |" if i == 0 else "| | | |"
            lines.append(f"{head} {part}: {'holds' if p['holds'] else 'does not hold'} | {seeds} | "
                         f"{p['mean']:+.3f} ± {p['se']:.3f} |")
    lines += [""] + [f"- **{c['name']}**: {c['statement']}" for c in report["claims"]]
    for c in report["claims"]:
        if len(c.get("curve", [])) > 1:
            parts = list(c["parts"])
            lines += ["", f"Mean margins of {c['name']} against training steps (the plot {c['name']}.png):", "",
                      "| steps | " + " | ".join(parts) + " |", "|---" * (len(parts) + 1) + "|"]
            lines += [f"| {p['step']} | " + " | ".join(f"{p[k]:+.3f}" for k in parts) + " |" for p in c["curve"]]
    return "\n".join(lines) + "\n"


FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    if FLAGS.seeds < 1:
        raise UserError("--seeds must be at least 1")
    os.makedirs(FLAGS.output, exist_ok=True)
    common = {"data_dir": FLAGS.data_dir, **({"real_data_dir": FLAGS.real_data_dir} if FLAGS.real_data_dir else {})}
    report = measure(FLAGS.output, FLAGS.seeds, common, FLAGS.claims, FLAGS.smoke, FLAGS.protocol)
    with open(os.path.join(FLAGS.output, "claims.json"), "w") as f:
        json.dump(report, f, indent=2)
    md = markdown(report)
    with open(os.path.join(FLAGS.output, "claims.md"), "w") as f:
        f.write(md)
    print(md + f"\nwrote {FLAGS.output}/claims.json, claims.md and one PNG per claim", flush=True)


if __name__ == "__main__":
    flags.DEFINE_integer("seeds", 3, "Seeds (0 .. seeds-1) each claim is measured over.")
    flags.DEFINE_string("output", "runs/claims", "Folder for every run, claims.json, claims.md and the plots.")
    flags.DEFINE_list("claims", [], "Claims to measure (default: all of every method).")
    flags.DEFINE_string("data_dir", "", "tfds data folder for the bundled sets.")
    flags.DEFINE_enum("protocol", "bundled", ["bundled", "real"], "Which data the claims are measured on: the "
                      "bundled generated domains, or the real-image sets (flags/real/; needs --real_data_dir's "
                      "folders and the zoo's real-image entries).")
    flags.DEFINE_string("real_data_dir", "", "The real-image folders, if not where flags/real/ says (../shared/data).")
    flags.DEFINE_bool("smoke", False, "The same runs at test size (tiny sets, a few steps): checks the machinery, "
                      "measures nothing.")
    app.run(main)

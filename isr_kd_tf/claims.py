"""The papers' claims on the bundled domains, measured over seeds.

    python -m isr_kd_tf.claims --seeds=3 --output=runs/claims

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

from isr_kd_tf import methods
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
    {run name: results.json}."""
    from isr_kd_tf import config, experiment
    results = {}
    needs = set(plan.runs if needs is None else needs)
    for name, settings in plan.runs.items():
        if name not in needs:
            continue
        workdir = os.path.join(folder, name)
        path = os.path.join(workdir, "results.json")
        if not os.path.isfile(path):
            settings = dict(settings)
            if str(settings.get("init_from", "")).startswith("@"):
                settings["init_from"] = os.path.join(folder, settings["init_from"][1:])
            print(f"== seed {seed}: {os.path.relpath(workdir)}", flush=True)
            experiment.run(config.make(**{**settings, **common, "workdir": workdir, "seed": seed}))
        with open(path) as f:
            results[name] = json.load(f)
    return results


def plot(path, claim, per_part):
    """Each seed's margin (dots) and the mean ± standard error (bar), zero marked; one line per part."""
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
    visualize.save_png(path, img)


def measure(output, seeds, common, only=(), smoke=False):
    """Runs every plan for each seed and judges each claim; returns the claims.json content."""
    plans = {name: m.claim_plan(smoke) for name, m in sorted(methods.available().items())}
    plans = {name: p for name, p in plans.items() if p is not None}
    claims = [(name, c) for name, p in plans.items() for c in p.claims if not only or c.name in only]
    if not claims:
        raise UserError(f"--claims: none of {', '.join(only)} is a claim; choose from "
                        + ", ".join(c.name for p in plans.values() for c in p.claims))
    needed = {name: {r for m, c in claims if m == name for r in c.needs} for name, _ in claims}
    margins = {c.name: [] for _, c in claims}
    start = time.time()
    for seed in range(seeds):
        for name in sorted(needed):
            results = run_plan(plans[name], os.path.join(output, f"seed{seed}", name), seed, common, needed[name])
            for method_name, c in claims:
                if method_name == name:
                    margins[c.name].append(c.margins(results))
    out = []
    for _, c in claims:
        parts = {part: [m[part] for m in margins[c.name]] for part in margins[c.name][0]}
        per_part = {part: {"per_seed": v, **summarise(v)} for part, v in parts.items()}
        entry = {"name": c.name, "paper": c.paper, "statement": c.statement,
                 "holds": all(p["holds"] for p in per_part.values()), "parts": per_part,
                 "per_seed": [dict(zip(parts, vals)) for vals in zip(*parts.values())],
                 "mean": {p: v["mean"] for p, v in per_part.items()}, "sd": {p: v["sd"] for p, v in per_part.items()}}
        plot(os.path.join(output, f"{c.name}.png"), c.statement, per_part)
        out.append(entry)
    return {"claims": out, "seeds": seeds, "minutes": round((time.time() - start) / 60, 1),
            "rule": "a part holds when the mean of its margin over seeds is > 0 and > its standard error"}


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
    return "\n".join(lines) + "\n"


FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    if FLAGS.seeds < 1:
        raise UserError("--seeds must be at least 1")
    os.makedirs(FLAGS.output, exist_ok=True)
    report = measure(FLAGS.output, FLAGS.seeds, {"data_dir": FLAGS.data_dir}, FLAGS.claims, FLAGS.smoke)
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
    flags.DEFINE_bool("smoke", False, "The same runs at test size (tiny sets, a few steps): checks the machinery, "
                      "measures nothing.")
    app.run(main)

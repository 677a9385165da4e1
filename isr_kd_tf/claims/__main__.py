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

import json
import os
import time

from absl import app, flags

from isr_kd_tf import methods
from isr_kd_tf.claims.plots import plot
from isr_kd_tf.claims.report import markdown
from isr_kd_tf.claims.runs import checkpoint_results, run_plan
from isr_kd_tf.claims.stats import margin_curve, mean_curve, mean_scores, summarise
from isr_kd_tf.errors import UserError, run_main


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
    scores = {}
    start = time.time()
    for seed in range(seeds):
        for name in sorted(needed):
            folder = os.path.join(output, f"seed{seed}", name)
            results = run_plan(plans[name], folder, seed, common, needed[name])
            at_checkpoints = checkpoint_results(folder, plans[name], needed[name], results)
            for run, res in results.items():
                scores.setdefault((name, run), []).append(res)
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
    return {"claims": out, "scores": mean_scores(scores), "seeds": seeds, "protocol": protocol,
            "minutes": round((time.time() - start) / 60, 1),
            "rule": "a part holds when the mean of its margin over seeds is > 0 and > its standard error"}


def replot(report_path, output):
    """Draws each claim's figure again from a claims.json (its per-seed margins and curve)."""
    try:
        with open(report_path) as f:
            report = json.load(f)
        claims = report["claims"]
    except (OSError, ValueError, KeyError) as e:
        raise UserError(f"--replot={report_path}: not a claims.json ({type(e).__name__}: {e})") from None
    os.makedirs(output, exist_ok=True)
    paths = []
    for c in claims:
        paths.append(os.path.join(output, f"{c['name']}.png"))
        plot(paths[-1], c["statement"], c["parts"], c.get("curve", []))
    return paths


FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    if FLAGS.replot:
        for path in replot(FLAGS.replot, FLAGS.output):
            print(f"wrote {path}", flush=True)
        return
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
    flags.DEFINE_string("replot", "", "A claims.json whose figures to draw again into --output (nothing is run).")
    flags.DEFINE_bool("smoke", False, "The same runs at test size (tiny sets, a few steps): checks the machinery, "
                      "measures nothing.")
    app.run(main)

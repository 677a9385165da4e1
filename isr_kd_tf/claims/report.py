"""claims.md: one row per part of each claim, then each claim's statement, its curve's table and the scores
of every run the margins came from."""

from isr_kd_tf.claims.stats import SCORES


def markdown(report):
    data = "real images" if report.get("protocol") == "real" else "the bundled domains"
    took = f"{report['minutes']} min" if report["minutes"] >= 0.1 else "every run reused from an earlier call"
    lines = [f"# The papers' claims on {data} ({report['seeds']} seeds, {took})", "",
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
    lines += _scores(report.get("scores", []))
    return "\n".join(lines) + "\n"


def _scores(rows):
    """The runs' own scores, mean over seeds (the zoo's entries: their one network)."""
    if not rows:
        return []
    metrics = [k for k in SCORES if any(k in r for r in rows)]
    lines = ["", "Scores of the runs, mean over seeds (ID: face-api descriptors, see the README):", "",
             "| method | run | model | test | seeds | " + " | ".join(SCORES[k] for k in metrics) + " |",
             "|---" * (5 + len(metrics)) + "|"]
    for r in rows:
        values = [("n/a" if k not in r else f"{100 * r[k]:.1f} %" if k == "id_verified" else
                   f"{r[k]:.4f}" if k in ("ssim", "id_cos") else f"{r[k]:.2f}") for k in metrics]
        lines.append(f"| {r['method']} | {r['run']} | {r['model']} | {r['test']} | {r['seeds']} | "
                     + " | ".join(values) + " |")
    return lines

"""claims.md: one row per part of each claim, then each claim's statement and its curve's table."""


def markdown(report):
    data = "real images" if report.get("protocol") == "real" else "the bundled domains"
    lines = [f"# The papers' claims on {data} ({report['seeds']} seeds, {report['minutes']} min)", "",
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

"""One figure per claim: each part's margin per seed and its mean ± standard error, and, when the
claim's runs kept checkpoints, its mean margins against training steps."""

import math
import textwrap

import matplotlib

matplotlib.use("Agg")                       # files only; no display on a server
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import FormatStrFormatter, MaxNLocator  # noqa: E402

HOLDS, FAILS = "#2c8c2c", "#c82828"


def plot(path, claim, per_part, curve=()):
    """Writes `path` (PNG). claim: the statement (the title, wrapped whole); per_part: {part: {"per_seed",
    "mean", "se", "holds"}}; curve: [{"step", part: mean margin}] (drawn when it has two points or more)."""
    parts = list(per_part)
    with_curve = len(curve) > 1
    heights = [0.9 + 0.55 * len(parts)] + ([3.2] if with_curve else [])
    fig, axes = plt.subplots(len(heights), 1, figsize=(8, sum(heights) + 0.9),
                             gridspec_kw={"height_ratios": heights}, squeeze=False)
    fig.suptitle("\n".join(textwrap.wrap(claim, 95)), fontsize=10, x=0.02, ha="left")
    _margins(axes[0][0], per_part)
    if with_curve:
        _curve(axes[1][0], curve, parts)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _margins(ax, per_part):
    names = list(per_part)
    labels = []
    for i, name in enumerate(names):
        p = per_part[name]
        colour = HOLDS if p["holds"] else FAILS
        se = p["se"] if math.isfinite(p["se"]) else 0.0
        ax.barh(i, 2 * se, left=p["mean"] - se, height=0.35, color=colour, alpha=0.45)
        ax.plot([p["mean"]] * 2, [i - 0.25, i + 0.25], color=colour, lw=2)
        ax.plot(p["per_seed"], [i] * len(p["per_seed"]), "o", color="black", ms=4)
        labels.append("\n".join(textwrap.wrap(name, 34)) + f"\nmean {p['mean']:+.3f} ± {se:.3f}"
                      + ("" if p["holds"] else " (does not hold)"))
    values = [v for p in per_part.values() for v in p["per_seed"]] + [p["mean"] for p in per_part.values()]
    span = 1.25 * max([abs(v) for v in values] + [1e-6])
    ax.set_xlim(-span, span)                   # zero in the middle: which side a margin falls on is the verdict
    ax.axvline(0, color="black", lw=0.8)
    ax.xaxis.set_major_formatter(FormatStrFormatter("%+.2g"))
    ax.set_yticks(range(len(names)), labels, fontsize=8)
    ax.set_ylim(len(names) - 0.5, -0.5)
    ax.set_xlabel("margin (dB; > 0: the part holds in that seed) — dots: seeds, bar: mean ± standard error",
                  fontsize=8)
    ax.tick_params(axis="x", labelsize=8)


def _curve(ax, curve, parts):
    steps = [p["step"] for p in curve]
    for part in parts:
        ax.plot(steps, [p[part] for p in curve], "o-", ms=3, label="\n".join(textwrap.wrap(part, 60)))
    ax.axhline(0, color="black", lw=0.8, ls="--")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.yaxis.set_major_formatter(FormatStrFormatter("%+.2g"))
    ax.set_xlabel("training steps", fontsize=8)
    ax.set_ylabel("mean margin (dB)", fontsize=8)
    ax.tick_params(labelsize=8)
    ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.25), ncol=1, frameon=False)

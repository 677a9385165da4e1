"""A claim's verdict from its margins over seeds, and its margins against training steps."""

import math

import numpy as np

from isr_kd_tf.claims.contract import row


def summarise(values):
    """mean, sd and whether the part holds (mean > 0 and mean > standard error)."""
    v = np.asarray(values, np.float64)
    mean = float(v.mean())
    sd = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
    se = sd / math.sqrt(len(v)) if len(v) > 1 else float("inf")
    return {"mean": mean, "sd": sd, "se": se, "holds": bool(mean > 0 and mean > se)}


def margin_curve(claim, results, at_checkpoints):
    """[(step, {part: margin})]: the claim's margins with each of its trained runs taken at its k-th
    kept checkpoint (the runs of a claim train alike: same steps, same checkpoint spacing)."""
    runs = [r for r in claim.needs if r in at_checkpoints]
    if not runs or len({tuple(step for step, _ in at_checkpoints[r]) for r in runs}) != 1:
        return []
    return [(step, claim.margins({**results, **{r: at_checkpoints[r][k][1] for r in runs}}))
            for k, (step, _) in enumerate(at_checkpoints[runs[0]])]


def mean_curve(per_seed):
    """[{"step", part: mean margin over seeds}] where every seed has the same steps (else [])."""
    if not per_seed or not per_seed[0] or len({tuple(step for step, _ in c) for c in per_seed}) != 1:
        return []
    return [{"step": step, **{part: float(np.mean([c[k][1][part] for c in per_seed])) for part in margins}}
            for k, (step, margins) in enumerate(per_seed[0])]


# the results.json metrics a claims report averages, with their headings
SCORES = {"psnr": "PSNR", "ssim": "SSIM", "id_cos": "ID cos", "id_verified": "ID verified"}


def mean_scores(per_run):
    """[{"run", "model", "test", metric: mean over seeds}]: {(method, run): [results.json per seed]} as
    one table, so the scores behind every margin (identity included, when scored) stand beside it."""
    out = []
    for (method, run), per_seed in per_run.items():
        for first in per_seed[0]["rows"]:
            model, test = first["model"], first["test"]
            means = {k: float(np.mean([row(res, model, test, k) for res in per_seed]))
                     for k in SCORES if first.get(k) is not None}
            out.append({"method": method, "run": run, "model": model, "test": test, "seeds": len(per_seed),
                        **means})
    return out

"""ISR-KD's claims (Tables I, III, IV) as runs on the bundled domains and margins.

Sizes are the demo's (flags/demo.cfg: width 1/8, 64x64 HR, batch 8, 1500
steps per stage; fewer pre-training steps leave nothing to forget): each
incremental or fine-tuning run continues G_S on 200 old-domain + 800
new-domain images.
Forgetting = PSNR drop on the old domain against G_S; gain = PSNR rise on
the new domain.
"""

from isr_kd_tf.claims import Claim, Plan, row

SIZES = dict(width=0.125, hr_size=64, batch_size=8, learning_rate=4e-4, epochs=1, checkpoint_every=500,
             log_every=500, val_images=0, verbose=2)
SMOKE = dict(width=0.0625, hr_size=32, batch_size=2, epochs=1, checkpoint_every=2, log_every=100, val_images=0,
             eval_limit=4, verbose=0)


def _change(results, run, test):
    """PSNR of the run's model minus G_S's on a test set (dB)."""
    model = "incremental_no_kd" if run.startswith("ft") else "incremental_kd"
    return row(results[run], model, test) - row(results[run], "pretrained", test)


def _forgets_half_and_keeps_half(kd, ft, old, new):
    """Margins of 'with distillation the old domain forgets at most half of what fine-tuning forgets, and the
    new domain keeps at least half of fine-tuning's gain' (old, new: the test-set labels)."""
    def margins(results):
        forget_kd, forget_ft = -_change(results, kd, old), -_change(results, ft, old)
        gain_kd, gain_ft = _change(results, kd, new), _change(results, ft, new)
        return {"forgetting: half of fine-tuning's minus KD's (dB)": forget_ft / 2 - forget_kd,
                "new-domain gain: KD's minus half of fine-tuning's (dB)": gain_kd - gain_ft / 2}
    return margins


def plan(smoke=False):
    size = SMOKE if smoke else SIZES
    long, short = (2, 2) if smoke else (1500, 1500)
    data = (dict(source_data="synthetic_faces/tiny", target_data="avatar_faces/tiny") if smoke else
            dict(source_data="synthetic_faces", target_data="avatar_faces"))
    counts = dict(source_count=4, target_count=8) if smoke else dict(source_count=200, target_count=800)
    base = dict(method="isr_kd", **size, **data)
    runs = {
        "gs": dict(base, stages=("pretrain",), steps_per_epoch=long),
        "kd": dict(base, **counts, stages=("incremental",), init_from="@gs", steps_per_epoch=short),
        "ft": dict(base, **counts, stages=("finetune",), init_from="@gs", steps_per_epoch=short),
        "kd_alpha15": dict(base, **counts, stages=("incremental",), init_from="@gs", steps_per_epoch=short,
                           alpha=15.0, beta=0.04),
        "gt": dict(base, stages=("pretrain",), pretrain_data="target", steps_per_epoch=long),
        "kd_swapped": dict(base, **counts, stages=("incremental",), init_from="@gt", pretrain_data="target",
                           steps_per_epoch=short),
        "ft_swapped": dict(base, **counts, stages=("finetune",), init_from="@gt", pretrain_data="target",
                           steps_per_epoch=short),
    }
    claims = [
        Claim("isr_kd_table1", "ISR-KD Table I",
              "With distillation the source domain forgets at most half of what fine-tuning without it forgets, "
              "and the target domain keeps at least half of fine-tuning's gain.",
              _forgets_half_and_keeps_half("kd", "ft", old="source", new="target"), ("gs", "kd", "ft")),
        Claim("isr_kd_table3", "ISR-KD Table III",
              "A larger response weight (alpha 15, beta 0.04 against alpha 5, beta 0.01) forgets less on the source "
              "domain.",
              lambda r: {"source PSNR: alpha 15 minus alpha 5 (dB)": row(r["kd_alpha15"], "incremental_kd", "source")
                         - row(r["kd"], "incremental_kd", "source")}, ("gs", "kd", "kd_alpha15")),
        Claim("isr_kd_table4", "ISR-KD Table IV",
              "With the domains swapped (cartoons first, real faces added), distillation again forgets at most half "
              "of what fine-tuning forgets and keeps at least half of its gain.",
              _forgets_half_and_keeps_half("kd_swapped", "ft_swapped", old="target", new="source"),
              ("gt", "kd_swapped", "ft_swapped")),
    ]
    return Plan(runs, claims)

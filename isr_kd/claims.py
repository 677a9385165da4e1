"""ISR-KD's claims (Tables I, III, IV) as runs on the bundled domains and margins.

Every run is the protocol's demo's (bundled: flags/demo.cfg on
flags/bundled/isr_kd.cfg; real: flags/real/demo.cfg on flags/real/isr_kd.cfg):
G_S is the zoo's (zoo:isr_kd_gs_real / zoo:isr_kd_gs_utkface, or
zoo:isr_kd_gs_cartoon / zoo:isr_kd_gt_anime for Table IV), and each seed
trains the incremental and fine-tuning runs from it on the demo's mix.
Forgetting = PSNR drop on the old domain against G_S; gain = PSNR rise on
the new domain. The first claim is the protocol's own: the networks beat
bicubic upsampling by a clear margin, or nothing else means much.
"""

from isr_kd_tf.claims.contract import Claim, Plan, row

# per protocol: the demo whose settings every run shares, and the zoo's G_T (cartoons first, Table IV)
PROTOCOLS = {"bundled": ("flags/demo.cfg", "zoo:isr_kd_gs_cartoon"),
             "real": ("flags/real/demo.cfg", "zoo:isr_kd_gt_anime")}
# What the claim runs change from their demo, per protocol. Real: 15 runs must fit in 3 hours on 2 cores, and
# scoring the 1000 + 1000 test faces three times per run (bicubic, G_S, the run) and again at every kept
# checkpoint costs more than training (identity network included), so each run is scored on the first 300
# faces of each test split, and at one earlier checkpoint (half way) for the margin-against-steps curve.
CLAIM_RUNS = {"bundled": {}, "real": dict(eval_limit=300, checkpoint_every=375, keep_checkpoints=2)}
NOT_SHARED = ("workdir", "stages", "init_from", "seed", "verbose")
SMOKE = dict(width=0.0625, hr_size=32, batch_size=2, epochs=1, steps_per_epoch=2, checkpoint_every=1,
             keep_checkpoints=2, log_every=100, val_images=0, eval_limit=4, verbose=0, lr_schedule="cosine",
             source_data="synthetic_faces/tiny", target_data="avatar_faces/tiny", source_count=4, target_count=8)
BEATS_BICUBIC_BY = 1.0          # dB: G_S on its own domain, the incremental model on the new one
FORGETS_AT_LEAST = 0.3          # dB that fine-tuning without distillation must forget for Table I to mean much


def _change(results, run, test):
    """PSNR of the run's model minus G_S's on a test set (dB)."""
    model = "incremental_no_kd" if run.startswith("ft") else "incremental_kd"
    return row(results[run], model, test) - row(results[run], "pretrained", test)


def _over_bicubic(results, run, model, test):
    return row(results[run], model, test) - row(results[run], "bicubic", test)


def _forgets_half_and_keeps_half(kd, ft, old, new):
    """Margins of 'with distillation the old domain forgets at most half of what fine-tuning forgets, and the
    new domain keeps at least half of fine-tuning's gain' (old, new: the test-set labels)."""
    def margins(results):
        forget_kd, forget_ft = -_change(results, kd, old), -_change(results, ft, old)
        gain_kd, gain_ft = _change(results, kd, new), _change(results, ft, new)
        return {f"fine-tuning forgets, minus {FORGETS_AT_LEAST} dB": forget_ft - FORGETS_AT_LEAST,
                "forgetting: half of fine-tuning's minus KD's (dB)": forget_ft / 2 - forget_kd,
                "new-domain gain: KD's minus half of fine-tuning's (dB)": gain_kd - gain_ft / 2}
    return margins


def plan(smoke=False, protocol="bundled"):
    from isr_kd_tf.config import read_flagfile
    demo_file, zoo_gt = PROTOCOLS[protocol]
    demo = read_flagfile(demo_file)
    base = {k: v for k, v in demo.items() if k not in NOT_SHARED}
    base.update(method="isr_kd", verbose=2, **CLAIM_RUNS[protocol])
    if smoke:
        base.update(SMOKE)
        gs = dict(base, stages=("pretrain",))
        gt = dict(base, stages=("pretrain",), pretrain_data="target")
    else:
        gs, gt = demo["init_from"], zoo_gt
    runs = {
        "gs": gs,
        "kd": dict(base, stages=("incremental",), init_from="@gs"),
        "ft": dict(base, stages=("finetune",), init_from="@gs"),
        "kd_alpha15": dict(base, stages=("incremental",), init_from="@gs", alpha=15.0, beta=0.04),
        "gt": gt,
        "kd_swapped": dict(base, stages=("incremental",), init_from="@gt", pretrain_data="target"),
        "ft_swapped": dict(base, stages=("finetune",), init_from="@gt", pretrain_data="target"),
    }
    d = BEATS_BICUBIC_BY
    claims = [
        Claim("isr_kd_beats_bicubic", "protocol",
              f"G_S beats bicubic upsampling on the source domain, and the model after incremental training with "
              f"distillation beats it on the target domain, each by at least {d} dB PSNR.",
              lambda r: {f"G_S minus bicubic, source, minus {d} dB": _over_bicubic(r, "kd", "pretrained", "source") - d,
                         f"incremental_kd minus bicubic, target, minus {d} dB":
                             _over_bicubic(r, "kd", "incremental_kd", "target") - d}, ("gs", "kd")),
        Claim("isr_kd_table1", "ISR-KD Table I",
              f"Fine-tuning on cartoons without distillation forgets at least {FORGETS_AT_LEAST} dB on the source "
              "domain; with distillation it forgets at most half of that, and the target domain keeps at least half "
              "of fine-tuning's gain.",
              _forgets_half_and_keeps_half("kd", "ft", old="source", new="target"), ("gs", "kd", "ft")),
        Claim("isr_kd_table3", "ISR-KD Table III",
              "A larger response weight (alpha 15, beta 0.04 against alpha 5, beta 0.01) forgets less on the source "
              "domain.",
              lambda r: {"source PSNR: alpha 15 minus alpha 5 (dB)": row(r["kd_alpha15"], "incremental_kd", "source")
                         - row(r["kd"], "incremental_kd", "source")}, ("gs", "kd", "kd_alpha15")),
        Claim("isr_kd_table4", "ISR-KD Table IV",
              "With the domains swapped (cartoons first, real faces added), fine-tuning forgets, distillation forgets "
              "at most half of that and keeps at least half of its gain.",
              _forgets_half_and_keeps_half("kd_swapped", "ft_swapped", old="target", new="source"),
              ("gt", "kd_swapped", "ft_swapped")),
    ]
    return Plan(runs, claims)

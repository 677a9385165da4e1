"""PKDN's claims (Tables 1 and 2) as runs on the bundled synthetic faces and margins.

Sizes: width 1/4, one PFB per stage, two RCABs per group, 64x64 HR, batch 8,
40 epochs of 12 steps. KDFSRNet distils for 10 of its 400 epochs; here the
same fraction, 1 of 40 epochs (--distill_epochs=1), not tuned.
"""

from isr_kd_tf.claims import Claim, Plan, row

SIZES = dict(width=0.25, pfb_per_stage=1, student_blocks=2, hr_size=64, batch_size=8, epochs=40, steps_per_epoch=12,
             distill_epochs=1, learning_rate=4e-4, checkpoint_every=240, log_every=240, val_images=0, verbose=2)
SMOKE = dict(width=0.0625, pfb_per_stage=1, student_blocks=1, hr_size=32, batch_size=2, epochs=2, steps_per_epoch=1,
             distill_epochs=1, checkpoint_every=2, log_every=100, val_images=0, eval_limit=4, verbose=0)
COMMON = dict(method="pkdn", degradation="bicubic", parsing_encoding="color", rotate_prob=0.75, beta2=0.99,
              eval_y_channel=True, eval_crop_border=8)


def plan(smoke=False):
    data = "synthetic_faces/tiny" if smoke else "synthetic_faces"
    base = dict(COMMON, **(SMOKE if smoke else SIZES), source_data=data)
    runs = {
        "full": dict(base, stages=("teacher", "student", "student_no_kd")),
        "no_ffb": dict(base, stages=("teacher",), teacher_ffb=False),
        "no_pfb_ffb": dict(base, stages=("teacher",), teacher_ffb=False, teacher_pfb=False),
    }

    def psnr(results, run, model):
        return row(results[run], model, data)

    claims = [
        Claim("pkdn_table1", "PKDN Table 1",
              "The teacher that sees parsing maps beats the student trained without distillation, and the distilled "
              "student beats the student trained without distillation.",
              lambda r: {"teacher minus student_no_kd (dB)": psnr(r, "full", "teacher") - psnr(r, "full", "student_no_kd"),
                         "student_kd minus student_no_kd (dB)": psnr(r, "full", "student_kd")
                         - psnr(r, "full", "student_no_kd")}, ("full",)),
        Claim("pkdn_table2", "PKDN Table 2",
              "The full teacher is at least as good as the one without FFB, which is at least as good as the one "
              "without PFB and FFB.",
              lambda r: {"full minus w/o FFB (dB)": psnr(r, "full", "teacher") - psnr(r, "no_ffb", "teacher"),
                         "w/o FFB minus w/o PFB and FFB (dB)": psnr(r, "no_ffb", "teacher")
                         - psnr(r, "no_pfb_ffb", "teacher")}, ("full", "no_ffb", "no_pfb_ffb")),
    ]
    return Plan(runs, claims)

"""PKDN benchmarks for `python -m isr_kd_tf.bench`: the student's distillation step, with the
PKDN teacher and with KDFSRNet's, the latter against PyTorch's strongest forms of the same step."""

import time

from isr_kd_tf.timing import _warm, median_step_seconds, op_category, peak_matmul_gflops, step_profile, step_report


def _pkdn_batch(batch_size, hr_size):
    import tensorflow as tf
    from isr_kd_tf import data
    from isr_kd_tf.config import RunConfig
    hr = tf.random.uniform((batch_size, hr_size, hr_size, 3), 0, 255, seed=0)
    labels = tf.random.uniform((batch_size, hr_size, hr_size), 0, 19, tf.int32, seed=1)
    from pkdn_tf.method import NetworkInputs
    cfg = data.PipelineConfig(run=RunConfig(hr_size=hr_size, degradation="bicubic"), features=NetworkInputs(hr_size, "color"))
    return data.finish({"hr": tf.cast(hr, tf.uint8), "parsing": labels,
                        "domain": tf.zeros([batch_size], tf.int32)}, cfg)


def _block_counts(blocks):
    """(student, teacher) blocks per stage: the student's `blocks` (None: the papers' 6), the teacher its own,
    at most as many."""
    from pkdn_tf import models
    student = blocks or models.STUDENT_BLOCKS
    return student, min(models.TEACHER_BLOCKS, student)


def _pkdn_step_maker(teacher_fn, hr_size, width, blocks=None):
    """blocks: the student's RCABs per stage (None: the papers' 6; the teacher keeps its own, at most as many)."""
    def make_step():
        import keras
        from isr_kd_tf.layers import scaled
        from isr_kd_tf.optim import FusedAdam
        from pkdn_tf import models
        from pkdn_tf.trainer import PKDNTrainer
        keras.utils.set_random_seed(0)
        feats, (student_blocks, teacher_blocks) = scaled(models.N_FEATS, width), _block_counts(blocks)
        student = models.build(models.Student(n_feats=feats, blocks=student_blocks), hr_size)
        teacher = models.build(teacher_fn(n_feats=feats, blocks=teacher_blocks), hr_size)
        trainer = PKDNTrainer(student, teacher, steps_per_epoch=10 ** 6)
        trainer.compile(optimizer=FusedAdam(1e-4, beta_2=0.99))
        trainer.optimizer.build(student.trainable_variables)
        return trainer.train_step
    return make_step


def bench_pkdn_student_train_step(batch_size=8, hr_size=128, width=1.0, steps=3, peak=None, **_):
    """The PKDN student step at paper width: frozen PKDN teacher + student with both distillation terms."""
    from pkdn_tf import models
    return step_report("pkdn_student_train_step", _pkdn_step_maker(models.Teacher, hr_size, width),
                        _pkdn_batch(batch_size, hr_size), steps, peak or peak_matmul_gflops(),
                        batch_size=batch_size, hr_size=hr_size, width=width)


# PyTorch's strongest forms, each in float32 and under bfloat16 autocast; "eager_nchw" (the official code's own
# way, 2-7x slower than these here) can still be asked for by name
TORCH_FORMS = ("eager_channels_last", "compiled")


def _torch_steps(batch, width, forms, precisions, blocks=None):
    """(precision, form, step, its arguments) of KDFSRNet's student step in PyTorch, each form freshly
    made; nothing without PyTorch."""
    try:
        import torch
        from pkdn_tf import torch_reference
    except ImportError:
        return
    from isr_kd_tf.layers import scaled
    from pkdn_tf import models
    feats, (student_blocks, teacher_blocks) = scaled(models.N_FEATS, width), _block_counts(blocks)
    inputs = {k: torch.from_numpy(batch[k].numpy().astype("float32") / (255.0 if k != "parsing_input" else 1.0))
              .permute(0, 3, 1, 2).contiguous() for k in ("lr_up", "parsing_input", "hr")}
    for precision in precisions:
        for form in forms:
            torch.manual_seed(0)
            student = torch_reference.KDFSRNet(3, feats, blocks=student_blocks)
            teacher = torch_reference.KDFSRNet(6, feats, blocks=teacher_blocks).eval()
            fmt = torch.contiguous_format if form == "eager_nchw" else torch.channels_last
            student, teacher = student.to(memory_format=fmt), teacher.to(memory_format=fmt)
            optimizer = torch.optim.Adam(student.parameters(), 1e-4, betas=(0.9, 0.99), eps=1e-8)
            args = tuple(inputs[k].contiguous(memory_format=fmt) for k in ("lr_up", "parsing_input", "hr"))

            def step(a, student=student, teacher=teacher, optimizer=optimizer):
                return torch_reference.distillation_step(student, teacher, optimizer, *a)
            if form == "compiled":
                step = torch.compile(step)
            if precision == "bfloat16":
                plain = step

                def step(a, plain=plain):
                    with torch.autocast("cpu", dtype=torch.bfloat16):
                        return plain(a)
            yield precision, form, step, args


def torch_step_seconds(batch, width=1.0, steps=3, forms=TORCH_FORMS, precisions=("float32", "bfloat16")):
    """KDFSRNet's student step in PyTorch, in each of its strong forms: {(precision, form): seconds}.

    eager_nchw: the official code's own way; eager_channels_last: tensors and weights channels-last end
    to end; compiled: torch.compile (inductor) of the whole step on channels-last tensors; bfloat16:
    the same under torch.autocast("cpu", bfloat16). {} without PyTorch."""
    return {(precision, form): median_step_seconds(step, args, steps)
            for precision, form, step, args in _torch_steps(batch, width, forms, precisions)}


def torch_step_profile(batch, width=1.0, precision="float32", form="eager_channels_last", blocks=None):
    """{category: milliseconds} of one PyTorch step (PyTorch's profiler, self CPU time of every operator,
    by timing.OP_CATEGORIES) and "wall"; None without PyTorch. Eager: a compiled step's operators are
    inductor's fused kernels, which no category names."""
    for _, _, step, args in _torch_steps(batch, width, (form,), (precision,), blocks):
        import torch
        _warm(step, args)
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as prof:
            t = time.perf_counter()
            step(args)
            wall = time.perf_counter() - t
        out = {}
        for e in prof.key_averages():
            key = op_category(e.key)
            out[key] = out.get(key, 0.0) + e.self_cpu_time_total / 1e3
        return {**{k: round(v, 1) for k, v in sorted(out.items())}, "wall": round(wall * 1e3, 1)}
    return None


def _tf_step_seconds(make_step, batch, steps, precision):
    """The package's step under the float32 policy or the mixed bfloat16 one (the policy put back after)."""
    import keras
    from isr_kd_tf import precision as precision_lib
    before = keras.mixed_precision.global_policy().name
    try:
        precision_lib.set_policy(precision == "bfloat16")
        import tensorflow as tf
        fn = tf.function(make_step(), autograph=False)
        return median_step_seconds(fn, batch, steps)
    finally:
        keras.mixed_precision.set_global_policy(before)


def bench_kdfsrnet_student_train_step(batch_size=8, hr_size=128, width=1.0, steps=3, peak=None, **_):
    """KDFSRNet's distillation step (its 2-RCAB teacher) in graph mode and XLA, against the matmul peak."""
    from pkdn_tf import models
    return step_report("kdfsrnet_student_train_step", _pkdn_step_maker(models.KDFSRNetTeacher, hr_size, width),
                       _pkdn_batch(batch_size, hr_size), steps, peak or peak_matmul_gflops(),
                       batch_size=batch_size, hr_size=hr_size, width=width)


def bench_kdfsrnet_against_torch(batch_size=8, hr_size=128, width=1.0, steps=3, torch_forms=TORCH_FORMS, **_):
    """KDFSRNet's distillation step, this package's (graph mode, float32 and the mixed bfloat16 policy) against
    PyTorch's strongest forms of the same networks, losses and optimizer, per precision, in the same run, each
    the median of `steps` steps: ratio_to_best_torch_<precision> = ours / the fastest form's (< 1: faster)."""
    from pkdn_tf import models
    batch = _pkdn_batch(batch_size, hr_size)
    torch_s = torch_step_seconds(batch, width, steps, torch_forms)
    result = {"name": "kdfsrnet_against_torch", "batch_size": batch_size, "hr_size": hr_size, "width": width}
    if not torch_s:
        return {**result, "torch": "not installed (pip install -e \".[torch]\")"}
    make_step = _pkdn_step_maker(models.KDFSRNetTeacher, hr_size, width)
    ours = {p: _tf_step_seconds(make_step, batch, steps, p) for p in ("float32", "bfloat16")}
    return {**result, **against_torch(ours, torch_s)}


bench_kdfsrnet_against_torch.compares_with_peak = False


def against_torch(ours, torch_s):
    """The report's fields: {precision: our step s} beside {(precision, form): PyTorch step s}, and the
    ratio of ours to the fastest form per precision."""
    out = {}
    for precision, mine in ours.items():
        forms = {form: t for (p, form), t in torch_s.items() if p == precision}
        if not forms:
            continue
        out[f"{precision}_step_s"] = round(mine, 4)
        out.update({f"torch_{precision}_{form}_step_s": round(t, 4) for form, t in forms.items()})
        best = min(forms, key=forms.get)
        out[f"best_torch_{precision}"] = best
        out[f"ratio_to_best_torch_{precision}"] = round(mine / forms[best], 3)
    return out


def bench_kdfsrnet_step_profile(batch_size=8, hr_size=128, width=1.0, blocks=None, **_):
    """Where KDFSRNet's student step spends its time, by op category, in float32: this package's step
    (TensorFlow's profiler) beside PyTorch's eager channels-last one (PyTorch's profiler), same batch, same run."""
    import tensorflow as tf
    from pkdn_tf import models
    batch = _pkdn_batch(batch_size, hr_size)
    fn = tf.function(_pkdn_step_maker(models.KDFSRNetTeacher, hr_size, width, blocks)(), autograph=False)
    _warm(fn, batch)
    ms = {"tensorflow": step_profile(fn, batch),
          "torch_eager_channels_last": torch_step_profile(batch, width, blocks=blocks)}
    return {"name": "kdfsrnet_step_profile", "batch_size": batch_size, "hr_size": hr_size, "width": width,
            "precision": "float32", "ms": {k: v for k, v in ms.items() if v is not None}}


bench_kdfsrnet_step_profile.compares_with_peak = False

BENCHMARKS = {"pkdn_student_train_step": bench_pkdn_student_train_step,
              "kdfsrnet_student_train_step": bench_kdfsrnet_student_train_step,
              "kdfsrnet_against_torch": bench_kdfsrnet_against_torch,
              "kdfsrnet_step_profile": bench_kdfsrnet_step_profile}

"""PKDN benchmarks for `python -m isr_kd_tf.bench`: the student's distillation step, with the
PKDN teacher and with KDFSRNet's, the latter against PyTorch eager."""

from isr_kd_tf.timing import peak_matmul_gflops, step_report, time_steps


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


def _pkdn_step_maker(teacher_fn, hr_size, width):
    def make_step():
        import keras
        from isr_kd_tf.layers import scaled
        from isr_kd_tf.optim import FusedAdam
        from pkdn_tf import models
        from pkdn_tf.trainer import PKDNTrainer
        keras.utils.set_random_seed(0)
        feats = scaled(models.N_FEATS, width)
        student = models.build(models.Student(n_feats=feats), hr_size)
        trainer = PKDNTrainer(student, models.build(teacher_fn(n_feats=feats), hr_size), steps_per_epoch=10 ** 6)
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


def torch_eager_step_seconds(batch, width=1.0, steps=3):
    """KDFSRNet's student step in PyTorch eager mode, as the official code trains
    (channels-last, all cores); None without PyTorch."""
    try:
        import torch
        from pkdn_tf import torch_reference
    except ImportError:
        return None
    from isr_kd_tf.layers import scaled
    from pkdn_tf import models
    torch.manual_seed(0)
    feats = scaled(models.N_FEATS, width)
    student = torch_reference.KDFSRNet(3, feats).to(memory_format=torch.channels_last)
    teacher = torch_reference.KDFSRNet(6, feats, blocks=2).eval().to(memory_format=torch.channels_last)
    optimizer = torch.optim.Adam(student.parameters(), 1e-4, betas=(0.9, 0.99), eps=1e-8)

    def nchw(key):
        return torch.from_numpy(batch[key].numpy() / 255.0).float().permute(0, 3, 1, 2).contiguous(
            memory_format=torch.channels_last)
    parsing = torch.from_numpy(batch["parsing_input"].numpy()).permute(0, 3, 1, 2).contiguous(
        memory_format=torch.channels_last)
    args = (nchw("lr_up"), parsing, nchw("hr"))
    return time_steps(lambda a: torch_reference.distillation_step(student, teacher, optimizer, *a), args, steps)


def bench_kdfsrnet_student_train_step(batch_size=8, hr_size=128, width=1.0, steps=3, peak=None, **_):
    """KDFSRNet's distillation step (its 2-RCAB teacher): this package in graph
    mode against PyTorch eager on the same networks, losses and optimizer."""
    from pkdn_tf import models
    batch = _pkdn_batch(batch_size, hr_size)
    result = step_report("kdfsrnet_student_train_step", _pkdn_step_maker(models.KDFSRNetTeacher, hr_size, width),
                          batch, steps, peak or peak_matmul_gflops(),
                          batch_size=batch_size, hr_size=hr_size, width=width)
    torch_s = torch_eager_step_seconds(batch, width, steps)
    if torch_s is not None:
        result["torch_eager_step_s"] = round(torch_s, 4)
        result["torch_eager_achieved_gflops"] = round(result["gflop"] / torch_s, 1)
        result["speedup_over_torch_eager"] = round(torch_s / result["step_s"], 2)
    return result



BENCHMARKS = {"pkdn_student_train_step": bench_pkdn_student_train_step,
              "kdfsrnet_student_train_step": bench_kdfsrnet_student_train_step}

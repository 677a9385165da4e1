"""PKDN as a method: parsing maps required, the pipeline's inputs, bad settings."""

import pytest

from isr_kd_tf import config, data, experiment
from isr_kd_tf.errors import UserError
from tests.conftest import TINY_SOURCE, TINY_TARGET


def _cfg(tmp_path, data_dir, **kw):
    base = dict(method="pkdn", workdir=str(tmp_path / "pkdn"), data_dir=data_dir, source_data=TINY_SOURCE,
                train_count=0, stages=("teacher", "student", "student_no_kd"), width=0.125, pfb_per_stage=1,
                student_blocks=1, hr_size=32, batch_size=4, epochs=2, steps_per_epoch=2, distill_epochs=1,
                degradation="bicubic", checkpoint_every=2, log_every=2, val_images=4, verbose=0, eval_limit=8,
                eval_y_channel=True, eval_crop_border=8, beta2=0.99)
    base.update(kw)
    return config.make(**base)


@pytest.mark.parametrize("kw, message", [
    (dict(stages=("student",)), "without teacher"),
    (dict(stages=("pretrain",)), "not one of"),
    (dict(hr_size=40), "multiple of 16"),
    (dict(parsing_encoding="rgb"), "parsing_encoding"),
    (dict(teacher_arch="fsrnet"), "teacher_arch"),
    (dict(alpha=5.0), "--alpha is a setting of --method=isr_kd"),
    (dict(pfb_per_stage=0), "--pfb_per_stage must be at least 1"),
    (dict(lambda_fs=-1.0), "--lambda_fs must be at least 0"),
    (dict(weight_init="xavier"), "--weight_init='xavier': use torch or keras"),
])
def test_bad_pkdn_settings_are_rejected_before_work(tmp_path, kw, message):
    with pytest.raises(UserError, match=message):
        experiment.check(_cfg(tmp_path, "", **kw))


def test_a_teacher_needs_a_dataset_with_parsing_maps(tmp_path, data_dir):
    with pytest.raises(UserError, match="no parsing maps"):
        experiment.run(_cfg(tmp_path, data_dir, source_data=TINY_TARGET, stages=("teacher",)))


def test_the_pipeline_gives_the_pkdn_inputs(tmp_path, data_dir):
    cfg = data.PipelineConfig.from_settings(_cfg(tmp_path, data_dir, hr_size=64, parsing_encoding="onehot"))
    batch = next(iter(data.eval_dataset(TINY_SOURCE, "test", data.SOURCE, cfg, 2, data_dir)))
    assert batch["lr"].shape == (2, 8, 8, 3) and batch["lr_up"].shape == (2, 64, 64, 3)
    assert batch["parsing_input"].shape == (2, 64, 64, 19)
    assert "edge_64" not in batch

"""Mixed precision trains both methods with float32 losses and variables."""

import numpy as np
import pytest
import tensorflow as tf

from isr_kd_tf import config, data, methods
from isr_kd.discriminator import build_discriminator
from isr_kd.generator import build_generator
from isr_kd.trainer import ISRKDTrainer, copy_generator
from tests.conftest import pipeline


@pytest.mark.slow
@pytest.mark.parametrize("method", ["isr_kd", "pkdn"])
def test_mixed_precision_trains_with_float32_losses_and_variables(tmp_path, method):
    from isr_kd_tf import precision
    own = dict(student_blocks=1, pfb_per_stage=1) if method == "pkdn" else {}
    cfg = config.make(method=method, width=0.0625, mixed_precision=True, hr_size=32, **own)
    try:
        half = "float16" if tf.config.list_physical_devices("GPU") else "bfloat16"   # loss scaling with float16
        assert precision.set_policy(True) == f"mixed_{half}"
        if method == "isr_kd":
            g = build_generator(cfg.width)
            tr = ISRKDTrainer(g, build_discriminator(cfg.width, 32), copy_generator(g), "incremental")
            tr.compile(methods.adam(cfg.run), methods.adam(cfg.run))
            batch = data.finish({"hr": tf.cast(tf.random.uniform((4, 32, 32, 3), 0, 255), tf.uint8),
                                 "domain": tf.constant([0, 1, 0, 1])}, pipeline("isr_kd", hr_size=32))
            model = g
        else:
            from pkdn_tf import method as pkdn_method
            from pkdn_tf.trainer import PKDNTrainer
            model = pkdn_method.build_model(cfg, "student")
            tr = PKDNTrainer(model, pkdn_method.build_model(cfg, "teacher"))
            tr.compile(optimizer=methods.adam(cfg.run, 0.9, 0.99))
            batch = data.finish({"hr": tf.cast(tf.random.uniform((2, 32, 32, 3), 0, 255), tf.uint8),
                                 "parsing": tf.zeros((2, 32, 32), tf.uint8), "domain": tf.constant([0, 0])},
                                data.PipelineConfig.from_settings(cfg))
        assert model.compute_dtype == half and model.weights[0].dtype == "float32"
        before = [w.copy() for w in model.get_weights()]
        logs = tf.function(tr.train_step)(batch)
        assert all(v.dtype == tf.float32 and np.isfinite(v.numpy()) for v in logs.values())
        assert any(not np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    finally:
        precision.set_policy(False)

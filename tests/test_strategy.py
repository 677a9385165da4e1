"""MirroredStrategy over two logical CPUs, fed as the training loop feeds any strategy
(Cluster.distribute), gives the single-device training step: both papers' trainers and the
README's example method (tests/plain_l1.py), none of which divides by a replica count."""

import os
import subprocess
import sys

import pytest

from tests.conftest import ROOT


_SCRIPT = """
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
import keras, numpy as np
from isr_kd_tf import cluster, data, loop
from tests.conftest import pipeline
from isr_kd.discriminator import build_discriminator
from isr_kd.generator import build_generator
from isr_kd_tf.optim import FusedAdam
from isr_kd.trainer import ISRKDTrainer, copy_generator
from pkdn_tf import models
from pkdn_tf.trainer import PKDNTrainer

hr = tf.cast(tf.random.stateless_uniform((4, 32, 32, 3), (1, 2), 0, 255), tf.uint8)
# replica 0 gets one source and one target sample, replica 1 two targets: unequal masks
isr_batch = data.finish({"hr": hr, "domain": tf.constant([0, 1, 1, 1])}, pipeline("isr_kd", hr_size=32))
pkdn_batch = data.finish({"hr": hr, "parsing": tf.zeros((4, 32, 32), tf.uint8), "domain": tf.zeros([4], tf.int32)},
                         pipeline("pkdn", hr_size=32))

def isr_kd(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        g = build_generator(0.0625)
        tr = ISRKDTrainer(g, build_discriminator(0.0625, 32), copy_generator(g), "incremental")
        tr.compile(FusedAdam(1e-3), FusedAdam(1e-3))
        tr.g_optimizer.build(g.trainable_variables)
        tr.d_optimizer.build(tr.discriminator.trainable_variables)
    return tr, isr_batch, g.weights + tr.discriminator.weights

def pkdn(strategy):
    keras.utils.set_random_seed(0)
    with strategy.scope():
        s = models.build(models.Student(blocks=1, n_feats=8), 32)
        tr = PKDNTrainer(s, models.build(models.Teacher(blocks=1, n_feats=8), 32), steps_per_epoch=1)
        tr.compile(optimizer=FusedAdam(1e-3))
        tr.optimizer.build(s.trainable_variables)
    return tr, pkdn_batch, s.weights

def plain_l1(strategy):            # the README's example method, which does no replica arithmetic of its own
    from tests.plain_l1 import L1Trainer, PlainSR
    keras.utils.set_random_seed(0)
    with strategy.scope():
        m = PlainSR(4, 8)
        m(tf.zeros((1, 4, 4, 3)))
        tr = L1Trainer(m)
        tr.compile(optimizer=FusedAdam(1e-3))
        tr.optimizer.build(m.trainable_variables)
    return tr, isr_batch, m.weights

for name, make in (("isr_kd", isr_kd), ("pkdn", pkdn), ("plain_l1", plain_l1)):
    results = []
    for strategy in (tf.distribute.get_strategy(), cluster.mirrored_strategy(["/cpu:0", "/cpu:1"])):
        tr, batch, weights = make(strategy)
        def shares(share):   # the training loop's path: this worker's rows, one batch per replica
            ds = tf.data.Dataset.from_tensor_slices(batch).batch(4).repeat(2)
            if share is None:
                return ds
            first, rows, per = share
            return ds.map(lambda b: {k: v[first:first + rows] for k, v in b.items()}).unbatch().batch(per)
        ds = cluster.Cluster(strategy).distribute(shares, 4)
        step = tf.function(loop.distributed_step(strategy, tr), autograph=False)     # as loop.compiled_step
        for b in ds:
            logs = step(b)
        results.append(([w.numpy() for w in weights], {k: float(v) for k, v in logs.items()}))
    (w1, l1), (w2, l2) = results
    wdiff = max(float(np.max(np.abs(a - b))) for a, b in zip(w1, w2))
    ldiff = max(abs(l1[k] - l2[k]) / max(1.0, abs(l1[k])) for k in l1)
    print(name, "replicas=2", "max_weight_diff", wdiff, "max_log_rel_diff", ldiff, sorted(l1) == sorted(l2))
"""


@pytest.mark.slow
def test_mirrored_two_cpu_step_matches_single_device():
    out = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True, text=True, timeout=400,
                         env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert out.returncode == 0, out.stderr[-3000:]
    lines = [line.split() for line in out.stdout.splitlines() if "replicas=2" in line]
    assert [line[0] for line in lines] == ["isr_kd", "pkdn", "plain_l1"], out.stdout
    for line in lines:
        assert float(line[3]) < 1e-4, line       # weights after two steps
        assert float(line[5]) < 1e-4, line       # every logged loss term
        assert line[6] == "True"

"""FusedAdam against Keras' Adam."""

import keras
import numpy as np
import pytest
import tensorflow as tf


def test_fused_adam_matches_keras_adam():
    from isr_kd_tf.optim import FusedAdam
    results = []
    for cls in (keras.optimizers.Adam, FusedAdam):
        v = keras.Variable(np.linspace(-1, 1, 12).reshape(3, 4).astype("float32"))
        opt = cls(1e-2, beta_1=0.9, beta_2=0.99, epsilon=1e-8)
        opt.build([v])
        grads = [tf.constant(np.sin(np.arange(12) + i).reshape(3, 4), tf.float32) for i in range(5)]

        @tf.function
        def steps():
            for g in grads:
                opt.apply_gradients([(g, v)])
        steps()
        results.append(v.numpy())
    np.testing.assert_allclose(results[0], results[1], atol=1e-6)


def _run_adam(make, grads, start):
    """Weights after applying `grads` (one per step) from `start` with the optimizer `make` builds."""
    v = keras.Variable(start)
    opt = make()
    opt.build([v])
    for g in grads:
        opt.apply_gradients([(tf.constant(g), v)])
    return v.numpy()


def test_epsilon_after_bias_correction_matches_pytorch_adam_and_the_default_does_not():
    import torch
    from isr_kd_tf.optim import FusedAdam
    rng = np.random.default_rng(0)
    start = rng.normal(size=(4, 5)).astype(np.float32)
    # tiny gradients make epsilon matter: sqrt(v) is of the order of epsilon
    grads = [(rng.normal(size=(4, 5)) * 1e-3).astype(np.float32) for _ in range(6)]
    w = torch.nn.Parameter(torch.tensor(start))
    ref = torch.optim.Adam([w], lr=1e-2, betas=(0.9, 0.99), eps=1e-3)
    for g in grads:
        w.grad = torch.tensor(g)
        ref.step()
    torch_result = w.detach().numpy()
    after = _run_adam(lambda: FusedAdam(1e-2, beta_1=0.9, beta_2=0.99, epsilon=1e-3,
                                        epsilon_after_bias_correction=True), grads, start)
    before = _run_adam(lambda: FusedAdam(1e-2, beta_1=0.9, beta_2=0.99, epsilon=1e-3), grads, start)
    np.testing.assert_allclose(after, torch_result, rtol=1e-5, atol=1e-7)
    assert np.abs(before - torch_result).max() > 1e-4


def test_cosine_schedule_counts_the_stage_s_own_steps_and_leaves_checkpoints_alike():
    from isr_kd_tf.optim import FusedAdam
    v = keras.Variable(np.ones(3, np.float32))
    opt = FusedAdam(1e-3, cosine_steps=100)
    opt.build([v])
    opt.iterations.assign(40)
    opt.cosine_start = 40                                               # a stage that continues Adam's state
    assert opt.scheduled_learning_rate() == pytest.approx(1e-3)
    opt.iterations.assign(90)
    assert opt.scheduled_learning_rate() == pytest.approx(0.5e-3)       # half-way: half the rate
    opt.iterations.assign(500)
    assert opt.scheduled_learning_rate() == 0.0                         # the end, and never below 0
    before = v.numpy()
    opt.apply_gradients([(tf.ones(3), v)])
    np.testing.assert_array_equal(v.numpy(), before)                    # a zero rate moves nothing
    plain = FusedAdam(1e-3)
    plain.build([keras.Variable(np.ones(3, np.float32))])
    def layout(o):
        return [(x.path.rsplit("/", 1)[-1].rsplit("_", 1)[-1], tuple(x.shape)) for x in o.variables]
    assert layout(plain) == layout(opt) and any(x.path.endswith("learning_rate") for x in opt.variables)


def test_the_step_scalars_are_made_once_per_apply_and_every_variable_moves_as_keras_adam_moves_it():
    """Six variables, one Adam step each in a tf.function: the bias-correction powers and the cosine
    factor appear once in the graph, not once per variable, and the updates are Keras Adam's at the
    scheduled rate."""
    from isr_kd_tf.optim import FusedAdam
    starts = [np.linspace(-1, 1, 4 * (i + 1)).astype("float32") for i in range(6)]
    grads = [tf.constant(np.cos(np.arange(4 * (i + 1)) + i), tf.float32) for i in range(6)]
    fused_vars = [keras.Variable(s) for s in starts]
    fused = FusedAdam(1e-2, beta_2=0.99, cosine_steps=4)
    fused.build(fused_vars)
    fused.iterations.assign(2)                  # half-way through the schedule: half the rate
    apply = tf.function(lambda: fused.apply_gradients(zip(grads, fused_vars)))
    ops = [op.type for op in apply.get_concrete_function().graph.get_operations()]
    assert ops.count("ResourceApplyAdam") == 6 and ops.count("Pow") == 2 and ops.count("Cos") == 1
    apply()
    plain_vars = [keras.Variable(s) for s in starts]
    plain = keras.optimizers.Adam(0.5e-2, beta_2=0.99)
    plain.build(plain_vars)
    plain.iterations.assign(2)
    plain.apply_gradients(zip(grads, plain_vars))
    for a, b in zip(fused_vars, plain_vars):
        np.testing.assert_allclose(a.numpy(), b.numpy(), atol=1e-6)

"""FusedAdam against Keras' Adam."""

import keras
import numpy as np
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

"""Adam with TensorFlow's fused kernel: one op per variable instead of ~20.

Same maths, slots and checkpoints as keras.optimizers.Adam (m and v are its
momentum/velocity variables); tracing a train step of the 500-variable PKDN
student drops from tens of seconds to a few, and each update is one kernel.
"""

import keras
import tensorflow as tf


def _handle(v):
    return v.handle if isinstance(v, tf.Variable) else v.value.handle


class FusedAdam(keras.optimizers.Adam):
    """epsilon_after_bias_correction: PyTorch's Adam (eps added to sqrt(v_hat)); TensorFlow's kernel adds it
    to sqrt(v) before the bias correction, which equals PyTorch's with eps * sqrt(1 - beta2^t)."""

    def __init__(self, *args, epsilon_after_bias_correction=False, cosine_steps=0, **kwargs):
        super().__init__(*args, **kwargs)
        self.epsilon_after_bias_correction = epsilon_after_bias_correction
        self.cosine_steps = cosine_steps
        self.cosine_start = 0
        self._per_apply = None      # during an apply: {dtype: the step's scalars}

    def get_config(self):
        return {**super().get_config(), "epsilon_after_bias_correction": self.epsilon_after_bias_correction,
                "cosine_steps": self.cosine_steps}

    def learning_rate_factor(self):
        """With cosine_steps: 1 at iteration cosine_start falling to 0 at cosine_start + cosine_steps (a
        factor on the learning-rate variable, so checkpoints look the same with or without it)."""
        if not self.cosine_steps:
            return tf.constant(1.0)
        t = tf.cast(self.iterations - self.cosine_start, tf.float32) / self.cosine_steps
        return 0.5 * (1.0 + tf.cos(3.141592653589793 * tf.clip_by_value(t, 0.0, 1.0)))

    def _scheduled(self, learning_rate):
        if not self.cosine_steps:      # nothing added to the step without a schedule
            return learning_rate
        return learning_rate * tf.cast(self.learning_rate_factor(), learning_rate.dtype)

    def scheduled_learning_rate(self):
        # read as tensors first (also a distributed variable): NumPy 2 warns on a variable's own __array__
        return float(tf.convert_to_tensor(self.learning_rate)) * float(self.learning_rate_factor())

    def _backend_update_step(self, grads, trainable_variables, learning_rate):
        self._per_apply = {}      # the scalars all variables' updates share, made once per apply, not per variable
        try:
            return super()._backend_update_step(grads, trainable_variables, learning_rate)
        finally:
            self._per_apply = None

    def _scalars(self, dtype, learning_rate):
        """{lr, beta1_power, beta2_power, beta1, beta2, epsilon} of this step in `dtype`. Made per variable
        they were ~15 ops each: the KDFSRNet step's first call (tracing) took 17.1 s, now 14.8."""
        cache = self._per_apply
        if cache is not None and dtype in cache:
            return cache[dtype]
        learning_rate = self._scheduled(learning_rate)
        step = tf.cast(self.iterations + 1, dtype)
        beta2_power = tf.pow(tf.cast(self.beta_2, dtype), step)
        epsilon = tf.cast(self.epsilon, dtype)
        if self.epsilon_after_bias_correction:
            epsilon = epsilon * tf.sqrt(1.0 - beta2_power)
        out = dict(lr=tf.cast(learning_rate, dtype), beta1_power=tf.pow(tf.cast(self.beta_1, dtype), step),
                   beta2_power=beta2_power, beta1=tf.cast(self.beta_1, dtype), beta2=tf.cast(self.beta_2, dtype),
                   epsilon=epsilon)
        if cache is not None:
            cache[dtype] = out
        return out

    def update_step(self, gradient, variable, learning_rate):
        if self.amsgrad or keras.backend.backend() != "tensorflow":
            return super().update_step(gradient, variable, self._scheduled(learning_rate))
        index = self._get_variable_index(variable)
        tf.raw_ops.ResourceApplyAdam(
            var=_handle(variable), m=_handle(self._momentums[index]), v=_handle(self._velocities[index]),
            grad=tf.cast(gradient, variable.dtype), use_locking=False, **self._scalars(variable.dtype, learning_rate))


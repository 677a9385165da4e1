"""ISR-KD / EIPNet discriminator: seven 3x3 convs and two dense layers.

Layer names follow the official TF1 code. Input is a [0, 255] image of the
size it was built for (dense layer 1 sees the flattened final feature map).
"""

import keras
from keras import layers

from isr_kd_tf.layers import BuildOnCall, scaled

# (name, channels, stride); stride-2 convs are VALID as in the official code.
_CONVS = (("di_conv1_1", 128, 1), ("di_conv1_2", 128, 2), ("di_conv2_1", 256, 1),
          ("di_conv2_2", 256, 2), ("di_conv3_1", 256, 1), ("di_conv3_2", 512, 2),
          ("di_conv4_1", 512, 1))


class Discriminator(BuildOnCall, keras.Model):
    """Returns one logit per image (sigmoid lives in the loss)."""

    def __init__(self, width=1.0, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.convs = [layers.Conv2D(scaled(ch, width), 3, strides=s, padding="same" if s == 1 else "valid",
                                    name=name) for name, ch, s in _CONVS]
        self.flatten = layers.Flatten()
        self.fc1 = layers.Dense(scaled(512, width), name="dense")
        self.fc2 = layers.Dense(1, name="dense_1")

    def call(self, x, training=False):
        for i, conv in enumerate(self.convs):
            x = conv(x)
            if i < len(self.convs) - 1:  # no activation after di_conv4_1
                x = keras.ops.leaky_relu(x, 0.2)
        x = keras.ops.leaky_relu(self.fc1(self.flatten(x)), 0.2)
        return self.fc2(x)

    def get_config(self):
        return {**super().get_config(), "width": self.width}


def build_discriminator(width=1.0, hr_size=128):
    d = Discriminator(width)
    d(keras.ops.zeros((1, hr_size, hr_size, 3)))
    return d

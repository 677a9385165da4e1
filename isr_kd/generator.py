"""ISR-KD / EIPNet generator: x8 super-resolution with edge blocks.

Layer names follow the official TF1 code (Conv1, Step1_1, ..., RGB) so that
its checkpoints map one to one. Pixels are raw [0, 255] in and out.
"""

import keras
from keras import layers, ops

from isr_kd_tf.layers import BuildOnCall, scaled

# (channels of the transposed conv, average-pool kernel of its edge block)
_STAGES = ((256, 5), (128, 7), (64, 10))
_HEAD = 512


class EdgeBlock(BuildOnCall, layers.Layer):
    """High-pass edge features: sub = ReLU(x - avgpool(x)); edge = ReLU(1x1 conv(sub)).

    Returns (concat(x, sub), edge): the block doubles the channels and gives
    the single-channel edge map that the edge loss compares with Canny.
    """

    def __init__(self, pool_size, **kwargs):
        super().__init__(**kwargs)
        self.pool_size = pool_size
        # SAME average pooling in TF averages over valid pixels only, as the official code.
        self.smooth = layers.AveragePooling2D(pool_size, strides=1, padding="same")
        self.to_edge = layers.Conv2D(1, 1, activation="relu", name="conv")

    def call(self, x):
        sub = ops.relu(x - self.smooth(x))
        return ops.concatenate([x, sub], axis=-1), self.to_edge(sub)

    def get_config(self):
        return {**super().get_config(), "pool_size": self.pool_size}


def _conv(ch, k=3, act="relu", name=None):
    return layers.Conv2D(ch, k, padding="same", activation=act, name=name)


class Generator(BuildOnCall, keras.Model):
    """Called on an LR batch: {"sr", "edges" (coarse to fine), "bottleneck"}.

    `width` scales every channel count (1.0 = the paper). `extra_convs` adds
    the paper's extended network (Table V): 3x3 ReLU convs after the last
    edge block's concat, before RGB, each keeping its 128 channels, so every
    layer of G_S, RGB included, loads into the extended network unchanged.
    """

    def __init__(self, width=1.0, extra_convs=0, **kwargs):
        super().__init__(**kwargs)
        self.width = width
        self.extra_convs = extra_convs
        head = scaled(_HEAD, width)
        self.conv1 = _conv(head, act=None, name="Conv1")
        self.step1_1 = _conv(head, name="Step1_1")
        self.step1_2 = _conv(head, name="Step1_2")
        self.up, self.edge, self.convs_a, self.convs_b = [], [], [], []
        for i, (ch, pool) in enumerate(_STAGES, start=1):
            c = scaled(ch, width)
            self.up.append(layers.Conv2DTranspose(c, 4, strides=2, padding="same", activation="relu",
                                                  name=f"Step{i}_de"))
            self.edge.append(EdgeBlock(pool, name=f"Step{i}_edge"))
            if i < len(_STAGES):  # residual block of the next module: 2c -> 2c -> c
                self.convs_a.append(_conv(2 * c, name=f"Step{i + 1}_1"))
                self.convs_b.append(_conv(c, name=f"Step{i + 1}_2"))
        last = 2 * scaled(_STAGES[-1][0], width)          # the last concat: upsampled + edge features
        self.extra = [_conv(last, name=f"Extra_{i + 1}") for i in range(extra_convs)]
        self.rgb = _conv(3, k=1, act=None, name="RGB")

    def call(self, lr, training=False):
        x = self.conv1(lr)
        bottleneck = x + self.step1_2(self.step1_1(x))
        edges = []
        x = bottleneck
        for i in range(len(_STAGES)):
            up = self.up[i](x)
            x, e = self.edge[i](up)
            edges.append(e)
            if i < len(self.convs_a):
                x = up + self.convs_b[i](self.convs_a[i](x))
        for conv in self.extra:
            x = conv(x)
        return {"sr": self.rgb(x), "edges": edges, "bottleneck": bottleneck}

    def get_config(self):
        return {**super().get_config(), "width": self.width, "extra_convs": self.extra_convs}


def build_generator(width=1.0, extra_convs=0, lr_size=16):
    g = Generator(width, extra_convs)
    g(keras.ops.zeros((1, lr_size, lr_size, 3)))
    return g

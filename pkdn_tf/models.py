"""PKDN and KDFSRNet networks: a U-shaped x8 face super-resolver without skips.

Skeleton (KDFSRNet, model/net.py): head conv -> 4 x [down block -> stage]
-> bottleneck stage -> 4 x [up block -> stage] -> tail conv. The input is the
LR face bicubic-upsampled to HR size, in [0, 1] as in the PyTorch code, so
converted KDFSRNet weights work unchanged. A stage is a residual
channel-attention group (student, KDFSRNet teacher) or a stack of
parsing-map fusion blocks (PKDN teacher), optionally preceded by a feature
fusion block in the decoder.

The down/up blocks use TF's space_to_depth/depth_to_space channel order,
(dy * 2 + dx) * C + c; `pkdn_tf.convert` permutes PyTorch weights to it.
"""

import contextlib
import threading

import keras
import numpy as np
import tensorflow as tf
from keras import layers, ops

from isr_kd_tf.layers import BuildOnCall
from pkdn_tf.config import WEIGHT_INITS

N_FEATS = 64
STAGES = 9              # 4 encoder stages, the bottleneck, 4 decoder stages
STUDENT_BLOCKS = 6      # RCABs per stage: the student (and the PKDN teacher's RCAG option)
TEACHER_BLOCKS = 2      # blocks per stage of both teachers
DOWN = 4


def _conv(ch, k=3, act=None, name=None):
    return layers.Conv2D(ch, k, padding="same", activation=act, name=name)


class PointwiseConv(layers.Conv2D):
    """A 1x1 convolution computed as the matmul it is. On the channel attention's pooled (N, 1, 1, C) maps
    oneDNN's convolution primitives took 0.3 ms a call, backward-filter most (ONEDNN_VERBOSE: 360 calls,
    121 ms per KDFSRNet bfloat16 step; issue 31); the matmuls take a few ms in all. Conv2D's variables, so
    checkpoints and converted PyTorch weights load unchanged."""

    def __init__(self, filters, **kwargs):
        super().__init__(filters, 1, **kwargs)

    def call(self, inputs):
        shape = tf.shape(inputs)
        kernel = tf.reshape(self.kernel, [-1, self.filters])
        y = tf.matmul(tf.reshape(inputs, [-1, shape[-1]]), kernel)
        if self.use_bias:
            y = tf.nn.bias_add(y, self.bias)
        return tf.reshape(self.activation(y), tf.concat([shape[:-1], [self.filters]], 0))

    def get_config(self):
        config = super().get_config()
        config.pop("kernel_size")
        return config


class ChannelAttention(layers.Layer):
    """RCAN channel attention: GAP -> 1x1 conv C/r -> ReLU -> 1x1 conv C -> sigmoid gate; with `residual`,
    the block's skip added in the same pass."""

    def __init__(self, channels, reduction=16, **kwargs):
        super().__init__(**kwargs)
        self.squeeze = PointwiseConv(max(1, channels // reduction), activation="relu", name="squeeze")
        self.excite = PointwiseConv(channels, activation="sigmoid", name="excite")

    def build(self, input_shape):
        # before the first call, which runs inside gated_by_mean's custom gradient, where no variable may be made
        self.squeeze.build((None, 1, 1, input_shape[-1]))
        self.excite.build((None, 1, 1, self.squeeze.filters))

    def call(self, x, residual=None, fused=False):
        return gated_by_mean(x, lambda pooled: self.excite(self.squeeze(pooled)), residual, fused)


def _scale_add(x, scale, shift):
    return x * scale + shift


# The same as one XLA kernel: a single pass where TensorFlow's bfloat16 Mul and Add make two, with a
# rounding between (issue 31: 7.4 against 2.1 ms on a batch-8 128x128x64 map; float32 gains nothing)
_scale_add_fused = tf.function(_scale_add, jit_compile=True, autograph=False)


def gated_by_mean(x, gate, residual=None, fused=False):
    """residual + x * gate(mean of x over the map), its gradient written out. Autodiff tiles the mean's
    gradient over the map, divides it there and adds it to the product's: three full-size passes where one
    broadcast add does (issue 31). fused: the full-size multiply-adds as XLA kernels (the reduction stays
    TensorFlow's, which XLA's CPU path runs 2x slower). tf.reduce_mean, not keras.ops.mean: under the
    bfloat16 policy ops.mean casts the whole map to float32 and back to reduce it; TensorFlow's bfloat16
    mean accumulates in float32 itself."""
    scale_add = _scale_add_fused if fused else _scale_add

    @tf.custom_gradient
    def forward(x, *skip):                  # skip: () or (residual,), a custom gradient's inputs being tensors
        pooled = tf.reduce_mean(x, axis=(1, 2), keepdims=True)
        with tf.GradientTape(persistent=True) as tape:      # persistent: an outer tape may ask twice
            tape.watch(pooled)
            g = gate(pooled)

        def backward(dy, variables=None):
            d_pooled, *d_variables = tape.gradient(g, [pooled, *(variables or [])],
                                                   output_gradients=tf.reduce_sum(dy * x, axis=(1, 2), keepdims=True))
            size = tf.cast(tf.shape(x)[1] * tf.shape(x)[2], d_pooled.dtype)
            dx = scale_add(dy, g, d_pooled / size)
            return ((dx, dy) if skip else (dx,)), d_variables
        return (scale_add(x, g, skip[0]) if skip else x * g), backward
    return forward(x) if residual is None else forward(x, residual)


class RCAB(BuildOnCall, layers.Layer):
    """Residual channel-attention block: x + CA(conv(ReLU(conv(x))))."""

    def __init__(self, channels, reduction=16, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = _conv(channels, act="relu", name="conv1")
        self.conv2 = _conv(channels, name="conv2")
        self.attention = ChannelAttention(channels, reduction, name="attention")

    def call(self, x):
        fused = _train_step.active and self.compute_dtype == "bfloat16"
        return self.attention(self.conv2(self.conv1(x)), residual=x, fused=fused)


class _TrainStep(threading.local):
    active = False


_train_step = _TrainStep()


@contextlib.contextmanager
def fused_gates():
    """Networks called inside, in bfloat16, run each RCAB's gate and residual add as one XLA kernel each
    way: about 5 % off the KDFSRNet step (issue 31; 0.966 against 0.915 s, interleaved). Train steps
    only: their shapes are fixed, while inference and exports keep plain TensorFlow ops, which need no
    compilation per image size."""
    before = _train_step.active
    _train_step.active = True
    try:
        yield
    finally:
        _train_step.active = before


class PooledChannelGate(BuildOnCall, layers.Layer):
    """FishFSRNet ChannelGate: a shared MLP on avg-, max- and variance-pooled vectors."""

    def __init__(self, channels, reduction=4, **kwargs):
        super().__init__(**kwargs)
        self.hidden = layers.Dense(max(1, channels // reduction), activation="relu", name="hidden")
        self.out = layers.Dense(channels, name="out")

    def call(self, x):
        pooled = (ops.mean(x, axis=(1, 2)), ops.max(x, axis=(1, 2)), ops.var(x, axis=(1, 2)))
        logits = sum(self.out(self.hidden(p)) for p in pooled)
        return x * ops.sigmoid(logits)[:, None, None, :]


class SpatialGate(BuildOnCall, layers.Layer):
    """FishFSRNet CSAR spatial gate: 1x1 conv 2C -> ReLU -> 1x1 conv C -> sigmoid."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.expand = layers.Conv2D(2 * channels, 1, activation="relu", name="expand")
        self.gate = layers.Conv2D(channels, 1, activation="sigmoid", name="gate")

    def call(self, x):
        return x * self.gate(self.expand(x))


class ParsingFusionBlock(BuildOnCall, layers.Layer):
    """PFB: brings the parsing prior into a feature map at any resolution.

    F + conv1x1([SA(g), CA(g)]), g = conv([ReLU(conv F), ReLU(conv P')]),
    P' the parsing map nearest-resized to F's size.
    """

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.project_feature = _conv(channels, act="relu", name="project_feature")
        self.project_parsing = _conv(channels, act="relu", name="project_parsing")
        self.fuse = _conv(channels, name="fuse")
        self.spatial = SpatialGate(channels, name="spatial")
        self.channel = PooledChannelGate(channels, name="channel")
        self.merge = _conv(channels, k=1, name="merge")

    def call(self, x, parsing):
        p = tf.image.resize(parsing, tf.shape(x)[1:3], method="nearest")
        g = self.fuse(ops.concatenate([self.project_feature(x), self.project_parsing(p)], axis=-1))
        return x + self.merge(ops.concatenate([self.spatial(g), self.channel(g)], axis=-1))


class ResBlock(BuildOnCall, layers.Layer):
    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.conv1 = _conv(channels, act="relu", name="conv1")
        self.conv2 = _conv(channels, name="conv2")

    def call(self, x):
        return x + self.conv2(self.conv1(x))


class FeatureFusionBlock(BuildOnCall, layers.Layer):
    """FFB: error feedback from the retained same-resolution encoder feature.

    F + CA(F + RB(RB(F - F_enc))) (FishFSRNet's Refine, then its ChannelGate);
    `outer_residual=False` drops the leading "F +".
    """

    def __init__(self, channels, outer_residual=True, **kwargs):
        super().__init__(**kwargs)
        self.outer_residual = outer_residual
        self.project = [ResBlock(channels, name="project_1"), ResBlock(channels, name="project_2")]
        self.channel = PooledChannelGate(channels, name="channel")

    def call(self, x, encoder_feature):
        d = x - encoder_feature
        for block in self.project:
            d = block(d)
        y = self.channel(x + d)
        return x + y if self.outer_residual else y

    def get_config(self):
        return {**super().get_config(), "outer_residual": self.outer_residual}


class DownBlock(BuildOnCall, layers.Layer):
    """Inverse pixel-shuffle x2, then 3x3 conv 4C -> C."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.conv = _conv(channels, name="conv")

    def call(self, x):
        return self.conv(tf.nn.space_to_depth(x, 2))


class UpBlock(BuildOnCall, layers.Layer):
    """3x3 conv C -> 4C, then pixel-shuffle x2."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        self.conv = _conv(4 * channels, name="conv")

    def call(self, x):
        return tf.nn.depth_to_space(self.conv(x), 2)


class FaceSRNet(BuildOnCall, keras.Model):
    """The shared skeleton. Called on the bicubic-upsampled LR ([0, 1]) and,
    for teachers, the encoded parsing map; returns {"sr", "features"} with
    the nine stage outputs (64, 32, 16, 8, 8, 16, 32, 64, 128 for 128 input).

    stage: "rcag" (a residual channel-attention group of `blocks` RCABs) or
    "pfb" (`blocks` parsing-map fusion blocks). parsing_channels: 0 for an
    LR-only network; head_parsing: the head also sees the parsing map
    (KDFSRNet's 6-channel input). ffb: a feature fusion block opens each
    decoder stage.
    """

    def __init__(self, stage="rcag", blocks=STUDENT_BLOCKS, parsing_channels=0, head_parsing=False, ffb=False,
                 ffb_outer_residual=True, n_feats=N_FEATS, reduction=16, **kwargs):
        super().__init__(**kwargs)
        if stage not in ("rcag", "pfb"):
            raise ValueError(f"stage must be 'rcag' or 'pfb', got {stage!r}")
        if (stage == "pfb" or head_parsing) and not parsing_channels:
            raise ValueError("a parsing-guided network needs parsing_channels > 0")
        self.config_ = dict(stage=stage, blocks=blocks, parsing_channels=parsing_channels,
                            head_parsing=head_parsing, ffb=ffb, ffb_outer_residual=ffb_outer_residual,
                            n_feats=n_feats, reduction=reduction)
        c = n_feats
        self.head = _conv(c, name="head")
        self.down = [DownBlock(c, name=f"down{i + 1}") for i in range(DOWN)]
        self.up = [UpBlock(c, name=f"up{i + 1}") for i in range(DOWN)]
        self.stages = []
        for s in range(STAGES):
            if stage == "rcag":
                self.stages.append([RCAB(c, reduction, name=f"stage{s + 1}_rcab{b + 1}") for b in range(blocks)])
            else:
                self.stages.append([ParsingFusionBlock(c, name=f"stage{s + 1}_pfb{b + 1}") for b in range(blocks)])
        self.fusion = [FeatureFusionBlock(c, ffb_outer_residual, name=f"ffb{i + 1}") for i in range(DOWN)] if ffb else []
        self.tail = _conv(3, name="tail")

    @property
    def needs_parsing(self):
        return bool(self.config_["parsing_channels"])

    def _stage(self, s, x, parsing):
        for block in self.stages[s]:
            x = block(x, parsing) if isinstance(block, ParsingFusionBlock) else block(x)
        return x

    def call(self, lr_up, parsing=None, training=False):
        if self.needs_parsing and parsing is None:
            raise ValueError("this network is parsing-guided: call it with (lr_up, parsing)")
        x = self.head(ops.concatenate([lr_up, parsing], -1) if self.config_["head_parsing"] else lr_up)
        encoder = [x]                    # same-resolution partners of the decoder stages
        features = []
        for i in range(DOWN):
            x = self._stage(i, self.down[i](x), parsing)
            features.append(x)
            encoder.append(x)
        x = self._stage(DOWN, x, parsing)
        features.append(x)
        for i in range(DOWN):
            x = self.up[i](x)
            if self.fusion:
                x = self.fusion[i](x, encoder[DOWN - 1 - i])
            x = self._stage(DOWN + 1 + i, x, parsing)
            features.append(x)
        return {"sr": self.tail(x), "features": features}

    def get_config(self):
        return {**super().get_config(), **self.config_}


def Student(ffb=False, blocks=STUDENT_BLOCKS, n_feats=N_FEATS, **kwargs):
    """The KDFSRNet / PKDN student: LR only, 9 groups of 6 RCABs (5,203,995 parameters)."""
    return FaceSRNet("rcag", blocks, ffb=ffb, n_feats=n_feats, **kwargs)


def KDFSRNetTeacher(parsing_channels=3, blocks=TEACHER_BLOCKS, n_feats=N_FEATS, **kwargs):
    """KDFSRNet's teacher: LR + parsing image at the head, 2 RCABs per group (2,526,027)."""
    return FaceSRNet("rcag", blocks, parsing_channels, head_parsing=True, n_feats=n_feats, **kwargs)


def Teacher(parsing_channels=3, blocks=TEACHER_BLOCKS, pfb=True, ffb=True, ffb_outer_residual=True, head_parsing=True,
            n_feats=N_FEATS, rcag_blocks=STUDENT_BLOCKS, **kwargs):
    """The PKDN teacher. pfb=False is the Table 2 ablation (each PFB stack
    replaced by the student's RCAG of `rcag_blocks` RCABs); ffb=False drops
    the decoder's feature fusion blocks."""
    if pfb:
        return FaceSRNet("pfb", blocks, parsing_channels, head_parsing, ffb, ffb_outer_residual, n_feats, **kwargs)
    return FaceSRNet("rcag", rcag_blocks, parsing_channels, True, ffb, ffb_outer_residual, n_feats, **kwargs)




def torch_default_init(model, seed=0):
    """PyTorch's default initialisation of every conv and dense layer, as KDFSRNet trains from.

    nn.Conv2d / nn.Linear draw the kernel from Kaiming-uniform with a = sqrt(5)
    and the bias from the same range: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
    """
    rng = np.random.default_rng(seed)
    for layer in model._flatten_layers(include_self=False, recursive=True):
        if isinstance(layer, (layers.Conv2D, layers.Dense)):
            bound = 1.0 / np.sqrt(np.prod(layer.kernel.shape[:-1]))
            layer.kernel.assign(rng.uniform(-bound, bound, layer.kernel.shape).astype("float32"))
            if layer.use_bias:
                layer.bias.assign(rng.uniform(-bound, bound, layer.bias.shape).astype("float32"))
    return model


def build(model, hr_size=16, weight_init="keras", seed=0):
    """Creates the weights by calling the model once on zeros, by default at the smallest size it
    takes: the weights do not depend on it, and a full-width Student's eager call at 128x128 costs
    about a second.

    weight_init: "keras" (Glorot-uniform kernels, zero biases) or "torch"
    (PyTorch's defaults, torch_default_init).
    """
    if weight_init not in WEIGHT_INITS:
        raise ValueError(f"weight_init must be one of {WEIGHT_INITS}, got {weight_init!r}")
    lr = ops.zeros((1, hr_size, hr_size, 3))
    parsing = ops.zeros((1, hr_size, hr_size, model.config_["parsing_channels"])) if model.needs_parsing else None
    model(lr, parsing)
    return torch_default_init(model, seed) if weight_init == "torch" else model


def pad_edge(x, multiple):
    """Replicates the last row/column up to a multiple of `multiple` (any size, even 1 pixel)."""
    h, w = tf.shape(x)[1], tf.shape(x)[2]
    rows = tf.minimum(tf.range(-(-h // multiple) * multiple), h - 1)
    cols = tf.minimum(tf.range(-(-w // multiple) * multiple), w - 1)
    return tf.gather(tf.gather(x, rows, axis=1), cols, axis=2)


def super_resolve(model, images, scale=8):
    """LR [0, 255] of any size -> SR [0, 255]: bicubic pre-upsampling and padding to a multiple of
    16 (the four halvings) happen here and are cropped away after."""
    h, w = tf.shape(images)[1] * scale, tf.shape(images)[2] * scale
    up = tf.clip_by_value(tf.image.resize(images, [h, w], "bicubic"), 0.0, 255.0) / 255.0
    return model(pad_edge(up, 2 ** DOWN), training=False)["sr"][:, :h, :w] * 255.0

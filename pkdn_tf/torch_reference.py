"""KDFSRNet in PyTorch with the official module names and registration order.

The layers follow the layer description (paper-details §2.4); the names and
the order in which modules are registered follow the checkpoints the
authors' code saves (shared/spec/kdfsrnet_state_dicts): `sub_mean` and
`add_mean` first (student only, never used by the forward pass), then
down1, down_stage1, ..., up_stage4, and `head` and `tail` last. scheme
"net" names the down/up convs `down1.1` / `up1.0` (model/net.py, the CelebA
and Helen checkpoints), "net1" names them `down1.conv` / `up1.conv` (the
FFHQ checkpoints).

Two users: the converter's tests (a random checkpoint in the real layout
whose outputs the Keras model must reproduce) and the benchmark (the same
distillation step in PyTorch's eager mode, the way the official code
trains). Needs PyTorch (`pip install -e '.[torch]'`).
"""

import torch
from torch import nn

RGB_MEAN = (0.4488, 0.4371, 0.4040)   # MeanShift's DIV2K mean, stored in every student checkpoint


class MeanShift(nn.Conv2d):
    """A frozen 1x1 conv adding sign * mean; stored by the student, unused by its forward pass."""

    def __init__(self, sign=-1, rgb_range=1.0):
        super().__init__(3, 3, 1)
        self.weight.data = torch.eye(3).view(3, 3, 1, 1)
        self.bias.data = sign * rgb_range * torch.tensor(RGB_MEAN)
        for p in self.parameters():
            p.requires_grad = False


class CALayer(nn.Module):
    def __init__(self, c, reduction):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        hidden = max(1, c // reduction)     # as pkdn_tf.models.ChannelAttention, for narrow test widths
        self.conv_du = nn.Sequential(nn.Conv2d(c, hidden, 1), nn.ReLU(True), nn.Conv2d(hidden, c, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.conv_du(self.avg_pool(x))


class RCAB(nn.Module):
    def __init__(self, c, reduction):
        super().__init__()
        self.body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1), nn.ReLU(True), nn.Conv2d(c, c, 3, padding=1),
                                  CALayer(c, reduction))

    def forward(self, x):
        return x + self.body(x)


class _Resample(nn.Module):
    """net1.py's down/up modules: the conv is named `conv`."""

    def __init__(self, conv, shuffle, conv_first):
        super().__init__()
        self.conv, self.shuffle, self.conv_first = conv, shuffle, conv_first

    def forward(self, x):
        return self.shuffle(self.conv(x)) if self.conv_first else self.conv(self.shuffle(x))


def _down(c, scheme):
    conv = nn.Conv2d(4 * c, c, 3, padding=1)
    return nn.Sequential(nn.PixelUnshuffle(2), conv) if scheme == "net" else _Resample(conv, nn.PixelUnshuffle(2), False)


def _up(c, scheme):
    conv = nn.Conv2d(c, 4 * c, 3, padding=1)
    return nn.Sequential(conv, nn.PixelShuffle(2)) if scheme == "net" else _Resample(conv, nn.PixelShuffle(2), True)


class KDFSRNet(nn.Module):
    """in_ch 3: the student (LR only); 6: the teacher `Teacherp` (LR + parsing image).
    forward returns (sr, the nine group outputs)."""

    def __init__(self, in_ch=3, c=64, blocks=6, reduction=16, scheme="net"):
        super().__init__()
        if scheme not in ("net", "net1"):
            raise ValueError(f"scheme must be 'net' or 'net1', got {scheme!r}")
        if in_ch == 3:                       # registered first, as in the official Student
            self.sub_mean = MeanShift(-1)
            self.add_mean = MeanShift(+1)

        def group():
            return nn.Sequential(*[RCAB(c, reduction) for _ in range(blocks)])
        for i in range(1, 5):
            setattr(self, f"down{i}", _down(c, scheme))
            setattr(self, f"down_stage{i}", group())
        self.bottleneck = group()
        for i in range(1, 5):
            setattr(self, f"up{i}", _up(c, scheme))
            setattr(self, f"up_stage{i}", group())
        self.head = nn.Sequential(nn.Conv2d(in_ch, c, 3, padding=1))     # registered last, as in the official code
        self.tail = nn.Sequential(nn.Conv2d(c, 3, 3, padding=1))

    def forward(self, x):
        x = self.head(x)
        features = []
        for i in range(1, 5):
            x = getattr(self, f"down_stage{i}")(getattr(self, f"down{i}")(x))
            features.append(x)
        x = self.bottleneck(x)
        features.append(x)
        for i in range(1, 5):
            x = getattr(self, f"up_stage{i}")(getattr(self, f"up{i}")(x))
            features.append(x)
        return self.tail(x), features


def distillation_step(student, teacher, optimizer, lr_up, parsing, hr, lambda_ts=0.1, lambda_fs=10.0):
    """One KDFSRNet student step (train_student.py's losses); NCHW tensors in [0, 1]."""
    with torch.no_grad():
        t_sr, t_features = teacher(torch.cat([lr_up, parsing], 1))
    sr, features = student(lr_up)
    l1 = nn.functional.l1_loss
    loss = (l1(sr, hr) + lambda_ts * l1(sr, t_sr)
            + lambda_fs * sum(l1(s, t) for s, t in zip(features, t_features)) / len(features))
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return loss.detach()

"""KDFSRNet in PyTorch, written from the layer description (paper-details §2.4),
not from the authors' code.

Two users: the converter's tests (a random checkpoint whose outputs the Keras
model must reproduce) and the benchmark (the same distillation step in
PyTorch's eager mode, the way the official code trains). Needs PyTorch
(`pip install -e '.[torch]'`).
"""

import torch
from torch import nn


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


class KDFSRNet(nn.Module):
    """in_ch 3: the student (LR only); 6: the teacher (LR + parsing image).
    forward returns (sr, the nine group outputs)."""

    def __init__(self, in_ch=3, c=64, blocks=6, reduction=16):
        super().__init__()
        self.head = nn.Conv2d(in_ch, c, 3, padding=1)

        def group():
            return nn.Sequential(*[RCAB(c, reduction) for _ in range(blocks)])
        self.encoder = nn.ModuleList()
        for _ in range(4):
            self.encoder.append(nn.Sequential(nn.PixelUnshuffle(2), nn.Conv2d(4 * c, c, 3, padding=1)))
            self.encoder.append(group())
        self.bottleneck = group()
        self.decoder = nn.ModuleList()
        for _ in range(4):
            self.decoder.append(nn.Sequential(nn.Conv2d(c, 4 * c, 3, padding=1), nn.PixelShuffle(2)))
            self.decoder.append(group())
        self.tail = nn.Conv2d(c, 3, 3, padding=1)

    def forward(self, x):
        x = self.head(x)
        features = []
        for i, m in enumerate(self.encoder):
            x = m(x)
            if i % 2:
                features.append(x)
        x = self.bottleneck(x)
        features.append(x)
        for i, m in enumerate(self.decoder):
            x = m(x)
            if i % 2:
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

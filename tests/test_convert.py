"""KDFSRNet checkpoints load into the Keras student / teacher with equal outputs."""

import sys

import numpy as np
import pytest

from isr_kd_tf.errors import UserError
from pkdn_tf import convert

torch = pytest.importorskip("torch")
nn = torch.nn


class CALayer(nn.Module):
    def __init__(self, c, reduction):
        super().__init__()
        self.avg_pool = nn.AdaptiveAvgPool2d(1)
        self.conv_du = nn.Sequential(nn.Conv2d(c, c // reduction, 1), nn.ReLU(True),
                                     nn.Conv2d(c // reduction, c, 1), nn.Sigmoid())

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
    """Written from the layer description (paper-details §2.4), not from the authors' code."""

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
        for m in self.encoder:
            x = m(x)
        x = self.bottleneck(x)
        for m in self.decoder:
            x = m(x)
        return self.tail(x)


@pytest.mark.parametrize("which, in_ch, c, blocks", [("student", 3, 16, 2), ("teacher", 6, 32, 1)])
def test_a_random_kdfsrnet_converts_with_equal_outputs(tmp_path, which, in_ch, c, blocks):
    torch.manual_seed(0)
    net = KDFSRNet(in_ch, c, blocks).eval()
    with torch.no_grad():              # non-trivial biases everywhere, so a bias mix-up shows
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path / "net.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, path)
    model = convert.load_kdfsrnet(str(path), which)
    assert model.count_params() == sum(p.numel() for p in net.parameters())
    x = np.random.default_rng(0).random((2, 32, 48, in_ch)).astype("float32")
    with torch.no_grad():
        want = net(torch.from_numpy(x.transpose(0, 3, 1, 2))).numpy().transpose(0, 2, 3, 1)
    args = (x,) if which == "student" else (x[..., :3], x[..., 3:])
    got = model(*args)["sr"].numpy()
    np.testing.assert_allclose(got, want, atol=1e-4)


def test_full_size_student_checkpoint_gives_the_exact_parameter_count(tmp_path):
    path = tmp_path / "student.pth"
    torch.save(KDFSRNet().state_dict(), path)
    assert convert.load_kdfsrnet(str(path), "student").count_params() == 5_203_995


def test_wrong_or_missing_checkpoints_say_what_is_wrong(tmp_path, monkeypatch):
    path = tmp_path / "student.pth"
    torch.save(KDFSRNet(c=8, blocks=1, reduction=4).state_dict(), path)
    with pytest.raises(UserError, match="3-channel head"):
        convert.load_kdfsrnet(str(path), "teacher")
    with pytest.raises(UserError, match="no such file"):
        convert.load_kdfsrnet(str(tmp_path / "nope.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a readable PyTorch checkpoint"):
        convert.load_kdfsrnet(str(tmp_path / "junk.pth"))
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UserError, match="needs PyTorch"):
        convert.load_kdfsrnet(str(path))

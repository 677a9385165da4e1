"""KDFSRNet checkpoints load into the Keras student / teacher with equal outputs.

The facts of the official format (names, shapes, storage order) come from
shared/spec/kdfsrnet_state_dicts, not from our own reading of the layers.
"""

import os
import sys

import numpy as np
import pytest

from isr_kd_tf.errors import UserError
from pkdn_tf import convert
from tests.conftest import ROOT

torch = pytest.importorskip("torch")
from pkdn_tf.torch_reference import KDFSRNet  # noqa: E402


SPEC = os.path.join(ROOT, "..", "shared", "spec",
                    "kdfsrnet_state_dicts")
LISTINGS = {"net_Student.txt": ("student", "net"), "net1_Student.txt": ("student", "net1"),
            "net_Teacherp.txt": ("teacher", "net"), "net1_Teacherp.txt": ("teacher", "net1")}


def _listing(name):
    """[(entry name, shape)] in the order the official checkpoint stores them."""
    with open(os.path.join(SPEC, name)) as f:
        rows = [line.split("\t") for line in f.read().splitlines() if line and not line.startswith("#")]
    return [(n, tuple(int(d) for d in shape.strip("()").split(",") if d.strip())) for n, shape in rows]


needs_spec = pytest.mark.skipif(not os.path.isdir(SPEC), reason="shared/spec is not beside the checkout")


@needs_spec
@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_the_reference_registers_the_official_names_shapes_and_order(listing):
    which, scheme = LISTINGS[listing]
    net = KDFSRNet(3 if which == "student" else 6, blocks=6 if which == "student" else 2, scheme=scheme)
    assert [(k, tuple(v.shape)) for k, v in net.state_dict().items()] == _listing(listing)


@needs_spec
@pytest.mark.parametrize("listing", sorted(LISTINGS))
def test_a_checkpoint_laid_out_as_the_official_listing_converts(tmp_path, listing):
    """Every entry of the listing, random values, in the listed order: all used but the MeanShift pair."""
    which, _ = LISTINGS[listing]
    rng = np.random.default_rng(0)
    state = {name: torch.from_numpy(rng.standard_normal(shape).astype("float32") * 0.01)
             for name, shape in _listing(listing)}
    torch.save(state, tmp_path / "official.pth")
    model = convert.load_kdfsrnet(str(tmp_path / "official.pth"), which)
    assert model.count_params() == (5_203_995 if which == "student" else 2_526_027)
    expected = convert.official_names(model)
    listed = {n.rsplit(".", 1)[0] for n in convert.normalise_names(dict(_listing(listing)))}
    assert set(expected) == listed - set(convert.UNUSED)
    np.testing.assert_array_equal(model.tail.get_weights()[1], state["tail.0.bias"].numpy())


@pytest.mark.parametrize("which, in_ch, c, blocks, scheme", [("student", 3, 16, 2, "net"), ("student", 3, 16, 2, "net1"),
                                                             ("teacher", 6, 32, 1, "net"), ("teacher", 6, 32, 1, "net1")])
def test_a_random_kdfsrnet_converts_with_equal_outputs(tmp_path, which, in_ch, c, blocks, scheme):
    torch.manual_seed(0)
    net = KDFSRNet(in_ch, c, blocks, scheme=scheme).eval()
    with torch.no_grad():              # non-trivial biases everywhere, so a bias mix-up shows
        for p in net.parameters():
            p.add_(torch.randn_like(p) * 0.05)
    path = tmp_path / "net.pth"
    torch.save({"state_dict": {"module." + k: v for k, v in net.state_dict().items()}}, path)
    model = convert.load_kdfsrnet(str(path), which)
    assert model.count_params() == sum(p.numel() for p in net.parameters() if p.requires_grad)
    x = np.random.default_rng(0).random((2, 32, 48, in_ch)).astype("float32")
    with torch.no_grad():
        want, want_features = net(torch.from_numpy(x.transpose(0, 3, 1, 2)))
    want = want.numpy().transpose(0, 2, 3, 1)
    args = (x,) if which == "student" else (x[..., :3], x[..., 3:])
    got = model(*args)
    np.testing.assert_allclose(got["sr"].numpy(), want, atol=1e-4)
    for k, (g, w) in enumerate(zip(got["features"], want_features)):   # the nine distillation taps
        np.testing.assert_allclose(g.numpy(), w.numpy().transpose(0, 2, 3, 1), atol=1e-4, err_msg=f"tap {k}")


def test_full_size_student_checkpoint_gives_the_exact_parameter_count(tmp_path):
    path = tmp_path / "student.pth"
    torch.save(KDFSRNet().state_dict(), path)
    assert convert.load_kdfsrnet(str(path), "student").count_params() == 5_203_995


def test_wrong_or_missing_checkpoints_say_what_is_wrong(tmp_path, monkeypatch):
    path = tmp_path / "student.pth"
    torch.save(KDFSRNet(c=8, blocks=1, reduction=4).state_dict(), path)
    with pytest.raises(UserError, match="3-channel head"):
        convert.load_kdfsrnet(str(path), "teacher")
    state = KDFSRNet(c=8, blocks=1, reduction=4).state_dict()
    del state["up_stage2.0.body.2.bias"]
    torch.save(state, tmp_path / "cut.pth")
    with pytest.raises(UserError, match="missing up_stage2.0.body.2.bias"):
        convert.load_kdfsrnet(str(tmp_path / "cut.pth"))
    with pytest.raises(UserError, match="no such file"):
        convert.load_kdfsrnet(str(tmp_path / "nope.pth"))
    (tmp_path / "junk.pth").write_bytes(b"not a checkpoint")
    with pytest.raises(UserError, match="not a readable PyTorch checkpoint"):
        convert.load_kdfsrnet(str(tmp_path / "junk.pth"))
    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(UserError, match="needs PyTorch"):
        convert.load_kdfsrnet(str(path))


def test_the_distillation_loss_equals_kdfsrnets_on_the_same_weights_and_batch(tmp_path):
    from pkdn_tf.trainer import PKDNTrainer
    from pkdn_tf.torch_reference import distillation_step
    from isr_kd_tf.optim import FusedAdam

    torch.manual_seed(1)
    nets = {"student": KDFSRNet(3, 8, 1, reduction=4), "teacher": KDFSRNet(6, 8, 1, reduction=4).eval()}
    keras_nets = {}
    for which, net in nets.items():
        torch.save(net.state_dict(), tmp_path / f"{which}.pth")
        keras_nets[which] = convert.load_kdfsrnet(str(tmp_path / f"{which}.pth"), which)
    rng = np.random.default_rng(0)
    hr, lr_up, parsing = (rng.random((2, 32, 32, 3)).astype("float32") for _ in range(3))
    trainer = PKDNTrainer(keras_nets["student"], keras_nets["teacher"], lambda_ts=0.1, lambda_fs=10.0,
                          steps_per_epoch=10 ** 6)
    trainer.compile(optimizer=FusedAdam(1e-4, beta_2=0.99))
    got = trainer.train_step({"hr": hr * 255, "lr_up": lr_up * 255, "parsing_input": parsing})

    def nchw(a):
        return torch.from_numpy(a.transpose(0, 3, 1, 2).copy())
    optimizer = torch.optim.Adam(nets["student"].parameters(), 1e-4, betas=(0.9, 0.99))
    want = distillation_step(nets["student"], nets["teacher"], optimizer, nchw(lr_up), nchw(parsing), nchw(hr))
    assert float(got["lambda_fs"]) == 10.0
    np.testing.assert_allclose(float(got["loss"]), float(want), rtol=1e-5)

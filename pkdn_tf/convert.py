"""KDFSRNet PyTorch checkpoints -> Keras: PKDN's student has KDFSRNet's layers.

    python -m pkdn_tf.convert --pth=student.pth --which=student --output=student.weights.h5

Parameters are matched by their official names (model/net.py's `down1.1`,
`up1.0` or model/net1.py's `down1.conv`, `up1.conv`; `head.0`, `tail.0`,
`down_stage1.0.body.0`, ...), never by position: the official checkpoints
store head and tail last, and the student's two MeanShift convs
(`sub_mean`, `add_mean`), which its forward pass never uses, first. Layouts: OIHW -> HWIO, and the channels around the pixel (un)shuffle move
from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

from PyTorch's c*4 + dy*2 + dx to TF's (dy*2 + dx)*C + c. The width and the
blocks per group are read off the checkpoint. PyTorch is needed only here
(`pip install -e .[torch]`).
"""

import re

import numpy as np
from absl import app, flags

from isr_kd_tf.errors import UserError, run_main
from pkdn_tf import models

WHICH = {"student": 3, "teacher": 6}   # head input channels: LR, or LR + 3-channel parsing image


def _torch():
    try:
        import torch
    except ImportError:
        raise UserError("converting a KDFSRNet checkpoint needs PyTorch: pip install -e '.[torch]'") from None
    return torch


def read_state_dict(path):
    """name -> numpy array, unwrapped from the usual {'state_dict': ...} / 'module.' wrappers."""
    torch = _torch()
    try:
        sd = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserError(f"--pth={path}: no such file") from None
    except Exception as e:  # noqa: BLE001 - torch raises many kinds for a bad file
        raise UserError(f"--pth={path} is not a readable PyTorch checkpoint ({type(e).__name__}: {e})") from None
    for key in ("state_dict", "model", "net", "params"):
        if isinstance(sd, dict) and isinstance(sd.get(key), dict):
            sd = sd[key]
    return {k.removeprefix("module."): v.detach().cpu().numpy() for k, v in sd.items() if hasattr(v, "detach")}


# The two naming schemes of the official code: model/net.py (nn.Sequential) and model/net1.py (modules).
_NET1_TO_NET = ((re.compile(r"^down(\d)\.conv\."), r"down\1.1."), (re.compile(r"^up(\d)\.conv\."), r"up\1.0."))
UNUSED = ("sub_mean", "add_mean")   # the student's MeanShift convs: stored, never used by the forward pass
_GROUPS = [f"down_stage{i + 1}" for i in range(models.DOWN)] + ["bottleneck"] + [
    f"up_stage{i + 1}" for i in range(models.DOWN)]


def official_names(model):
    """{official conv name (net.py scheme, without .weight/.bias): (Keras conv layer, kind)}.

    kind: plain | down | up (the convs before a pixel unshuffle / after a pixel shuffle).
    """
    out = {"head.0": (model.head, "plain"), "tail.0": (model.tail, "plain")}
    for i in range(models.DOWN):
        out[f"down{i + 1}.1"] = (model.down[i].conv, "down")
        out[f"up{i + 1}.0"] = (model.up[i].conv, "up")
    for group, blocks in zip(_GROUPS, model.stages):
        for b, block in enumerate(blocks):
            if not isinstance(block, models.RCAB):
                raise UserError("only RCAB-group networks (KDFSRNet student / teacher) come from KDFSRNet")
            for suffix, layer in (("body.0", block.conv1), ("body.2", block.conv2),
                                  ("body.3.conv_du.0", block.attention.squeeze),
                                  ("body.3.conv_du.2", block.attention.excite)):
                out[f"{group}.{b}.{suffix}"] = (layer, "plain")
    return out


def normalise_names(state):
    """net1.py names -> net.py names; every other name unchanged."""
    out = {}
    for name, value in state.items():
        for pattern, repl in _NET1_TO_NET:
            name = pattern.sub(repl, name)
        out[name] = value
    return out


def _shuffle_perm(channels):
    """TF channel (dy*2 + dx)*C + c  <-  PyTorch channel c*4 + dy*2 + dx."""
    k, c = np.divmod(np.arange(4 * channels), channels)
    return c * 4 + k


def _layout(state, path, which):
    """(blocks per group, width, reduction) read off the checkpoint's names and shapes."""
    if "head.0.weight" not in state:
        raise UserError(f"{path} has no head.0.weight: it is not a KDFSRNet checkpoint "
                        f"(its first entries: {', '.join(list(state)[:4])})")
    n_feats, in_ch = state["head.0.weight"].shape[:2]
    if in_ch != WHICH[which]:
        raise UserError(f"{path} has a {in_ch}-channel head: it is not a KDFSRNet {which} "
                        f"(the student reads 3 channels, the teacher 6)")
    blocks = 1 + max((int(m.group(1)) for m in map(re.compile(r"^down_stage1\.(\d+)\.").match, state) if m),
                     default=-1)
    squeeze = state.get("down_stage1.0.body.3.conv_du.0.weight")
    if blocks < 1 or squeeze is None:
        raise UserError(f"{path} has no down_stage1.0 RCAB: it is not a KDFSRNet checkpoint")
    return blocks, n_feats, n_feats // squeeze.shape[0]


def load_kdfsrnet(path, which="student"):
    """The Keras KDFSRNet student or teacher with the weights of a PyTorch checkpoint.

    Entries are matched by their official names (either scheme), never by
    position: the checkpoints store head and tail last.
    """
    if which not in WHICH:
        raise UserError(f"--which={which!r}: use student or teacher")
    state = normalise_names(read_state_dict(path))
    blocks, n_feats, reduction = _layout(state, path, which)
    model = (models.Student(blocks=blocks, n_feats=n_feats, reduction=reduction) if which == "student" else
             models.KDFSRNetTeacher(3, blocks=blocks, n_feats=n_feats, reduction=reduction))
    models.build(model)
    expected = official_names(model)
    wanted = {f"{n}.{p}" for n in expected for p in ("weight", "bias")}
    stored = {k for k in state if not k.startswith(UNUSED)}
    if stored != wanted:
        missing, extra = sorted(wanted - stored), sorted(stored - wanted)
        raise UserError(f"{path} does not hold a KDFSRNet {which} with {blocks} RCABs per group: "
                        + (f"missing {', '.join(missing[:4])}{' ...' if len(missing) > 4 else ''}; " if missing else "")
                        + (f"unexpected {', '.join(extra[:4])}{' ...' if len(extra) > 4 else ''}" if extra else ""))
    for name, (layer, kind) in expected.items():
        w, b = state[name + ".weight"], state[name + ".bias"]
        kernel = w.transpose(2, 3, 1, 0)                     # OIHW -> HWIO
        if kind == "down":
            kernel = kernel[:, :, _shuffle_perm(kernel.shape[2] // 4), :]
        elif kind == "up":
            perm = _shuffle_perm(kernel.shape[3] // 4)
            kernel, b = kernel[..., perm], b[perm]
        if kernel.shape != tuple(layer.kernel.shape):
            raise UserError(f"{path}: {name}.weight has shape {w.shape}, but {layer.name} needs "
                            f"{tuple(layer.kernel.shape)} (HWIO)")
        layer.set_weights([kernel, b])
    return model


FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    model = load_kdfsrnet(FLAGS.pth, FLAGS.which)
    model.save_weights(FLAGS.output)
    print(f"wrote {FLAGS.output}: KDFSRNet {FLAGS.which}, {model.count_params():,} parameters, "
          f"{model.config_['n_feats']} channels, {model.config_['blocks']} RCABs per group")


if __name__ == "__main__":
    flags.DEFINE_string("pth", None, "KDFSRNet PyTorch checkpoint (.pth).", required=True)
    flags.DEFINE_enum("which", "student", list(WHICH), "Which network the checkpoint holds.")
    flags.DEFINE_string("output", None, "Keras weights file to write (*.weights.h5).", required=True)
    app.run(main)

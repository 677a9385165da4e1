"""KDFSRNet PyTorch checkpoints -> Keras: PKDN's student has KDFSRNet's layers.

    python -m pkdn_tf.convert --pth=student.pth --which=student --output=student.weights.h5

Parameters are matched in forward order (head, down1, group 1, ..., up4,
group 9, tail; inside an RCAB: conv, conv, attention squeeze, excite), which
is the order the PyTorch modules register them; every shape is checked.
Layouts: OIHW -> HWIO, and the channels around the pixel (un)shuffle move
from PyTorch's c*4 + dy*2 + dx to TF's (dy*2 + dx)*C + c. The width and the
blocks per group are read off the checkpoint. PyTorch is needed only here
(`pip install -e .[torch]`).
"""

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


def conv_layers(model):
    """The model's convolutions in forward order: (layer, kind) with kind in plain | down | up."""
    out = [(model.head, "plain")]

    def group(s):
        for block in model.stages[s]:
            if not isinstance(block, models.RCAB):
                raise UserError("only RCAB-group networks (KDFSRNet student / teacher) come from KDFSRNet")
            out.extend((layer, "plain") for layer in (block.conv1, block.conv2, block.attention.squeeze,
                                                       block.attention.excite))

    for i in range(models.DOWN):
        out.append((model.down[i].conv, "down"))
        group(i)
    group(models.DOWN)
    for i in range(models.DOWN):
        out.append((model.up[i].conv, "up"))
        group(models.DOWN + 1 + i)
    out.append((model.tail, "plain"))
    return out


def _shuffle_perm(channels):
    """TF channel (dy*2 + dx)*C + c  <-  PyTorch channel c*4 + dy*2 + dx."""
    k, c = np.divmod(np.arange(4 * channels), channels)
    return c * 4 + k


def _pairs(state):
    """(weight, bias) arrays of each conv, in checkpoint order."""
    names = [k for k in state if k.endswith(".weight") and state[k].ndim == 4]
    pairs = []
    for name in names:
        bias = name[:-len("weight")] + "bias"
        if bias not in state:
            raise UserError(f"checkpoint conv {name} has no bias; KDFSRNet's convs all have one")
        pairs.append((name, state[name], state[bias]))
    return pairs


def load_kdfsrnet(path, which="student"):
    """The Keras KDFSRNet student or teacher with the weights of a PyTorch checkpoint."""
    if which not in WHICH:
        raise UserError(f"--which={which!r}: use student or teacher")
    pairs = _pairs(read_state_dict(path))
    if not pairs:
        raise UserError(f"{path} holds no convolution weights")
    n_feats, in_ch = pairs[0][1].shape[:2]
    if in_ch != WHICH[which]:
        raise UserError(f"{path} has a {in_ch}-channel head: it is not a KDFSRNet {which} "
                        f"(the student reads 3 channels, the teacher 6)")
    blocks, rest = divmod(len(pairs) - 2 - 2 * models.DOWN, 4 * models.STAGES)
    if rest or blocks < 1:
        raise UserError(f"{path} has {len(pairs)} convolutions, which no KDFSRNet layout gives")
    reduction = n_feats // pairs[4][1].shape[0]            # head, down1, conv1, conv2, squeeze
    model = (models.Student(blocks=blocks, n_feats=n_feats, reduction=reduction) if which == "student" else
             models.KDFSRNetTeacher(3, blocks=blocks, n_feats=n_feats, reduction=reduction))
    models.build(model, 16)
    layers = conv_layers(model)
    for (layer, kind), (name, w, b) in zip(layers, pairs):
        kernel = w.transpose(2, 3, 1, 0)                     # OIHW -> HWIO
        if kind == "down":
            kernel = kernel[:, :, _shuffle_perm(kernel.shape[2] // 4), :]
        elif kind == "up":
            perm = _shuffle_perm(kernel.shape[3] // 4)
            kernel, b = kernel[..., perm], b[perm]
        expected = tuple(layer.kernel.shape)
        if kernel.shape != expected:
            raise UserError(f"{path}: {name} has shape {w.shape}, but {layer.name} needs {expected} (HWIO); "
                            "the checkpoint's layers are not in KDFSRNet's order")
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

"""Pretrained networks the user supplies: face embeddings (identity loss), face parsing.

Any Keras model (.keras / .h5) or SavedModel folder works; nothing is
downloaded. The paper's "Inception-V1, 512-d" identity network is most
likely FaceNet's Inception-ResNet-v1 (512-d embeddings); the parsing network
is BiSeNet-style (19 classes, 512x512 input).
"""

import os

import keras
import tensorflow as tf

from isr_kd_tf.errors import UserError


class _SavedModelLayer(keras.layers.Layer):
    def __init__(self, path, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self._fn = tf.saved_model.load(path)
        self._call = self._fn.signatures.get("serving_default") if hasattr(self._fn, "signatures") else None

    def call(self, x):
        if callable(self._fn):
            return self._fn(x)
        out = self._call(x)
        return next(iter(out.values()))


def load_network(path, flag):
    """A frozen network from a .keras/.h5 file or a SavedModel folder; `flag` names it in errors."""
    if not os.path.exists(path):
        raise UserError(f"{flag}={path} does not exist; give a .keras file or a SavedModel folder")
    if path.endswith((".keras", ".h5")):
        try:
            model = keras.saving.load_model(path, compile=False)
        except Exception as e:  # noqa: BLE001 - Keras raises many kinds for a bad file
            raise UserError(f"{flag}={path} is not a loadable Keras model ({type(e).__name__}: {e})") from None
    elif os.path.isdir(path):
        model = _SavedModelLayer(path)
    else:
        raise UserError(f"{flag}={path}: expected a .keras file or a SavedModel folder")
    model.trainable = False
    return model


def load_identity_net(path):
    """Face embeddings [B, D] from [0, 255] RGB faces."""
    return load_network(path, "--identity_net")

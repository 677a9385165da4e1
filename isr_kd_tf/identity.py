"""Face-embedding networks for the identity loss (pluggable).

The paper's "Inception-V1, 512-d" is most likely FaceNet's
Inception-ResNet-v1 (512-d embeddings). Any Keras model (.keras) or
SavedModel mapping [0, 255] RGB images to embeddings [B, D] works; nothing
is downloaded.
"""

import os

import keras
import tensorflow as tf

from isr_kd_tf.errors import UserError


class _SavedModelEmbedding(keras.layers.Layer):
    def __init__(self, path, **kwargs):
        super().__init__(trainable=False, **kwargs)
        self._fn = tf.saved_model.load(path)
        self._call = self._fn.signatures.get("serving_default") if hasattr(self._fn, "signatures") else None

    def call(self, x):
        if callable(self._fn):
            return self._fn(x)
        out = self._call(x)
        return next(iter(out.values()))


def load_identity_net(path):
    """A frozen embedding network from a .keras file or a SavedModel folder."""
    if not os.path.exists(path):
        raise UserError(f"--identity_net={path} does not exist; give a .keras file or a SavedModel folder")
    if path.endswith(".keras") or path.endswith(".h5"):
        model = keras.saving.load_model(path, compile=False)
    elif os.path.isdir(path):
        model = _SavedModelEmbedding(path)
    else:
        raise UserError(f"--identity_net={path}: expected a .keras file or a SavedModel folder")
    model.trainable = False
    return model

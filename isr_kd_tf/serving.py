"""A trained network as a function LR -> SR, whatever the method's input convention: what export
saves, what evaluation scores and what infer runs (a method's `serve` inside)."""

import tensorflow as tf


class SuperResolver(tf.Module):
    """LR [0, 255] -> SR [0, 255], whatever the model's own input convention (the method's `serve`)."""

    def __init__(self, settings, model):
        super().__init__()
        self.settings = settings
        self.model = model

    # autograph=False everywhere here: a method's serve is plain TensorFlow; converting it gained nothing
    # and, in a process that had traced other methods' functions, autograph's cache handed back the wrong one
    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.float32)], autograph=False)
    def sr_float(self, images):
        return {"sr": self.settings.method.serve(self.settings, self.model, images)}

    def on_batch(self, batch):
        """A predictor for evaluation: finished batch -> SR (keeps the module alive)."""
        return self.sr_float(batch["lr"])["sr"]

    @tf.function(input_signature=[tf.TensorSpec([None, None, None, 3], tf.uint8)], autograph=False)
    def serving(self, images):
        sr = self.sr_float(tf.cast(images, tf.float32))["sr"]
        return {"sr": tf.cast(tf.round(tf.clip_by_value(sr, 0.0, 255.0)), tf.uint8)}


ENSEMBLES = (1, 2, 8)


def self_ensemble(sr_fn, transforms=8):
    """sr_fn averaged over flips (2) or all eight rotations and flips (8) of its input, each output turned back
    (Lim et al. 2017's "+" models): a network's errors that depend on orientation partly cancel, for
    `transforms` times the cost. 1 returns sr_fn itself."""
    if transforms not in ENSEMBLES:
        raise ValueError(f"self-ensemble of {transforms} transforms: choose one of {ENSEMBLES}")
    if transforms == 1:
        return sr_fn
    turns = range(4) if transforms == 8 else range(1)

    def ensembled(images):
        images = tf.convert_to_tensor(images, tf.float32)
        outputs = []
        for k in turns:
            for flip in (False, True):
                x = tf.image.rot90(images, k)
                x = tf.reverse(x, [2]) if flip else x
                y = sr_fn(x)["sr"]
                y = tf.reverse(y, [2]) if flip else y
                outputs.append(tf.image.rot90(y, -k))
        return {"sr": tf.add_n(outputs) / len(outputs)}
    return ensembled

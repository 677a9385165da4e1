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

"""The README's example method: an x8 network (bilinear upsampling plus a residual of two convs)
trained with L1, in about 70 lines. It uses only the plug-ins' API (isr_kd_tf.methods and the core's
tools; never a command), and the CLI finds it as `--method=tests.plain_l1`."""

import dataclasses

import keras
import tensorflow as tf

from isr_kd_tf import data, layout, methods, trainer
from isr_kd_tf.config import setting
from isr_kd_tf.losses import masked_mean, per_sample_l1


@dataclasses.dataclass
class PlainL1Config:
    plain_channels: int = setting(8, "Channels of the plain L1 network's hidden conv.")


class PlainSR(keras.Model):
    """LR [0, 255] -> bilinear x scale + a learned residual."""

    def __init__(self, channels, scale, **kwargs):
        super().__init__(**kwargs)
        self.scale = scale
        self.hidden = keras.layers.Conv2D(channels, 3, padding="same", activation="relu")
        self.out = keras.layers.Conv2D(3, 3, padding="same")

    def call(self, lr):
        up = tf.image.resize(lr, tf.shape(lr)[1:3] * self.scale, "bilinear")
        return up + self.out(self.hidden(up / 255.0))


class L1Trainer(trainer.Trainer):
    """The loop's trainer contract: step(batch, masks) -> {term: value}, written as for one device;
    masked_mean over the core's mask makes it exact on any number of replicas and workers."""

    def __init__(self, model, **kwargs):
        super().__init__(**kwargs)
        self.model = model

    def step(self, batch, masks):
        with tf.GradientTape() as tape:
            loss = masked_mean(per_sample_l1(self.model(batch["lr"]), batch["hr"]), masks[trainer.ALL])
        variables = self.model.trainable_variables
        self.optimizer.apply_gradients(zip(tape.gradient(loss, variables), variables))
        return {"loss": loss}


class PlainL1(methods.Method):
    name = "plain_l1"
    config = PlainL1Config
    stages = ("train",)
    row_names = {"train": "plain_l1"}
    export_order = ("train",)

    def test_sets(self, s):
        return [("faces", data.SOURCE, s.run.source_data)]

    def domains(self, s, stage):
        return [data.DomainSpec(s.run.source_data, data.SOURCE)]

    def build(self, s, stage):
        model = PlainSR(s.paper.plain_channels, s.run.scale)
        model(tf.zeros((1, 4, 4, 3)))
        return model

    def load(self, s, stage, path):
        model = self.build(s, stage)
        model.load_weights(layout.find_weights(path, stage))
        return model

    def training(self, s, stage):
        model = self.build(s, stage.name)
        l1 = L1Trainer(model)
        l1.compile(optimizer=stage.optimizer(model.trainable_variables))
        return methods.Training(l1, model, {"optimizer": l1.optimizer})

    def predictor(self, s, model):
        return lambda batch: model(batch["lr"])

    def serve(self, s, model, images):
        return model(images)


METHOD = methods.register(PlainL1())

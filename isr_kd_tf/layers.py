"""Layers made of layers, built by their first real call.

Without a `build` of its own, a Keras 3 layer is first traced symbolically
to create its weights, and each nesting level traces its children again:
seconds per model here. Sublayers build themselves on their first call, so
the composite only has to say it is built.
"""


class BuildOnCall:
    """Mixin for keras.layers.Layer / keras.Model subclasses that own sublayers."""

    def build(self, input_shape=None):
        pass


def scaled(channels, width):
    """A paper's channel count at a width multiplier (at least one channel)."""
    return max(1, int(round(channels * width)))

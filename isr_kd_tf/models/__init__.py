"""ISR-KD networks."""

from isr_kd_tf.models.discriminator import Discriminator, build_discriminator
from isr_kd_tf.models.generator import EdgeBlock, Generator, build_generator

__all__ = ["Discriminator", "build_discriminator", "EdgeBlock", "Generator", "build_generator"]

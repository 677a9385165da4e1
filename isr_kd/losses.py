"""ISR-KD losses, each a plain function of tensors and a per-sample mask.

Routing follows the official code: target (cartoon) samples get the task
losses, source (real-face) samples only the distillation losses. Every loss
averages over the samples its mask selects and is exactly zero, never NaN,
when the mask selects none.
"""

import tensorflow as tf

from isr_kd_tf.losses import masked_mean

# Colour transforms as plain lists: a tensor made at import would start TensorFlow's runtime
# before a multi-worker cluster can be joined (isr_kd_tf/cluster.py).
# TF's rgb_to_yuv (the official code's "YCbCr"): rows Y, U, V over (R, G, B).
YUV = [[0.299, 0.587, 0.114],
       [-0.14714119, -0.28886916, 0.43601035],
       [0.61497538, -0.51496512, -0.10001026]]
# BT.601 YCbCr on [0, 255] (offsets cancel in differences); divided by 255 where used.
YCBCR_255 = [[65.481, 128.553, 24.966],
             [-37.797, -74.203, 112.0],
             [112.0, -93.786, -18.214]]


def _per_sample_mse(a, b):
    d = tf.cast(a, tf.float32) - tf.cast(b, tf.float32)
    return tf.reduce_mean(tf.square(d), axis=tf.range(1, tf.rank(d)))


def reconstruction_loss(sr, hr, mask):
    return masked_mean(_per_sample_mse(sr, hr), mask)


def edge_loss(pred_edges, target_edges, mask):
    """MSE against Canny targets, summed over the scales (0-255 range)."""
    return tf.add_n([masked_mean(_per_sample_mse(p, t), mask) for p, t in zip(pred_edges, target_edges)])


def luminance_chrominance_loss(sr, hr, mask, transform="yuv"):
    """MSE over all pixels and the three channels of a colour transform."""
    m = tf.constant(YUV) if transform == "yuv" else tf.constant(YCBCR_255) / 255.0
    d = tf.cast(sr, tf.float32) - tf.cast(hr, tf.float32)
    return masked_mean(tf.reduce_mean(tf.square(tf.einsum("...c,kc->...k", d, m)), axis=[1, 2, 3]), mask)


def identity_loss(emb_sr, emb_hr, mask, temperature=0.1):
    """Jensen-Shannon divergence between softmax(embedding / T) of SR and HR."""
    p = tf.nn.softmax(tf.cast(emb_sr, tf.float32) / temperature, axis=-1)
    q = tf.nn.softmax(tf.cast(emb_hr, tf.float32) / temperature, axis=-1)
    m = 0.5 * (p + q)
    eps = 1e-12

    def kl(a, b):
        return tf.reduce_sum(a * (tf.math.log(a + eps) - tf.math.log(b + eps)), axis=-1)

    return masked_mean(0.5 * kl(p, m) + 0.5 * kl(q, m), mask)


def _bce(logits, label):
    logits = tf.reshape(tf.cast(logits, tf.float32), [-1])
    return tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.fill(tf.shape(logits), label), logits=logits)


def generator_adversarial_loss(fake_logits, mask):
    """Non-saturating: BCE(D(G(x)), 1)."""
    return masked_mean(_bce(fake_logits, 1.0), mask)


def discriminator_loss(real_logits, fake_logits, mask, scale=1.0):
    return scale * (masked_mean(_bce(real_logits, 1.0), mask) + masked_mean(_bce(fake_logits, 0.0), mask))


def distill_loss(student, teacher, mask):
    """(response, feature): MSE of SR outputs and of bottleneck features."""
    response = masked_mean(_per_sample_mse(student["sr"], tf.stop_gradient(teacher["sr"])), mask)
    feature = masked_mean(_per_sample_mse(student["bottleneck"], tf.stop_gradient(teacher["bottleneck"])), mask)
    return response, feature

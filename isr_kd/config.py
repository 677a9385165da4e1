"""ISR-KD's own settings (paper-details §1); the shared ones are isr_kd_tf.config.RunConfig."""

import dataclasses

from isr_kd_tf.config import setting


@dataclasses.dataclass
class ISRKDConfig:
    """Defaults are the paper's and the official code's; flags/isr_kd/common.cfg sets them explicitly."""
    target_data: str = setting("icartoonface", "Cartoon dataset, ISR-KD's new domain: icartoonface, anime_faces, "
                               "avatar_faces or folder:PATH.")
    pretrain_data: str = setting("source", "Which domain ISR-KD pre-training uses: source (Table I) or target "
                                 "(Table IV, cartoons first).", ("source", "target"))
    source_count: int = setting(10000, "Old-domain images mixed into ISR-KD incremental training (Cartoon-CelebA-N: "
                                "0, 10000 or 20000; 0 = none).", minimum=0)
    target_count: int = setting(20000, "New-domain images in ISR-KD incremental training (Cartoon-CelebA-N: 20000 "
                                "or 50000; 0 = all).", minimum=0)
    extra_convs: int = setting(0, "ISR-KD Table V: extra 3x3 ReLU convs before RGB (6 in the paper), each keeping "
                               "the 128 channels there; random at the start, every other layer from G_S.", minimum=0)
    fresh_discriminator: bool = setting(False, "ISR-KD incremental/finetune: start D and both Adam states fresh "
                                        "instead of restoring them from --init_from's checkpoint (the official "
                                        "code restores them).")
    edge_thresholds: str = setting("fixed", "Canny thresholds of the ISR-KD edge targets: fixed (50/255, the "
                                   "official code) or adaptive (Otsu high, half of it low, as the paper words it).",
                                    ("fixed", "adaptive"))
    alpha: float = setting(5.0, "ISR-KD response-distillation weight: MSE between student and teacher SR "
                           "(Table III: 5, 10, 15; chosen 5).", minimum=0)
    beta: float = setting(0.01, "ISR-KD feature-distillation weight: MSE between bottleneck features "
                          "(Table III: 0.01-0.08; chosen 0.01).", minimum=0)
    lambda_rec: float = setting(1.0, "ISR-KD weight of the reconstruction MSE (paper: 1).", minimum=0)
    lambda_edge: float = setting(0.3, "ISR-KD weight of the edge MSE, summed over the three scales (official "
                                 "code: 0.3).", minimum=0)
    lambda_lce: float = setting(1.0, "ISR-KD weight of the luminance-chrominance MSE (paper: 1).", minimum=0)
    lambda_id: float = setting(1.0, "ISR-KD weight of the identity loss (paper: 1; needs --identity_net).", minimum=0)
    lambda_adv: float = setting(0.005, "ISR-KD weight of the generator's adversarial loss (official code: 0.005).", minimum=0)
    d_loss_scale: float = setting(1.0, "Factor on the discriminator loss (the official code used 1000).", positive=True)
    lce_transform: str = setting("yuv", "Colour transform of the luminance-chrominance loss: yuv (TF's "
                                 "rgb_to_yuv, the official code) or ycbcr (BT.601).", ("yuv", "ycbcr"))
    identity_net: str = setting("", "Face-embedding network for the ISR-KD identity loss (.keras / .h5 / "
                                "SavedModel, [0, 255] RGB in, embeddings out; the paper's 512-d Inception). "
                                "Empty: the loss is off.")
    identity_temperature: float = setting(0.1, "Softmax temperature of the identity loss's Jensen-Shannon "
                                          "divergence between embeddings.", positive=True)
    g_beta1: float = setting(0.9, "Adam beta1 of the generator (official code: TF's default 0.9).")
    g_beta2: float = setting(0.999, "Adam beta2 of the generator (official code: TF's default 0.999).")
    d_beta1: float = setting(0.9, "Adam beta1 of the ISR-KD discriminator.")
    d_beta2: float = setting(0.999, "Adam beta2 of the ISR-KD discriminator.")

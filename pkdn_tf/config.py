"""PKDN's own settings (paper-details §2); the shared ones are isr_kd_tf.config.RunConfig.

The paper gives no optimiser or loss weights; the defaults are KDFSRNet's,
which PKDN follows (flags/pkdn/common.cfg sets them explicitly).
"""

import dataclasses

from isr_kd_tf.config import setting

WEIGHT_INITS = ("torch", "keras")


@dataclasses.dataclass
class PKDNConfig:
    """The teacher, the student and their distillation; width scales their 64 channels too."""
    train_count: int = setting(0, "Training images drawn from --source_data (0 = all of its train split).", minimum=0)
    teacher_pfb: bool = setting(True, "PKDN teacher with parsing-map fusion blocks; --noteacher_pfb: Table 2 "
                                "'w/o PFB' (each PFB stack -> the student's RCAG).")
    teacher_ffb: bool = setting(True, "PKDN teacher with feature fusion blocks in the decoder; --noteacher_ffb: "
                                "Table 2 'w/o FFB'.")
    teacher_arch: str = setting("pkdn", "PKDN teacher network: pkdn (PFB/FFB) or kdfsrnet (LR + parsing image at "
                                "the head, 2 RCABs per group: the KDFSRNet baseline).", ("pkdn", "kdfsrnet"))
    pfb_per_stage: int = setting(2, "Parsing-map fusion blocks per PKDN teacher stage (the paper is silent; 2).", minimum=1)
    ffb_outer_residual: bool = setting(True, "FFB = F + CA(F + RB(RB(F - F_enc))); --noffb_outer_residual drops "
                                       "the leading F +.")
    student_blocks: int = setting(6, "RCABs per group of the PKDN student (KDFSRNet: 6, 5,203,995 parameters).", minimum=1)
    student_ffb: bool = setting(False, "Give the PKDN student feature fusion blocks too (the paper is silent; "
                                "off).")
    parsing_encoding: str = setting("color", "How the PKDN teacher sees parsing maps: color (KDFSRNet's 3-channel "
                                    "BiSeNet palette image) or onehot (19 channels).", ("color", "onehot"))
    parsing_net: str = setting("", "Face-parsing network (.keras / SavedModel, 19 BiSeNet classes at 512x512) that "
                               "labels datasets without parsing maps, once.")
    parsing_cache: str = setting("", "Folder for --parsing_net's labels (default: <workdir>/parsing_cache).")
    lambda_ts: float = setting(0.1, "PKDN/KDFSRNet weight of L1(teacher SR, student SR), on through epoch "
                               "--distill_epochs (KDFSRNet: 0.1).", minimum=0)
    lambda_fs: float = setting(10.0, "PKDN/KDFSRNet weight of the feature distillation (mean L1 over the nine "
                               "taps) at epoch 0, decaying linearly to 0 at --distill_epochs (KDFSRNet: 10).", minimum=0)
    distill_epochs: int = setting(10, "Epoch index at which lambda_fs reaches 0; both distillation terms are off "
                                  "after it (KDFSRNet: 10).", minimum=0)
    weight_init: str = setting("torch", "PKDN layers' initialisation: torch (PyTorch's defaults, as KDFSRNet "
                               "trains) or keras (Glorot-uniform, zero bias).", WEIGHT_INITS)
    beta1: float = setting(0.9, "Adam beta1 of the teacher and the student (KDFSRNet: 0.9).")
    beta2: float = setting(0.99, "Adam beta2 of the teacher and the student (KDFSRNet: 0.99).")

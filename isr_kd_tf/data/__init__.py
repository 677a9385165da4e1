"""Data: bundled face domains, real-data builders, degradation, pipelines.

Importing this package registers the tfds builders `synthetic_faces`,
`avatar_faces`, `utkface`, `anime_faces`, `lfw_parts`, `icartoonface`, `celeba_dic`, `helen` and
`celebamask_hq`.
"""

from isr_kd_tf.data import builders, real_faces  # noqa: F401  (registers the builders)
from isr_kd_tf.data.degradation import box_downsample, degrade, upsample_bicubic
from isr_kd_tf.data.pipeline import (SOURCE, TARGET, DomainSpec, PipelineConfig, augment,
                                     eval_dataset, finish, prepare, select, training_dataset)
from isr_kd_tf.data.sources import keys, load, num_examples, prepare_sets, reads_real_data_dir

__all__ = ["box_downsample", "degrade", "upsample_bicubic",
           "SOURCE", "TARGET", "DomainSpec", "PipelineConfig", "augment", "eval_dataset",
           "finish", "prepare", "select", "training_dataset", "keys", "load", "num_examples",
           "prepare_sets", "reads_real_data_dir"]

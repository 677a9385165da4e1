"""isr_kd_tf (the framework), isr_kd and pkdn_tf (the papers): ISR-KD and PKDN face super-resolution in TF 2 / Keras 3."""

import os

from setuptools import find_packages, setup

here = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(here, "requirements.txt")) as f:
    requirements = [line.strip() for line in f if line.strip() and not line.startswith("#")]

setup(
    name="isr-kd-tf",
    version="0.1.0",
    description=__doc__,
    packages=find_packages(include=["isr_kd_tf", "isr_kd_tf.*", "isr_kd", "isr_kd.*", "pkdn_tf", "pkdn_tf.*"]),
    # the methods the framework finds by name (isr_kd_tf.methods); a new paper adds its line here
    entry_points={"isr_kd_tf.methods": ["isr_kd = isr_kd.method:METHOD",
                                        "pkdn = pkdn_tf.method:METHOD"]},
    # the model zoo: trimmed work directories (isr_kd_tf/zoo)
    package_data={"isr_kd_tf": ["zoo/weights/*/*", "zoo/weights/*/*/*", "zoo/weights/*/*/*/*"],
                  "isr_kd": ["weights/*"]},       # face-api's recognition network (isr_kd/face_api.py)
    python_requires=">=3.10",
    install_requires=requirements,
    extras_require={"test": ["pytest>=8", "pytest-timeout>=2.3", "pytest-xdist>=3.5", "torch==2.13.0",
                             "tf2onnx>=1.17", "onnxruntime>=1.20", "pyyaml>=6", "mtcnn>=1.0,<2",
                             "filelock>=3.12"],
                    "faces": ["mtcnn>=1.0,<2"],
                    "torch": ["torch==2.13.0"],
                    "onnx": ["tf2onnx>=1.17", "onnxruntime>=1.20"],
                    # the authors' TF1 ISR-KD graph in the benchmark (isr_kd/official_graph.py): tf.layers
                    "official": ["tf-keras==2.21.*"]},
)

"""face-api's FaceRecognitionNet as a Keras model: the identity network of ISR-KD's identity loss and
of the identity metric (`--identity_net=face_api`).

The network is dlib's ResNet-34-style face descriptor (150x150 RGB in, a
128-d descriptor out; faces of one person lie within about 0.6 of each
other), as ported to TensorFlow.js by face-api (@vladmandic/face-api 1.7.15,
MIT licence; dlib's model is released under CC0 1.0). The architecture is
written from the package's own definition (src/faceRecognitionNet/); the
weights ship here as the package's uint8 tensors with their scale and
minimum, dequantised on load exactly as TensorFlow.js does (q * scale + min).

Made from the package tarball (`npm pack @vladmandic/face-api@1.7.15`):

    python -m isr_kd.face_api --tarball=vladmandic-face-api-1.7.15.tgz

and checked against the package's own runtime by tests/isr_kd/test_face_api.py
(reference descriptors made by tests/data/face_api_reference.js under node).
"""

import functools
import json
import os
import tarfile

import numpy as np

PACKAGE = "@vladmandic/face-api@1.7.15"
NAME = "face_api"                    # what --identity_net takes for this network
WEIGHTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "weights", "face_api_recognition.npz")
MANIFEST = "package/model/face_recognition_model-weights_manifest.json"
SIZE = 150
MEAN_RGB = (122.782, 117.001, 104.298)
# (prefix, kind) in the order of the package's forwardInput: convDown, then residual / residualDown blocks
BLOCKS = ([("conv32_down", "conv_down")] + [(f"conv32_{i}", "residual") for i in (1, 2, 3)]
          + [("conv64_down", "residual_down")] + [(f"conv64_{i}", "residual") for i in (1, 2, 3)]
          + [("conv128_down", "residual_down")] + [(f"conv128_{i}", "residual") for i in (1, 2)]
          + [("conv256_down", "residual_down")] + [(f"conv256_{i}", "residual") for i in (1, 2)]
          + [("conv256_down_out", "residual_down")])


def read_tarball(path):
    """{tensor name: (values, scale, min, shape)} of FaceRecognitionNet in the package tarball: uint8 values
    with their quantisation scale and minimum, or float32 values (scale and min None) where not quantised."""
    with tarfile.open(path) as tar:
        manifest = json.load(tar.extractfile(MANIFEST))
        folder = os.path.dirname(MANIFEST)
        out = {}
        for group in manifest:
            blob = b"".join(tar.extractfile(f"{folder}/{p}").read() for p in group["paths"])
            offset = 0
            for w in group["weights"]:
                n = int(np.prod(w["shape"]))
                q = w.get("quantization")
                if q and q["dtype"] == "uint8":
                    out[w["name"]] = (np.frombuffer(blob, np.uint8, n, offset).copy(), q["scale"], q["min"], w["shape"])
                    offset += n
                elif not q and w["dtype"] == "float32":
                    out[w["name"]] = (np.frombuffer(blob, "<f4", n, offset).copy(), None, None, w["shape"])
                    offset += 4 * n
                else:
                    raise ValueError(f"{w['name']}: {w['dtype']} weights quantised as {q} are not read here")
            if offset != len(blob):
                raise ValueError(f"{MANIFEST}: {len(blob) - offset} bytes of its weight files are not described")
    return out


def save(tensors, path=WEIGHTS):
    arrays = {}
    for name, (q, scale, minimum, shape) in tensors.items():
        if scale is None:
            arrays[name + ":f32"] = q.reshape(shape)
        else:
            arrays[name + ":q"] = q.reshape(shape)
            arrays[name + ":scale_min"] = np.array([scale, minimum], np.float64)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    np.savez_compressed(path, **arrays)


def load_tensors(path=WEIGHTS):
    """{tensor name: float32 array}, dequantised as TensorFlow.js does (in double, then float32)."""
    with np.load(path) as z:
        names = sorted({k.rsplit(":", 1)[0] for k in z.files})
        return {n: z[n + ":f32"] if n + ":f32" in z.files else
                (z[n + ":q"].astype(np.float64) * z[n + ":scale_min"][0] + z[n + ":scale_min"][1]).astype(np.float32)
                for n in names}


def build(path=WEIGHTS):
    """The Keras model: [B, H, W, 3] RGB in [0, 255] (square; resized to 150 as the package does) ->
    [B, 128] descriptors. Frozen."""
    import keras
    import tensorflow as tf

    w = load_tensors(path)

    class Conv(keras.layers.Layer):
        """conv (+ bias), then the package's scale layer (x * weights + biases), folded into the conv."""

        def __init__(self, prefix, strides, padding, relu, **kwargs):
            super().__init__(name=prefix.replace("/", "_"), **kwargs)
            scale = w[f"{prefix}/scale/weights"]
            self.kernel = w[f"{prefix}/conv/filters"] * scale
            self.bias = w[f"{prefix}/conv/bias"] * scale + w[f"{prefix}/scale/biases"]
            self.strides, self.padding, self.relu = strides, padding, relu

        def build(self, input_shape):
            self.k = self.add_weight(shape=self.kernel.shape, initializer=keras.initializers.Constant(self.kernel),
                                     trainable=False, name="kernel")
            self.b = self.add_weight(shape=self.bias.shape, initializer=keras.initializers.Constant(self.bias),
                                     trainable=False, name="bias")

        def call(self, x):
            y = tf.nn.conv2d(x, self.k, self.strides, self.padding) + self.b
            return tf.nn.relu(y) if self.relu else y

    class FaceRecognitionNet(keras.Model):
        def __init__(self):
            super().__init__(name="face_api_recognition_net", trainable=False)
            self.convs = {}
            for prefix, kind in BLOCKS:
                if kind == "conv_down":
                    self.convs[prefix] = Conv(prefix, 2, "VALID", True)
                else:
                    down = kind == "residual_down"
                    self.convs[prefix + "/conv1"] = Conv(prefix + "/conv1", 2 if down else 1,
                                                         "VALID" if down else "SAME", True)
                    self.convs[prefix + "/conv2"] = Conv(prefix + "/conv2", 1, "SAME", False)
            self.fc = self.add_weight(shape=w["fc"].shape, initializer=keras.initializers.Constant(w["fc"]),
                                      trainable=False, name="fc")

        def call(self, images):
            x = tf.cast(images, tf.float32)
            if x.shape[1] != SIZE or x.shape[2] != SIZE:      # resizeBilinear(alignCorners=false), as the package
                x = tf.raw_ops.ResizeBilinear(images=x, size=[SIZE, SIZE], align_corners=False,
                                              half_pixel_centers=False)
            x = (x - tf.constant(MEAN_RGB, tf.float32)) / 255.0
            for prefix, kind in BLOCKS:
                if kind == "conv_down":
                    x = self.convs[prefix](x)
                    x = tf.nn.max_pool2d(x, 3, 2, "VALID")
                    continue
                y = self.convs[prefix + "/conv2"](self.convs[prefix + "/conv1"](x))
                if kind == "residual_down":
                    x = tf.nn.avg_pool2d(x, 2, 2, "VALID")
                    dy, dx = x.shape[1] - y.shape[1], x.shape[2] - y.shape[2]
                    if dy or dx:                              # zeros appended below and right, as the package
                        y = tf.pad(y, [[0, 0], [0, dy], [0, dx], [0, 0]])
                    if x.shape[3] != y.shape[3]:              # the shortcut doubled in channels with zeros
                        x = tf.concat([x, tf.zeros_like(x)], 3)
                x = tf.nn.relu(x + y)
            return tf.matmul(tf.reduce_mean(x, [1, 2]), self.fc)

    model = FaceRecognitionNet()
    model(np.zeros((1, SIZE, SIZE, 3), np.float32))
    return model


@functools.lru_cache(maxsize=1)
def shared():
    """One built network per process (scoring builds it once, however many tables)."""
    return build()


def parity_faces(real_data_dir, n=24):
    """(names, N x 150 x 150 x 3 uint8): the middle 150x150 of every (test split length // n)-th
    LFW Part Labels test image, the faces both runtimes describe for the parity test."""
    from PIL import Image
    root = os.path.join(real_data_dir, "lfw_parts")
    with open(os.path.join(root, "test.txt")) as f:
        names = [line.strip() for line in f if line.strip()]
    names = names[::max(1, len(names) // n)][:n]
    faces = [np.asarray(Image.open(os.path.join(root, "images", name + ".jpg")).convert("RGB"))[50:200, 50:200]
             for name in names]
    return names, np.stack(faces)


def main(argv):
    from absl import flags
    from isr_kd_tf.errors import UserError
    f = flags.FLAGS
    del argv
    if f.reference_inputs:
        names, faces = parity_faces(f.real_data_dir)
        faces.tofile(f.reference_inputs)
        with open(f.reference_inputs + ".json", "w") as out:
            json.dump({"names": names}, out)
        print(f"wrote {len(names)} faces to {f.reference_inputs} (and their names to {f.reference_inputs}.json)")
        return
    if not f.tarball or not os.path.isfile(f.tarball):
        raise UserError(f"--tarball={f.tarball}: give the package tarball (npm pack {PACKAGE})")
    tensors = read_tarball(f.tarball)
    save(tensors, f.output)
    print(f"wrote {len(tensors)} tensors ({sum(q.size for q, *_ in tensors.values()):,} values) to {f.output}")


if __name__ == "__main__":
    from absl import app, flags

    from isr_kd_tf.errors import run_main
    flags.DEFINE_string("tarball", "", f"The package tarball (npm pack {PACKAGE}).")
    flags.DEFINE_string("output", WEIGHTS, "Where the weights go (the package's own file by default).")
    flags.DEFINE_string("reference_inputs", "", "Instead: write the parity test's faces (raw uint8) here, for "
                        "tests/data/face_api_reference.js.")
    flags.DEFINE_string("real_data_dir", "../shared/data", "With --reference_inputs: the folder holding lfw_parts/.")
    app.run(run_main(main))

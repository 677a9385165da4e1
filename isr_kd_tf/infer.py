"""Super-resolve your own images with an export or a work directory.

    python -m isr_kd_tf.infer --model=export/demo --input=photos/ --output=sr/ [--compare]

PNG, JPEG, BMP, WebP and TIFF in; grayscale becomes RGB, 16-bit is scaled to
8 bits, alpha is composited onto white and dropped (the networks see RGB).
Large images are processed in overlapping LR tiles so memory stays bounded.
Unreadable files are named and skipped; the exit status is 1 if any was.
Outputs are `<name>_x8.png`; an input is never overwritten.
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import os
import sys

import numpy as np
from absl import app, flags

from isr_kd_tf.data.image_io import BadImage, IMAGE_EXTENSIONS, list_images, read_image
from isr_kd_tf.errors import UserError, run_main


def super_resolve_tiled(sr_fn, lr, tile=64, overlap=8, scale=8):
    """x`scale` SR of one uint8 HxWx3 image, tile by tile.

    Each LR tile is extended by `overlap` pixels on every side that has a
    neighbour; only its centre is kept, so seams see the same context as
    the untiled image (up to the network's receptive field).
    """
    h, w = lr.shape[:2]
    out = np.zeros((h * scale, w * scale, 3), np.uint8)
    for y0 in range(0, h, tile):
        for x0 in range(0, w, tile):
            y1, x1 = min(y0 + tile, h), min(x0 + tile, w)
            ya, xa = max(0, y0 - overlap), max(0, x0 - overlap)
            yb, xb = min(h, y1 + overlap), min(w, x1 + overlap)
            patch = lr[None, ya:yb, xa:xb].astype(np.float32)
            sr = np.asarray(sr_fn(patch)["sr"])[0]
            sr = sr[(y0 - ya) * scale:(y1 - ya) * scale, (x0 - xa) * scale:(x1 - xa) * scale]
            out[y0 * scale:y1 * scale, x0 * scale:x1 * scale] = np.clip(np.rint(sr), 0, 255).astype(np.uint8)
    return out


def _inputs(path):
    if os.path.isdir(path):
        files = list_images(path)
        if not files:
            raise UserError(f"--input={path} holds no images ({', '.join(IMAGE_EXTENSIONS)})")
        return path, files
    if os.path.isfile(path):
        return os.path.dirname(path) or ".", [path]
    raise UserError(f"--input={path}: no such file or folder")


def _output_path(out_dir, root, path):
    rel = os.path.relpath(path, root)
    return os.path.join(out_dir, os.path.splitext(rel)[0] + "_x8.png")


def run(model, input_path, output_dir, compare=False, tile=64, overlap=8):
    """Super-resolves every image; returns (written paths, skipped (path, reason) pairs)."""
    from tqdm import tqdm

    from isr_kd_tf import visualize
    from isr_kd_tf.export import load_super_resolver

    root, files = _inputs(input_path)
    sr_fn = load_super_resolver(model)
    written, skipped = [], []
    for path in tqdm(files, desc="super-resolving", unit="image", file=sys.stderr):
        target = _output_path(output_dir, root, path)
        if os.path.abspath(target) in {os.path.abspath(f) for f in files}:
            skipped.append((path, f"output {target} would overwrite an input"))
            continue
        try:
            lr = read_image(path)
        except BadImage as e:
            skipped.append((path, str(e)))
            continue
        sr = super_resolve_tiled(sr_fn, lr, tile, overlap)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        if compare:
            import cv2
            nearest = cv2.resize(lr, sr.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            bicubic = cv2.resize(lr, sr.shape[1::-1], interpolation=cv2.INTER_CUBIC)
            visualize.save_png(target.replace("_x8.png", "_compare.png"), np.concatenate([nearest, bicubic, sr], 1))
        visualize.save_png(target, sr)
        written.append(target)
    return written, skipped


FLAGS = flags.FLAGS


@run_main
def main(argv):
    del argv
    written, skipped = run(FLAGS.model, FLAGS.input, FLAGS.output, FLAGS.compare, FLAGS.tile, FLAGS.overlap)
    print(f"wrote {len(written)} image(s) to {FLAGS.output}")
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    sys.exit(1 if skipped else 0)


if __name__ == "__main__":
    flags.DEFINE_string("model", None, "A SavedModel export or a training work directory.", required=True)
    flags.DEFINE_string("input", None, "An image file or a folder of images.", required=True)
    flags.DEFINE_string("output", None, "Folder for the results.", required=True)
    flags.DEFINE_bool("compare", False, "Also write LR (nearest) | bicubic | SR side by side.")
    flags.DEFINE_integer("tile", 64, "LR tile side; bounds memory for large inputs.")
    flags.DEFINE_integer("overlap", 8, "LR pixels of context around each tile.")
    app.run(main)

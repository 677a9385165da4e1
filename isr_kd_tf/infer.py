"""Super-resolve your own images with an export or a work directory.

    python -m isr_kd_tf.infer --model=export/demo --input=photos/ --output=sr/ [--compare]
    python -m isr_kd_tf.infer --faces --model=export/demo --input=group.jpg --output=sr/ [--compare]

--faces treats each input as a photograph: every face is detected, aligned
to the model's training crop, super-resolved and blended back into the
photograph upscaled by bicubic interpolation (isr_kd_tf/faces.py).

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


def super_resolve_strips(sr_fn, lr, tile=64, overlap=8, scale=8):
    """x`scale` SR of one uint8 HxWx3 image, one row of tiles at a time (uint8 strips, top to bottom).

    Each LR tile is extended by `overlap` pixels on every side that has a
    neighbour; only its centre is kept, so seams see the same context as
    the untiled image (up to the network's receptive field).
    """
    h, w = lr.shape[:2]
    for y0 in range(0, h, tile):
        y1 = min(y0 + tile, h)
        strip = np.zeros(((y1 - y0) * scale, w * scale, 3), np.uint8)
        for x0 in range(0, w, tile):
            x1 = min(x0 + tile, w)
            ya, xa = max(0, y0 - overlap), max(0, x0 - overlap)
            yb, xb = min(h, y1 + overlap), min(w, x1 + overlap)
            patch = lr[None, ya:yb, xa:xb].astype(np.float32)
            sr = np.asarray(sr_fn(patch)["sr"])[0]
            sr = sr[(y0 - ya) * scale:(y1 - ya) * scale, (x0 - xa) * scale:(x1 - xa) * scale]
            strip[:, x0 * scale:x1 * scale] = np.clip(np.rint(sr), 0, 255).astype(np.uint8)
        yield strip


def super_resolve_tiled(sr_fn, lr, tile=64, overlap=8, scale=8):
    """The whole x`scale` SR of one uint8 HxWx3 image (super_resolve_strips, put together)."""
    return np.concatenate(list(super_resolve_strips(sr_fn, lr, tile, overlap, scale)), 0)


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


MAX_OUTPUT_MEGAPIXELS = 400        # a x8 output of more is refused (its PNG alone would be gigabytes)


def check_output_size(w, h, scale):
    """A UserError for an image whose x`scale` output would be over MAX_OUTPUT_MEGAPIXELS."""
    if h * w * scale * scale / 1e6 > MAX_OUTPUT_MEGAPIXELS:
        raise UserError(f"a x{scale} {w}x{h} photograph is over {MAX_OUTPUT_MEGAPIXELS} megapixels; "
                        "downscale or crop it first")


def run(model, input_path, output_dir, compare=False, tile=64, overlap=8, faces=False, min_face_score=None,
        max_landmark_error=None, face_framing="native", self_ensemble=None):
    """Super-resolves every image; returns (written paths, skipped (path, reason) pairs, notes).
    faces: photographs, face by face (face_photo); notes then says what happened to each face.
    self_ensemble: transforms averaged (serving.self_ensemble); default faces.SELF_ENSEMBLE with faces, else 1.
    A file that cannot be done is skipped with its reason; the others are done all the same."""
    from tqdm import tqdm

    from isr_kd_tf import visualize

    root, files = _inputs(input_path)
    face_tools = _face_tools(model) if faces else None
    sr_fn = super_resolver(model, faces, self_ensemble)
    inputs = {os.path.abspath(f) for f in files}
    written, skipped, notes = [], [], []
    for path in tqdm(files, desc="super-resolving", unit="image", file=sys.stderr):
        target = _output_path(output_dir, root, path)
        if os.path.abspath(target) in inputs:
            skipped.append((path, f"output {target} would overwrite an input"))
            continue
        try:
            lr = read_image(path)
            h, w = lr.shape[:2]
            check_output_size(w, h, 8)
            os.makedirs(os.path.dirname(target), exist_ok=True)
            if faces:
                extra = face_photo(sr_fn, lr, target, compare, *face_tools, min_face_score=min_face_score,
                                   max_landmark_error=max_landmark_error, framing=face_framing)
                notes += [f"{path}: {n}" for n in extra]
            else:
                visualize.save_png_strips(target, w * 8, h * 8, super_resolve_strips(sr_fn, lr, tile, overlap))
                if compare:
                    import cv2
                    sr = cv2.cvtColor(cv2.imread(target), cv2.COLOR_BGR2RGB)
                    nearest = cv2.resize(lr, sr.shape[1::-1], interpolation=cv2.INTER_NEAREST)
                    bicubic = cv2.resize(lr, sr.shape[1::-1], interpolation=cv2.INTER_CUBIC)
                    visualize.save_png(target.replace("_x8.png", "_compare.png"),
                                       np.concatenate([nearest, bicubic, sr], 1))
        except (BadImage, UserError) as e:
            skipped.append((path, str(e)))
            continue
        except Exception as e:          # anything else about this file: named, and the others go on
            skipped.append((path, f"{type(e).__name__}: {e}"))
            continue
        written.append(target)
    return written, skipped, notes


def super_resolver(model, faces=False, self_ensemble=None):
    """The model as an SR function, averaged over `self_ensemble` transforms (default faces.SELF_ENSEMBLE for
    face crops, 1 for whole images)."""
    from isr_kd_tf import faces as faces_lib
    from isr_kd_tf import serving
    from isr_kd_tf.export import load_super_resolver
    if self_ensemble is None:
        self_ensemble = faces_lib.SELF_ENSEMBLE if faces else 1
    return serving.self_ensemble(load_super_resolver(model), self_ensemble)


def _face_tools(model):
    """(detector, LR crop side, scale, the model's landmark template) for --faces; the detector's
    absence is one line naming the install."""
    from isr_kd_tf import config, faces, zoo
    det = faces.detector()
    folder = zoo.resolve(model)
    s = config.load(folder)
    lr_side = s.run.hr_size // s.run.scale
    return det, lr_side, s.run.scale, faces.model_template(folder, lr_side)


def face_photo(sr_fn, photo, target, compare, det, lr_side, scale, points=None, min_face_score=None,
               max_landmark_error=None, framing="native"):
    """One photograph face by face, written to `target` in strips; returns a note per face."""
    from isr_kd_tf import faces, visualize
    h, w = photo.shape[:2]
    check_output_size(w, h, scale)
    points = faces.template(lr_side) if points is None else points
    found, notes = faces.find_faces(photo, det, points, min_face_score, max_landmark_error)
    p = faces.plan(photo, found, sr_fn, lr_side, scale, points, framing=framing)
    visualize.save_png_strips(target, w * scale, h * scale, p.strips())
    for i, (f, n) in enumerate(p.faces):
        notes.append(f"face {i + 1} at {f.box} (x, y, w, h; score {f.score:.3f}): " + (n or "super-resolved"))
    if not found:
        notes.append("no face found: wrote the photograph upscaled by bicubic interpolation")
    else:
        notes.append(f"{len(p.crops)} of {len(found)} face(s) super-resolved")
    if compare:
        import cv2
        for i, lr, bic, sr in p.crops:
            nearest = cv2.resize(lr, bic.shape[1::-1], interpolation=cv2.INTER_NEAREST)
            row = np.concatenate([nearest, bic, sr], 1)
            visualize.save_png(target.replace("_x8.png", f"_face{i + 1}_compare.png"),
                               np.clip(np.rint(row), 0, 255).astype(np.uint8))
    return notes


FLAGS = flags.FLAGS
FACES_MODEL = "zoo:isr_kd_gs_utkface"     # the --faces default: the zoo's G_S trained on real faces


@run_main
def main(argv):
    del argv
    model = FLAGS.model or (FACES_MODEL if FLAGS.faces else None)
    if not model:
        raise UserError("--model is required without --faces: an export, a work directory or zoo:NAME "
                        "(python -m isr_kd_tf.zoo lists them)")
    written, skipped, notes = run(model, FLAGS.input, FLAGS.output, FLAGS.compare, FLAGS.tile, FLAGS.overlap,
                                  FLAGS.faces, FLAGS.min_face_score, FLAGS.max_landmark_error, FLAGS.face_framing,
                                  None if FLAGS.self_ensemble is None else int(FLAGS.self_ensemble))
    for note in notes:
        print(note)
    for path, reason in skipped:
        print(f"skipped {path}: {reason}", file=sys.stderr)
    print(f"wrote {len(written)} image(s) to {FLAGS.output}" + (f"; skipped {len(skipped)}" if skipped else ""))
    sys.exit(1 if skipped else 0)


if __name__ == "__main__":
    from isr_kd_tf import faces as faces_lib
    from isr_kd_tf import serving as serving_lib
    flags.DEFINE_string("model", None, "What super-resolves: a SavedModel export, a training work directory, or "
                        "zoo:NAME, a shipped entry (python -m isr_kd_tf.zoo lists them). Networks that read the LR image "
                        f"alone: an entry whose network needs more (parsing maps) is refused. With --faces the "
                        f"default is "
                        f"{FACES_MODEL}, trained on real faces.")
    flags.DEFINE_string("input", None, "An image file or a folder of images.", required=True)
    flags.DEFINE_string("output", None, "Folder for the results.", required=True)
    flags.DEFINE_bool("compare", False, "Also write LR (nearest) | bicubic | SR side by side (with --faces: one "
                      "per face, of its crop).")
    flags.DEFINE_bool("faces", False, "Photographs: detect, frame, super-resolve and paste back each face into the "
                      "bicubic-upscaled photograph (needs the faces extra: pip install -e \".[faces]\").")
    flags.DEFINE_float("min_face_score", None, "--faces: the detector's confidence a face needs (default "
                       "faces.MIN_SCORE).")
    flags.DEFINE_float("max_landmark_error", None, "--faces: how far a detection's five landmarks may be from a "
                       "face's layout (faces.landmark_error; default faces.MAX_LANDMARK_ERROR).")
    flags.DEFINE_enum("face_framing", "native", list(faces_lib.FRAMINGS), "--faces: how each face reaches the "
                      "network: native (the photograph's own pixels, framed by the model's landmark template, pasted "
                      "back without resampling; measured better at small faces) or aligned (warped upright onto the "
                      "template, GFPGAN-style).")
    flags.DEFINE_enum("self_ensemble", None, [str(n) for n in serving_lib.ENSEMBLES], "Average the network over "
                      "this many flips and rotations of its input (1, 2 or 8; 8x the network's cost); default "
                      f"{faces_lib.SELF_ENSEMBLE} with --faces (measured better on real faces), 1 without.")
    flags.DEFINE_integer("tile", 64, "LR tile side; bounds memory for large inputs.")
    flags.DEFINE_integer("overlap", 8, "LR pixels of context around each tile.")
    app.run(main)

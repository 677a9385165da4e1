"""How `infer --faces` does on whole photographs, face by face, against bicubic.

    python -m isr_kd_tf.photo_eval [--model=zoo:isr_kd_gs_utkface] [--real_data_dir=../shared/data]
                                   [--picture=docs/faces_group.png]

Each photograph is shrunk 8x (area averaging, the box degradation), run
through the face path (detect, align, super-resolve, paste back) and
compared with the original: for every pasted face, PSNR and SSIM (RGB) of
its detected box, x8, against the same box of the original, beside the
bicubic upscale of the same shrunk photograph. The photographs: scikit-image's
astronaut and cameraman (public domain), a group tiled from the astronaut at
several sizes, and, with --real_data_dir, group photographs tiled from the
LFW Part Labels test faces (real people no zoo network trained on).
"""

from isr_kd_tf.console import quiet_startup  # first: before TensorFlow loads
quiet_startup(__name__)

import dataclasses
import os

import cv2
import numpy as np
from absl import app, flags

from isr_kd_tf.errors import run_main

SCALE = 8


def shrink(photo, k=SCALE):
    """The photograph k times smaller by area averaging (a k x k mean where the size allows)."""
    h, w = photo.shape[0] // k * k, photo.shape[1] // k * k
    return cv2.resize(photo[:h, :w], (w // k, h // k), interpolation=cv2.INTER_AREA), photo[:h, :w]


def astronaut_group(sides=(640, 512, 448, 384)):
    """The astronaut several times, smaller to the right, bottom-aligned like a row of people: faces of
    13 down to 8 px once shrunk 8x."""
    from skimage import data as skdata
    a = skdata.astronaut()
    h, w = max(sides), sum(sides) - 48 * (len(sides) - 1)
    canvas = np.empty((h, w, 3), np.uint8)
    canvas[:] = np.linspace([70, 90, 120], [150, 160, 175], h)[:, None].astype(np.uint8)     # a plain backdrop
    x = 0
    for side in sides:
        canvas[h - side:, x:x + side] = cv2.resize(a, (side, side), interpolation=cv2.INTER_AREA)
        x += side - 48
    return canvas


def lfw_groups(real_data_dir, n_groups=4, per_group=3, split="test"):
    """Group photographs of LFW faces of a split side by side (different people), each scaled differently."""
    from isr_kd_tf.data import image_io
    root = os.path.join(real_data_dir, "lfw_parts")
    with open(os.path.join(root, f"{split}.txt")) as f:
        names = [line.strip() for line in f if line.strip()]
    groups = []
    for g in range(n_groups):
        tiles = []
        for j in range(per_group):
            img = image_io.read_image(os.path.join(root, "images", names[(g * per_group + j) * 37 % len(names)]
                                                   + ".jpg"))
            side = (200, 250, 160)[j % 3]
            tiles.append(cv2.resize(img[20:230, 20:230], (side, side), interpolation=cv2.INTER_AREA))
        h = max(t.shape[0] for t in tiles)
        row = np.concatenate([np.pad(t, ((h - t.shape[0], 0), (0, 0), (0, 0)), mode="edge") for t in tiles], 1)
        groups.append(row)
    return groups


def photographs(real_data_dir="", split="test"):
    """{name: original photograph}: the ones the project may carry, then the LFW test groups if at hand;
    split="validation": 12 groups of LFW validation faces only, to choose settings on."""
    from skimage import data as skdata
    out = {}
    if split == "test":
        out = {"astronaut": skdata.astronaut(), "cameraman": np.repeat(skdata.camera()[..., None], 3, -1),
               "astronaut_group": astronaut_group()}
    if real_data_dir and os.path.isdir(os.path.join(real_data_dir, "lfw_parts")):
        groups = lfw_groups(real_data_dir, split=split, n_groups=4 if split == "test" else 12)
        out.update({f"lfw_group_{i + 1}": g for i, g in enumerate(groups)})
    return out


@dataclasses.dataclass
class FaceScore:
    photo: str
    face: int
    box: tuple            # x, y, w, h in the shrunk photograph
    psnr: float
    ssim: float
    psnr_bicubic: float
    ssim_bicubic: float


def _box_scores(a, b, box):
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity
    x, y, w, h = (v * SCALE for v in box)
    a, b = a[max(0, y):y + h, max(0, x):x + w], b[max(0, y):y + h, max(0, x):x + w]
    return (peak_signal_noise_ratio(b, a, data_range=255),
            structural_similarity(b, a, channel_axis=-1, data_range=255))


def evaluate_photo(name, original, sr_fn, tools, framing="native"):
    """(FaceScore of every pasted face, the x8 result, its bicubic, the original cut to size)."""
    from isr_kd_tf import faces
    det, lr_side, scale, points = tools
    lr, original = shrink(original)
    found, _ = faces.find_faces(lr, det, points)
    p = faces.plan(lr, found, sr_fn, lr_side, scale, points, framing=framing)
    out = p.rows(0, p.shape[0])
    bicubic = faces.upscale(lr, scale)
    scores = []
    for index, _, _, _ in p.crops:
        box = found[index].box
        s, ss = _box_scores(out, original, box)
        b, bs = _box_scores(bicubic, original, box)
        scores.append(FaceScore(name, index + 1, box, s, ss, b, bs))
    return scores, out, bicubic, original


def table(scores):
    lines = ["| photograph | face | box in the 8x smaller photo (x, y, w, h) | PSNR | bicubic | Δ dB | SSIM | bicubic |",
             "|---|---|---|---|---|---|---|---|"]
    for s in scores:
        lines.append(f"| {s.photo} | {s.face} | {s.box} | {s.psnr:.2f} | {s.psnr_bicubic:.2f} | "
                     f"{s.psnr - s.psnr_bicubic:+.2f} | {s.ssim:.4f} | {s.ssim_bicubic:.4f} |")
    d = np.array([s.psnr - s.psnr_bicubic for s in scores])
    lines.append(f"| **mean of {len(scores)}** | | | {np.mean([s.psnr for s in scores]):.2f} | "
                 f"{np.mean([s.psnr_bicubic for s in scores]):.2f} | **{d.mean():+.2f}** (worst {d.min():+.2f}) | "
                 f"{np.mean([s.ssim for s in scores]):.4f} | {np.mean([s.ssim_bicubic for s in scores]):.4f} |")
    return "\n".join(lines)


def picture(path, lr, bicubic, out, original, rows=0.65, width=1200):
    """The upper `rows` of the photograph (where the faces are) as four panels one above the other:
    input (nearest) | bicubic | infer --faces | original, `width` pixels wide."""
    from isr_kd_tf import visualize
    nearest = cv2.resize(lr, out.shape[1::-1], interpolation=cv2.INTER_NEAREST)
    h = int(out.shape[0] * rows)
    k = width / out.shape[1]
    panels = []
    for img, text in ((nearest, "input, 8x smaller (nearest)"), (bicubic, "bicubic x8"),
                      (out, "infer --faces x8"), (original, "original")):
        small = cv2.resize(img[:h], (width, int(h * k)), interpolation=cv2.INTER_AREA)
        head = np.full((24, width, 3), 255, np.uint8)
        cv2.putText(head, text, (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        panels += [head, small]
    visualize.save_png(path, np.concatenate(panels, 0))


FLAGS = flags.FLAGS


def score_photographs(model, real_data_dir="", split="test", framing="native", self_ensemble=None,
                      picture_path=""):
    """FaceScores of every face the face path pastes into photographs(real_data_dir, split), as `infer
    --faces` would run (self_ensemble: default faces.SELF_ENSEMBLE); picture_path: the astronaut group's PNG."""
    from isr_kd_tf import infer
    tools = infer._face_tools(model)
    sr_fn = infer.super_resolver(model, faces=True, self_ensemble=self_ensemble)
    scores = []
    for name, photo in photographs(real_data_dir, split).items():
        found, out, bicubic, original = evaluate_photo(name, photo, sr_fn, tools, framing)
        scores += found
        if picture_path and name == "astronaut_group":
            picture(picture_path, shrink(photo)[0], bicubic, out, original)
    return scores


@run_main
def main(argv):
    del argv
    print(table(score_photographs(FLAGS.model, FLAGS.real_data_dir, FLAGS.split, FLAGS.face_framing,
                                  int(FLAGS.self_ensemble), FLAGS.picture)))
    if FLAGS.picture:
        print(f"wrote {FLAGS.picture}")


if __name__ == "__main__":
    from isr_kd_tf import faces as faces_lib
    from isr_kd_tf import serving
    flags.DEFINE_string("model", "zoo:isr_kd_gs_utkface", "The model, as infer's --model.")
    flags.DEFINE_string("real_data_dir", "", "The real-image folders (lfw_parts/ is used for group photographs).")
    flags.DEFINE_enum("face_framing", "native", list(faces_lib.FRAMINGS), "As infer's --face_framing.")
    flags.DEFINE_enum("self_ensemble", str(faces_lib.SELF_ENSEMBLE), [str(n) for n in serving.ENSEMBLES], "As infer's --self_ensemble.")
    flags.DEFINE_enum("split", "test", ["test", "validation"], "LFW split the group photographs are tiled from "
                      "(validation: to choose settings on, not the faces reported).")
    flags.DEFINE_string("picture", "", "Write the astronaut group's before/after picture here (PNG).")
    app.run(main)

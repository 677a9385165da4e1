"""Face-aware super-resolution of whole photographs.

The networks learn aligned face crops (16x16 -> 128x128 in both papers), so
a photograph is handled face by face: find each face and its five landmarks
(MTCNN, whose weights ship in the `mtcnn` package), frame it as the model's
training crops frame theirs (the landmark template), super-resolve the
crop and blend the result with a feathered mask into the photograph
upscaled by the same factor (bicubic).

Framing. `native` (the default) keeps the photograph's own pixels: the
window is placed where the template puts the face, at the face's own scale
and orientation, with CONTEXT pixels around it, so the network sees pixels
no interpolation has touched and its output is pasted without resampling.
`aligned` warps each face upright onto the template by a similarity
transform, as GFPGAN and CodeFormer do. At the sizes this package works at
(faces of 8-16 LR pixels), resampling a 10-pixel face costs more than the
alignment gains: on the real photographs of photo_eval the warped crops
came out +0.14 dB over bicubic on average (11 faces, worst -0.94), the
native ones +0.90 (18 faces, worst -0.69); turning the faces upright
without scaling them did not help (+0.09). The network is fully convolutional, and trained with
rotations, so a window of another size or a tilted face is no new input.

Coordinates: a similarity transform here maps *continuous* coordinates
(pixel i covers [i, i + 1)), so that scaling an image by s scales them by s
exactly; OpenCV's warps take pixel-centre coordinates, converted in `_cv`.
"""

import dataclasses
import json
import os

import cv2
import numpy as np

from isr_kd_tf import layout
from isr_kd_tf.errors import UserError

INSTALL = 'pip install -e ".[faces]"'

# Mean five landmarks (left eye, right eye, nose, left and right mouth corner) of CelebA's aligned
# 178x218 images, whose rows 20..197 are the square crop both papers train on (data/pipeline.py).
CELEBA_ALIGNED = np.array([[69.0, 111.0], [108.0, 111.0], [88.0, 135.0], [72.0, 152.0], [105.0, 152.0]])
CELEBA_CROP = (0.0, 20.0, 178.0)          # left, top, side


# A face the alignment would shrink by more than 15 % to fit the model's crop is left as bicubic: the
# crop throws away detail the photograph has. Measured with zoo:isr_kd_gs_utkface (photo_eval): faces
# shrunk to 0.63-0.81 of their size came out 0.2-3.7 dB below bicubic, those at 0.86 and up mostly above.
MIN_ZOOM = 0.85
# With native framing nothing is shrunk; a face over twice the size of those the model learned (zoom 0.5) is
# left as bicubic all the same: the largest measured (photo_eval, 15x20 LR pixels) still gained 0.39 dB.
NATIVE_MIN_ZOOM = 0.5
# native framing: LR pixels of the photograph around the template's square (the network sees the face's
# surroundings, the feathered border falls outside the face). On photo_eval's photographs 0 / 4 / 10
# pixels gave +0.67 / +0.97 / +0.89 dB over bicubic on the faces each pasted (14 / 14 / 10: larger windows
# were counted as cut by the border then, before the border test read the template's square).
CONTEXT = 4
FRAMINGS = ("native", "aligned")
# Each face is super-resolved in all eight rotations and flips and the results averaged back
# (serving.self_ensemble). Chosen on group photographs tiled from LFW's validation faces (photo_eval
# --split=validation, 35 faces): 1 / 2 / 8 transforms gave +0.83 / +0.96 / +1.08 dB over bicubic, worst
# face -0.27 / -0.06 / +0.07. A face crop is small, so the 8x cost is a fraction of the detector's.
SELF_ENSEMBLE = 8


def template(crop_side):
    """CelebA's five landmarks in a crop of `crop_side` pixels, continuous coordinates."""
    left, top, side = CELEBA_CROP
    return (CELEBA_ALIGNED + 0.5 - [left, top]) * (crop_side / side)


def model_template(folder, crop_side):
    """The five landmarks of the crops a model was trained on (layout.landmarks, measured on its
    training set) in a crop of `crop_side` pixels; CelebA's where the model has none."""
    for path in (layout.landmarks(folder), layout.landmarks(layout.export_assets(folder))):
        if os.path.isfile(path):
            with open(path) as f:
                return np.asarray(json.load(f)["landmarks"], float) * crop_side
    return template(crop_side)


def measure_template(crops, det=None, min_score=0.9):
    """The mean five landmarks, as fractions of the side, of the square crops (uint8 HxWx3) in which the
    detector finds exactly one face: how a model's training set frames faces. Returns (landmarks, used)."""
    det = det or detector()
    found = []
    for crop in crops:
        faces = detect_faces(np.asarray(crop), det, min_score)
        if len(faces) == 1:
            found.append(faces[0].landmarks / crop.shape[1])
    if not found:
        raise UserError("no face was found in the crops to measure a landmark template from")
    return np.mean(found, 0), len(found)


def save_template(folder, landmarks, **about):
    with open(layout.landmarks(folder), "w") as f:
        json.dump({"landmarks": np.round(landmarks, 5).tolist(), **about}, f, indent=2)


@dataclasses.dataclass
class Face:
    box: tuple               # x, y, w, h in the photograph
    landmarks: np.ndarray    # 5 x 2, continuous coordinates
    score: float


def detector():
    """MTCNN from the optional `mtcnn` package, or one line saying how to install it."""
    try:
        from mtcnn import MTCNN
    except ImportError:
        raise UserError(f"--faces needs the face detector: {INSTALL} (the mtcnn package, weights included)") from None
    return MTCNN()


MIN_SCORE = 0.9               # MTCNN confidence below which a detection is not taken for a face (a
#                               real face turned 25 degrees scores 0.94 at 11 px)
MAX_LANDMARK_ERROR = 0.25     # landmarks further than this from a face's layout (landmark_error) are no face


def detect(image, det=None, min_score=MIN_SCORE):
    """Detections in an RGB uint8 photograph with at least `min_score`, largest first."""
    det = det or detector()
    faces = []
    for f in det.detect_faces(image):
        if f["confidence"] < min_score:
            continue
        k = f["keypoints"]
        points = np.array([k["left_eye"], k["right_eye"], k["nose"], k["mouth_left"], k["mouth_right"]], float)
        faces.append(Face(tuple(int(v) for v in f["box"]), points + 0.5, float(f["confidence"])))
    return sorted(faces, key=lambda f: -f.box[2] * f.box[3])


def _detection_zoom(photo, smallest=512):
    """MTCNN finds faces of 20 px and more: small photographs are enlarged for it (a whole factor)."""
    return max(1, int(np.ceil(smallest / min(photo.shape[:2]))))


def detect_faces(photo, det, min_score=None):
    """The detections of a photograph with at least `min_score` (default faces.MIN_SCORE), found on it
    enlarged by a whole factor where it is small, in the photograph's own coordinates."""
    k = _detection_zoom(photo)
    seen = photo if k == 1 else cv2.resize(photo, (photo.shape[1] * k, photo.shape[0] * k),
                                           interpolation=cv2.INTER_CUBIC)
    found = detect(seen, det, MIN_SCORE if min_score is None else min_score)
    for f in found:
        f.landmarks = f.landmarks / k
        f.box = tuple(int(round(v / k)) for v in f.box)
    return found


def find_faces(photo, det, points, min_score=None, max_error=None):
    """The faces a model can take: detections with at least `min_score` whose landmarks are within
    `max_error` of the layout `points` (landmark_error). Returns (faces, a note per rejected detection)."""
    max_error = MAX_LANDMARK_ERROR if max_error is None else max_error
    found, notes = [], []
    for f in detect_faces(photo, det, min_score):
        error = landmark_error(f.landmarks, points)
        if error > max_error:
            notes.append(f"detection at {f.box} (score {f.score:.3f}) not taken for a face: its landmarks are "
                         f"{error:.2f} from a face's layout (--max_landmark_error={max_error})")
        else:
            found.append(f)
    return found, notes


def landmark_error(landmarks, points=None):
    """How far five detected landmarks are from a face's layout: the RMS distance left after the best
    similarity (no mirroring) onto the template `points`, over the template's eye-to-mouth distance.
    A face is about 0.05; hands and background patches the detector takes for faces rarely fit."""
    points = template(1.0) if points is None else np.asarray(points, float)
    m = similarity(landmarks, points)
    rms = np.sqrt(np.mean(np.sum((apply(m, landmarks) - points) ** 2, 1)))
    eyes, mouth = points[:2].mean(0), points[3:].mean(0)
    return float(rms / np.linalg.norm(mouth - eyes))


def similarity(src, dst):
    """2x3 least-squares similarity (rotation, uniform scale, shift) taking points src to dst (Umeyama)."""
    src, dst = np.asarray(src, float), np.asarray(dst, float)
    mu_s, mu_d = src.mean(0), dst.mean(0)
    a, b = src - mu_s, dst - mu_d
    cov = b.T @ a / len(src)
    u, d, vt = np.linalg.svd(cov)
    sign = np.eye(2)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        sign[1, 1] = -1
    rot = u @ sign @ vt
    scale = np.trace(np.diag(d) @ sign) / a.var(0).sum()
    m = np.zeros((2, 3))
    m[:, :2] = scale * rot
    m[:, 2] = mu_d - scale * rot @ mu_s
    return m


def apply(m, points):
    return np.asarray(points, float) @ m[:, :2].T + m[:, 2]


def invert(m):
    inv = np.linalg.inv(np.vstack([m, [0, 0, 1]]))
    return inv[:2]


def scaled(m, s):
    """The same alignment between images both scaled by s (continuous coordinates scale exactly)."""
    out = m.copy()
    out[:, 2] *= s
    return out


def _cv(m):
    """A continuous-coordinate transform as OpenCV's pixel-centre one."""
    shift = np.array([[1, 0, 0.5], [0, 1, 0.5], [0, 0, 1]])
    back = np.array([[1, 0, -0.5], [0, 1, -0.5], [0, 0, 1]])
    return (back @ np.vstack([m, [0, 0, 1]]) @ shift)[:2]


def warp(image, m, size, flags=cv2.INTER_CUBIC, border=cv2.BORDER_REFLECT101):
    """The image under transform m (photograph -> crop), a size[0] x size[1] (w, h) crop."""
    return cv2.warpAffine(image, _cv(m), size, flags=flags, borderMode=border)


def unwarp(crop, m, size, flags=cv2.INTER_CUBIC):
    """A crop back into the photograph frame (w, h) under transform m (photograph -> crop); outside is 0."""
    return cv2.warpAffine(crop, _cv(m), size, flags=flags | cv2.WARP_INVERSE_MAP, borderMode=cv2.BORDER_CONSTANT,
                          borderValue=0)


def feather(side, border=0.1):
    """A side x side mask: 1 inside, falling smoothly (cosine) to 0 over `border` of the side at each edge."""
    ramp = max(1, int(round(side * border)))
    t = np.clip((np.arange(side) + 0.5) / ramp, 0, 1)
    edge = 0.5 - 0.5 * np.cos(np.pi * t)
    line = np.minimum(edge, edge[::-1])
    return np.minimum.outer(line, line).astype(np.float32)


@dataclasses.dataclass
class Patch:
    """One face's super-resolution, warped back into the upscaled photograph: only the window its
    aligned crop covers, so memory grows with the faces, not with the photograph."""
    x0: int
    y0: int
    pixels: np.ndarray                # h x w x 3 float32, the SR crop in the photograph's frame
    alpha: np.ndarray                 # h x w x 1 float32 blending mask


@dataclasses.dataclass
class Plan:
    photo: np.ndarray                 # the photograph (LR)
    scale: int
    patches: list                     # Patch of every pasted face, in pasting order
    faces: list                       # (Face, note) of every detected face, note "" when pasted
    crops: list                       # (LR crop, bicubic of it, SR) of every pasted face, with its face index

    @property
    def shape(self):
        return self.photo.shape[0] * self.scale, self.photo.shape[1] * self.scale, 3

    def rows(self, y0, y1):
        """Rows y0..y1 of the result: the bicubic upscale of those rows, each face blended in over it."""
        out = upscale_rows(self.photo, self.scale, y0, y1).astype(np.float32)
        for p in self.patches:
            a, b = max(y0, p.y0), min(y1, p.y0 + p.pixels.shape[0])
            if a >= b:
                continue
            w = p.pixels.shape[1]
            alpha = p.alpha[a - p.y0:b - p.y0]
            region = out[a - y0:b - y0, p.x0:p.x0 + w]
            out[a - y0:b - y0, p.x0:p.x0 + w] = alpha * p.pixels[a - p.y0:b - p.y0] + (1 - alpha) * region
        return np.clip(np.rint(out), 0, 255).astype(np.uint8)

    def strips(self, height=256):
        """The result from top to bottom, `height` rows at a time."""
        for y0 in range(0, self.shape[0], height):
            yield self.rows(y0, min(self.shape[0], y0 + height))


@dataclasses.dataclass
class Result:
    image: np.ndarray                 # the upscaled photograph, faces pasted
    faces: list                       # (Face, note) of every detected face, note "" when pasted
    crops: list                       # (LR crop, bicubic of it, SR) of every pasted face


def upscale(photo, scale):
    return cv2.resize(photo, (photo.shape[1] * scale, photo.shape[0] * scale), interpolation=cv2.INTER_CUBIC)


def upscale_rows(photo, scale, y0, y1, margin=3):
    """Rows y0..y1 of upscale(photo, scale), equal to them, from a few LR rows around them only."""
    h = photo.shape[0]
    a, b = max(0, y0 // scale - margin), min(h, -(-y1 // scale) + margin)
    part = cv2.resize(photo[a:b], (photo.shape[1] * scale, (b - a) * scale), interpolation=cv2.INTER_CUBIC)
    return part[y0 - a * scale:y1 - a * scale]


def native_window(m, lr_side, context=CONTEXT):
    """The integer translation (photograph -> window) and the window's side of `native` framing: the
    square the similarity m maps onto the template's crop, at the face's own scale, grown by `context`
    on each side and rounded up to a multiple of 4 (the generators halve the input twice)."""
    zoom = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
    square = lr_side / zoom                                     # the template crop's side in the photograph
    centre = apply(invert(m), [[lr_side / 2, lr_side / 2]])[0]
    side = int(4 * np.ceil((max(square, lr_side) + 2 * context) / 4))
    x0, y0 = np.round(centre - side / 2)
    return np.array([[1.0, 0.0, -x0], [0.0, 1.0, -y0]]), side


def crop_transform(m, lr_side, framing="native", context=CONTEXT):
    """(photograph -> crop transform, crop side) under a framing, from the face's similarity m onto the
    template's crop."""
    return native_window(m, lr_side, context) if framing == "native" else (m, lr_side)


def plan(photo, faces, sr_fn, lr_side, scale=8, points=None, min_zoom=None, max_zoom=2.0, feather_border=0.1,
         max_outside=0.25, framing="native", context=CONTEXT):
    """Super-resolves each face and puts it back into the frame of the photograph upscaled by `scale`.

    points: the five landmarks of the model's crop (default: CelebA's, `template`).
    framing: `native` or `aligned` (module docstring); context: native's margin.
    zoom = how much the alignment would enlarge the face to reach the LR crop:
    above `max_zoom` the face is too small (smaller than any the network
    learned); below `min_zoom` too large (aligned: the crop would throw away
    detail the photograph has, MIN_ZOOM; native: NATIVE_MIN_ZOOM). A face whose
    template crop is more than `max_outside` outside the photograph is
    skipped as cut by the border.
    """
    if framing not in FRAMINGS:
        raise UserError(f"--face_framing={framing}: choose one of {', '.join(FRAMINGS)}")
    if min_zoom is None:
        min_zoom = NATIVE_MIN_ZOOM if framing == "native" else MIN_ZOOM
    h, w = photo.shape[:2]
    points = template(lr_side) if points is None else np.asarray(points, float)
    done, crops, patches, footprints = [], [], [], {}
    for index, face in enumerate(faces):
        m = similarity(face.landmarks, points)
        zoom = float(np.sqrt(abs(np.linalg.det(m[:, :2]))))
        corners = apply(invert(m), [[0, 0], [lr_side, 0], [0, lr_side], [lr_side, lr_side]])
        inside = _share_inside(corners, w, h)
        note = ""
        if zoom > max_zoom and framing == "native":
            note = (f"face too small ({face.box[2]}x{face.box[3]} px, {1 / zoom:.2f}x the faces the model "
                    f"learned): left as bicubic")
        elif zoom > max_zoom:
            note = (f"face too small ({face.box[2]}x{face.box[3]} px; the model's crop would enlarge it "
                    f"{zoom:.1f}x): left as bicubic")
        elif zoom < min_zoom and framing == "native":
            note = (f"face too large ({face.box[2]}x{face.box[3]} px, {1 / zoom:.1f}x the faces the model learned): "
                    f"left as bicubic")
        elif zoom < min_zoom:
            note = (f"face too large ({face.box[2]}x{face.box[3]} px; the model's {lr_side}x{lr_side} crop would "
                    f"shrink it {1 / zoom:.1f}x): left as bicubic, which keeps more of it")
        elif inside < 1 - max_outside:
            note = f"face cut by the border ({100 * (1 - inside):.0f} % of its crop outside): left as bicubic"
        if note:
            done.append((face, note))
            continue
        m, side = crop_transform(m, lr_side, framing, context)
        hr_side = side * scale
        mask_crop = feather(hr_side, feather_border)
        lr = warp(photo, m, (side, side)).astype(np.float32)    # native: a copy of the pixels (reflected at edges)
        sr = np.clip(np.asarray(sr_fn(lr[None])["sr"])[0], 0, 255).astype(np.float32)
        m_hr = scaled(m, scale)
        x, y, bw, bh = _bounds(apply(invert(m), [[0, 0], [side, 0], [0, side], [side, side]]) * scale)
        x0, y0 = max(0, int(np.floor(x)) - 2), max(0, int(np.floor(y)) - 2)
        x1, y1 = min(w * scale, int(np.ceil(x + bw)) + 2), min(h * scale, int(np.ceil(y + bh)) + 2)
        window = m_hr.copy()                        # the same transform, from the window's own origin
        window[:, 2] += m_hr[:, :2] @ [x0, y0]
        patches.append(Patch(x0, y0, unwarp(sr, window, (x1 - x0, y1 - y0)),
                             unwarp(mask_crop, window, (x1 - x0, y1 - y0), cv2.INTER_LINEAR)[..., None]))
        footprint = _bounds(corners)
        overlap = [i for i, other in footprints.items() if _boxes_overlap(footprint, other)]
        footprints[index] = footprint
        done.append((face, f"its crop overlaps face {overlap[0] + 1}'s: pasted over it, blended" if overlap else ""))
        crops.append((index, lr, cv2.resize(lr, (hr_side, hr_side), interpolation=cv2.INTER_CUBIC), sr))
    return Plan(photo, scale, patches, done, crops)


def restore(photo, faces, sr_fn, lr_side, scale=8, points=None, **kwargs):
    """Pastes each face's SR into the bicubic-upscaled photograph, held whole (plan's keywords)."""
    p = plan(photo, faces, sr_fn, lr_side, scale, points, **kwargs)
    return Result(p.rows(0, p.shape[0]), p.faces, [c[1:] for c in p.crops])


def _share_inside(corners, w, h, n=16):
    """Share of a crop's area (given by its corners in the photograph) that lies inside the photograph."""
    a, b, c = corners[0], corners[1], corners[2]
    u, v = np.meshgrid((np.arange(n) + 0.5) / n, (np.arange(n) + 0.5) / n)
    p = a + u[..., None] * (b - a) + v[..., None] * (c - a)
    return float(np.mean((p[..., 0] >= 0) & (p[..., 0] <= w) & (p[..., 1] >= 0) & (p[..., 1] <= h)))


def _bounds(corners):
    """x, y, w, h of the box around points."""
    lo, hi = np.min(corners, 0), np.max(corners, 0)
    return (lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1])


def footprint(face, lr_side, scale=1, points=None, framing="native", context=CONTEXT):
    """x, y, w, h of the box around the face's crop in the photograph upscaled by `scale`."""
    points = template(lr_side) if points is None else points
    m, side = crop_transform(similarity(face.landmarks, points), lr_side, framing, context)
    m, side = scaled(m, scale), side * scale
    return _bounds(apply(invert(m), [[0, 0], [side, 0], [0, side], [side, side]]))


def _boxes_overlap(a, b):
    return a[0] < b[0] + b[2] and b[0] < a[0] + a[2] and a[1] < b[1] + b[3] and b[1] < a[1] + a[3]

"""Cartoon faces rendered offline from python-avatars' SVG parts.

The cartoon target domain when iCartoonFace is not at hand: flat fills and
hard outlines, framed as a square face crop like iCartoonFace's.
"""

import random

import cv2
import numpy as np

SIZE = 160  # side of the square crop
_SVG_W, _SVG_H = 264, 280
_FACE_BOX = (36, 10, 228, 202)  # x0, y0, x1, y1 of the face in SVG units


def _random_avatar(rng):
    import python_avatars as pa

    # Avatar.random draws from the global `random` module; seed it per image.
    random.seed(int(rng.integers(2 ** 31)))
    avatar = pa.Avatar.random(style=pa.AvatarStyle.TRANSPARENT, shirt_text="")
    return avatar.render()


def render_avatar(seed):
    """Returns a uint8 SIZE x SIZE x 3 cartoon face for `seed`."""
    import resvg_py

    rng = np.random.default_rng(seed)
    svg = _random_avatar(rng)
    zoom = rng.uniform(0.95, 1.1)
    scale = SIZE / (_FACE_BOX[2] - _FACE_BOX[0]) * zoom
    png = resvg_py.svg_to_bytes(svg_string=svg, width=int(round(_SVG_W * scale)),
                                height=int(round(_SVG_H * scale)), skip_system_fonts=True)
    rgba = cv2.imdecode(np.frombuffer(bytes(png), np.uint8), cv2.IMREAD_UNCHANGED)
    rgba = cv2.cvtColor(rgba, cv2.COLOR_BGRA2RGBA).astype(np.float32)
    background = rng.integers(0, 256, 3).astype(np.float32)  # a flat fill
    alpha = rgba[..., 3:] / 255.0
    img = rgba[..., :3] * alpha + background * (1 - alpha)
    cx = (_FACE_BOX[0] + _FACE_BOX[2]) / 2 * scale + rng.normal(0, 4)
    cy = (_FACE_BOX[1] + _FACE_BOX[3]) / 2 * scale + rng.normal(0, 4)
    x0, y0 = int(round(cx - SIZE / 2)), int(round(cy - SIZE / 2))
    pad = SIZE
    img = cv2.copyMakeBorder(img, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=background.tolist())
    crop = img[y0 + pad:y0 + pad + SIZE, x0 + pad:x0 + pad + SIZE]
    return np.clip(np.rint(crop), 0, 255).astype(np.uint8)

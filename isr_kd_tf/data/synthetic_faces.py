"""Photo-like synthetic faces with an exact BiSeNet-style parsing map.

A stand-in for CelebA's aligned crops (218x178) that needs no download. The
image is painted region by region from the same polygons that write the label
map, so every labelled pixel is the part that was drawn there.
"""

import cv2
import numpy as np

HEIGHT, WIDTH = 218, 178
_MARGIN = 24  # canvas margin so pose warps never reveal an edge

# BiSeNet (zllrunning/face-parsing.PyTorch) class order.
PARSING_CLASSES = (
    "background", "skin", "l_brow", "r_brow", "l_eye", "r_eye", "eye_g",
    "l_ear", "r_ear", "ear_r", "nose", "mouth", "u_lip", "l_lip", "neck",
    "neck_l", "cloth", "hair", "hat")
LABEL = {name: i for i, name in enumerate(PARSING_CLASSES)}

_SKIN_TONES = np.array([
    [255, 224, 196], [241, 194, 160], [224, 172, 130], [198, 134, 96],
    [160, 105, 72], [120, 76, 50], [90, 58, 40]], np.float32)
_HAIR_COLOURS = np.array([
    [20, 16, 14], [60, 40, 28], [105, 70, 40], [170, 130, 80],
    [220, 190, 130], [130, 50, 30], [150, 150, 150]], np.float32)
_IRIS_COLOURS = np.array([
    [70, 45, 25], [110, 80, 45], [60, 110, 150], [80, 120, 70], [40, 30, 25]],
    np.float32)


def _noise(rng, shape, sigma):
    """Smooth random field in [-1, 1]-ish: white noise blurred at `sigma`."""
    f = max(1, int(sigma // 2))  # smooth fields are drawn small and enlarged
    small = (-(-shape[0] // f), -(-shape[1] // f))
    n = rng.standard_normal(small).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigma / f)
    if f > 1:
        n = cv2.resize(n, (shape[1], shape[0]), interpolation=cv2.INTER_LINEAR)
    return n / (n.std() + 1e-6)


def _ellipse_poly(cx, cy, ax, ay, angle=0.0, start=0, end=360):
    return cv2.ellipse2Poly((int(round(cx * 4)), int(round(cy * 4))),
                            (int(round(ax * 4)), int(round(ay * 4))),
                            int(angle), start, end, 3)


def _mask(shape, polys):
    """Union of filled polygons given at 4x sub-pixel precision."""
    m = np.zeros(shape, np.uint8)
    for p in polys:  # one call each: a single fillPoly call XORs overlaps
        cv2.fillPoly(m, [np.asarray(p, np.int32).reshape(-1, 1, 2)], 1,
                     lineType=cv2.LINE_8, shift=2)
    return m.astype(bool)


def _ellipsoid_shade(yy, xx, cx, cy, ax, ay, light):
    """Lambertian shading of an ellipsoid seen from the front."""
    nx = (xx - cx) / ax
    ny = (yy - cy) / ay
    nz = np.sqrt(np.clip(1.0 - nx ** 2 - ny ** 2, 0.0, 1.0))
    lambert = np.clip(nx * light[0] + ny * light[1] + nz * light[2], 0, 1)
    return 0.45 + 0.65 * lambert


def render_face(seed):
    """Returns (image uint8 218x178x3, parsing uint8 218x178) for `seed`."""
    rng = np.random.default_rng(seed)
    h, w = HEIGHT + 2 * _MARGIN, WIDTH + 2 * _MARGIN
    img = np.zeros((h, w, 3), np.float32)
    lab = np.zeros((h, w), np.uint8)
    yy, xg = np.mgrid[0:h, 0:w].astype(np.float32)

    def paint(mask, colour_field, label):
        img[mask] = colour_field[mask] if colour_field.ndim == 3 else colour_field
        lab[mask] = LABEL[label]

    light = rng.normal([0.0, -0.3, 1.0], [0.5, 0.2, 0.1]).astype(np.float32)
    light /= np.linalg.norm(light)
    tint = rng.uniform(0.85, 1.1, 3).astype(np.float32)  # coloured light

    # Background: smooth gradient plus texture.
    bg = rng.uniform(40, 230, 3).astype(np.float32)
    bg2 = rng.uniform(40, 230, 3).astype(np.float32)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    img[:] = bg * (1 - t) + bg2 * t
    img += 18 * _noise(rng, (h, w), 12)[..., None] + 6 * _noise(rng, (h, w), 2)[..., None]

    cx = w / 2 + rng.normal(0, 2)
    cy = _MARGIN + 110 + rng.normal(0, 2)
    fa = rng.uniform(36, 44)   # face half-width
    fb = fa * rng.uniform(1.22, 1.38)  # face half-height
    skin = _SKIN_TONES[rng.integers(len(_SKIN_TONES))] * rng.uniform(0.92, 1.06, 3)
    skin_tex = 1.0 + 0.04 * _noise(rng, (h, w), 1.2)[..., None] + 0.05 * _noise(rng, (h, w), 6)[..., None]

    def skin_field(scx, scy, sax, say, gain=1.0):
        shade = _ellipsoid_shade(yy, xg, scx, scy, sax, say, light)[..., None]
        return skin * shade * skin_tex * tint * gain

    # Clothes and neck.
    cloth_col = rng.uniform(20, 235, 3).astype(np.float32)
    top = cy + fb * rng.uniform(1.05, 1.25)
    shoulders = np.array([[cx - 95, h + 10], [cx - 80, top + 20], [cx - 28, top],
                          [cx + 28, top], [cx + 80, top + 20], [cx + 95, h + 10]]) * 4
    cloth_field = cloth_col * (0.8 + 0.1 * _noise(rng, (h, w), 8)[..., None] +
                               0.05 * _noise(rng, (h, w), 1)[..., None]) * tint
    paint(_mask((h, w), [shoulders]), cloth_field, "cloth")
    nw = fa * rng.uniform(0.55, 0.7)
    neck = np.array([[cx - nw, cy + fb * 0.5], [cx + nw, cy + fb * 0.5],
                     [cx + nw * 1.1, top + 8], [cx - nw * 1.1, top + 8]]) * 4
    paint(_mask((h, w), [neck]), skin_field(cx, cy + fb * 0.9, nw * 1.6, fb, 0.78), "neck")
    if rng.random() < 0.25:  # necklace
        poly = _ellipse_poly(cx, top - 4, nw * 1.05, 10, 0, 10, 170)
        m = np.zeros((h, w), np.uint8)
        cv2.polylines(m, [poly.reshape(-1, 1, 2)], False, 1, 2, cv2.LINE_8, 2)
        paint(m.astype(bool) & (lab == LABEL["neck"]),
              np.array([230, 200, 90], np.float32) * tint, "neck_l")

    # Hair mass behind the head.
    hair_col = _HAIR_COLOURS[rng.integers(len(_HAIR_COLOURS))]
    hair_len = rng.uniform(0.2, 1.4)
    hair_back = [_ellipse_poly(cx, cy - fb * 0.15, fa * 1.22, fb * 1.08, 0, 180, 360),
                 _ellipse_poly(cx, cy + fb * (hair_len - 0.15), fa * 1.15, fb * 0.25, 0, 0, 180),
                 np.array([[cx - fa * 1.22, cy - fb * 0.15], [cx + fa * 1.22, cy - fb * 0.15],
                           [cx + fa * 1.15, cy + fb * hair_len], [cx - fa * 1.15, cy + fb * hair_len]]) * 4]
    hair_mask = _mask((h, w), hair_back)

    # Ears.
    ear_y = cy - fb * 0.05
    ear_skin = skin_field(cx, cy, fa * 1.15, fb, 0.88)
    for side, name in ((-1, "l_ear"), (1, "r_ear")):
        ex = cx + side * fa * 0.98
        ear = _ellipse_poly(ex, ear_y, fa * 0.18, fb * 0.2, side * 10)
        paint(_mask((h, w), [ear]), ear_skin, name)
        if rng.random() < 0.2:
            ring = _ellipse_poly(ex, ear_y + fb * 0.2, 2.5, 2.5)
            paint(_mask((h, w), [ring]), np.array([235, 215, 120], np.float32), "ear_r")

    # Face.
    face = _ellipse_poly(cx, cy, fa, fb)
    face_mask = _mask((h, w), [face])
    face_skin = skin_field(cx, cy, fa, fb)
    paint(face_mask, face_skin, "skin")

    # Hair strands, drawn over the back mass and the fringe region.
    fringe_h = rng.uniform(0.55, 0.85)
    fringe = [_ellipse_poly(cx, cy - fb * 0.15, fa * 1.08, fb * 0.98, 0, 180, 360)]
    fringe_mask = _mask((h, w), fringe[:1]) & (yy < cy - fb * fringe_h)
    hair_region = (hair_mask & (lab != LABEL["skin"]) & ~np.isin(lab, [LABEL["l_ear"], LABEL["r_ear"], LABEL["ear_r"]])) | fringe_mask
    strands = np.zeros((h, w, 3), np.float32)
    strands[:] = hair_col * 0.55
    n = 220
    x0 = cx + rng.uniform(-1.25, 1.25, n) * fa
    y0 = cy - fb * rng.uniform(0.9, 1.2, n)
    length = rng.uniform(30, 60 + 120 * hair_len, n)
    curl = rng.normal(0, 0.6, n)
    direction = np.sign(x0 - cx) * rng.uniform(0.2, 0.9, n)
    ts = np.linspace(0, 1, 10)[None, :]
    xs = x0[:, None] + (direction * length * 0.5)[:, None] * ts + (curl * 8)[:, None] * np.sin(ts * 3)
    ys = y0[:, None] + length[:, None] * ts
    pts = (np.stack([xs, ys], -1) * 4).astype(np.int32)
    colours = hair_col * rng.uniform(0.6, 1.4, (n, 1)) + rng.normal(0, 8, (n, 3))
    for p, c in zip(pts, colours.tolist()):
        cv2.polylines(strands, [p.reshape(-1, 1, 2)], False, c, 1, cv2.LINE_AA, 2)
    shade = _ellipsoid_shade(yy, xg, cx, cy - fb * 0.2, fa * 1.3, fb * 1.3, light)[..., None]
    paint(hair_region, np.clip(strands, 0, 255) * shade * tint, "hair")

    # Nose: shaded ridge and nostrils.
    ny = cy + fb * 0.18
    nose = np.array([[cx - fa * 0.08, cy - fb * 0.1], [cx + fa * 0.08, cy - fb * 0.1],
                     [cx + fa * 0.2, ny + fb * 0.08], [cx - fa * 0.2, ny + fb * 0.08]]) * 4
    nose_mask = _mask((h, w), [nose])
    xx = np.arange(w, dtype=np.float32)[None, :, None]
    ridge = 1.0 + 0.12 * np.exp(-((xx - cx - light[0] * 4) / 3.0) ** 2) - 0.1 * np.abs(xx - cx) / (fa * 0.2)
    nose_field = face_skin * ridge
    for side in (-1, 1):
        nostril = _mask((h, w), [_ellipse_poly(cx + side * fa * 0.09, ny + fb * 0.05, 3, 1.6)])
        nose_field[nostril] *= 0.5
    paint(nose_mask, nose_field, "nose")

    # Brows and eyes.
    ey = cy - fb * 0.12
    esp = fa * rng.uniform(0.38, 0.46)
    iris_col = _IRIS_COLOURS[rng.integers(len(_IRIS_COLOURS))]
    ew, eh = fa * 0.2, fa * rng.uniform(0.08, 0.11)
    for side, eye_name, brow_name in ((-1, "l_eye", "l_brow"), (1, "r_eye", "r_brow")):
        ex = cx + side * esp
        brow = [_ellipse_poly(ex, ey - eh * 2.6, ew * 1.25, eh * 0.9, side * -8, 180, 360),
                _ellipse_poly(ex, ey - eh * 2.4, ew * 1.25, eh * 0.35, side * -8)]
        brow_field = strands * 0.9 * tint
        paint(_mask((h, w), brow), brow_field, brow_name)
        eye_mask = _mask((h, w), [_ellipse_poly(ex, ey, ew, eh)])
        win = (slice(int(ey - eh) - 2, int(ey + eh) + 3), slice(int(ex - ew) - 2, int(ex + ew) + 3))
        wy, wx = yy[win], xg[win]
        gaze = rng.normal(0, 1.0)
        r = np.sqrt((wx - ex - gaze) ** 2 + (wy - ey) ** 2)
        eye_win = np.empty(r.shape + (3,), np.float32)
        eye_win[:] = np.array([235, 232, 228], np.float32) * tint
        iris_r = eh * 1.15
        iris = r < iris_r
        eye_win[iris] = (iris_col * (0.7 + 0.5 * (r[iris, None] / iris_r)))
        eye_win[r < iris_r * 0.45] = 12
        eye_win[(np.abs(wx - ex - gaze - 1.5) < 1.2) & (np.abs(wy - ey + 1.5) < 1.2)] = 250  # catch-light
        lid = (wy < ey - eh * 0.45) | (wy > ey + eh * 0.75)
        eye_win[lid] = eye_win[lid] * 0.55
        eye = img.copy()
        eye[win] = eye_win
        paint(eye_mask, eye, eye_name)
        lid_line = _ellipse_poly(ex, ey, ew, eh, 0, 180, 360)
        cv2.polylines(img, [lid_line.reshape(-1, 1, 2)], False, (25, 20, 18), 1, cv2.LINE_AA, 2)
        lab_line = np.zeros((h, w), np.uint8)
        cv2.polylines(lab_line, [lid_line.reshape(-1, 1, 2)], False, 1, 1, cv2.LINE_8, 2)
        lab[lab_line.astype(bool) & (lab == LABEL["skin"])] = LABEL[eye_name]
    if rng.random() < 0.2:  # glasses frames
        m = np.zeros((h, w), np.uint8)
        for side in (-1, 1):
            p = _ellipse_poly(cx + side * esp, ey, ew * 1.5, eh * 2.6)
            cv2.polylines(m, [p.reshape(-1, 1, 2)], True, 1, 2, cv2.LINE_8, 2)
        cv2.line(m, (int((cx - esp + ew * 1.5) * 4), int(ey * 4)), (int((cx + esp - ew * 1.5) * 4), int(ey * 4)), 1, 2, cv2.LINE_8, 2)
        paint(m.astype(bool), np.array([30, 30, 35], np.float32), "eye_g")

    # Lips (two-tone) and an open mouth sometimes.
    my = cy + fb * rng.uniform(0.45, 0.52)
    mw = fa * rng.uniform(0.32, 0.42)
    lip_col = skin * np.array([0.95, 0.6, 0.62], np.float32) * rng.uniform(0.85, 1.05)
    opening = rng.uniform(0, 3.5) if rng.random() < 0.35 else 0.0
    upper = _ellipse_poly(cx, my, mw, 4.0, 0, 180, 360)
    lower = _ellipse_poly(cx, my + opening, mw * 0.9, 5.5, 0, 0, 180)
    lip_shade = face_skin / skin
    paint(_mask((h, w), [upper]), lip_col * 0.82 * lip_shade, "u_lip")
    lower_field = lip_col * lip_shade * (1.0 + 0.15 * np.exp(-((yy - my - opening - 2.5) / 1.5) ** 2))[..., None]
    paint(_mask((h, w), [lower]), lower_field, "l_lip")
    if opening > 0.5:
        mouth = np.array([[cx - mw * 0.85, my], [cx + mw * 0.85, my],
                          [cx + mw * 0.8, my + opening], [cx - mw * 0.8, my + opening]]) * 4
        paint(_mask((h, w), [mouth]), np.array([60, 20, 25], np.float32), "mouth")

    if rng.random() < 0.15:  # hat
        hat_col = rng.uniform(20, 220, 3).astype(np.float32)
        hat = [_ellipse_poly(cx, cy - fb * 0.55, fa * 1.3, fb * 0.6, 0, 180, 360),
               np.array([[cx - fa * 1.5, cy - fb * 0.55], [cx + fa * 1.5, cy - fb * 0.55],
                         [cx + fa * 1.5, cy - fb * 0.45], [cx - fa * 1.5, cy - fb * 0.45]]) * 4]
        paint(_mask((h, w), hat), hat_col * (0.85 + 0.1 * _noise(rng, (h, w), 3)[..., None]) * tint, "hat")

    # Pose: scale, shift and a small roll, then the camera: optics and sensor.
    angle = rng.normal(0, 4)
    scale = rng.uniform(0.92, 1.08)
    m = cv2.getRotationMatrix2D((w / 2, h / 2), angle, scale)
    m[:, 2] += rng.normal(0, 3, 2) - _MARGIN
    img = cv2.warpAffine(img, m, (WIDTH, HEIGHT), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
    lab = cv2.warpAffine(lab, m, (WIDTH, HEIGHT), flags=cv2.INTER_NEAREST, borderMode=cv2.BORDER_REFLECT)
    img = cv2.GaussianBlur(img, (0, 0), rng.uniform(0.5, 0.8))
    img += rng.normal(0, rng.uniform(1.5, 4.0), img.shape).astype(np.float32)
    return np.clip(np.rint(img), 0, 255).astype(np.uint8), lab

"""Face-aware inference on real photographs that ship in packages (scikit-image's astronaut, its cat
and coffee for photographs without a face): detection, alignment and its inverse, pasting, seams,
and every case a photograph brings (too small, too large, cut by the border, rotated, overlapping,
none)."""

import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
from skimage import data as skdata

from isr_kd_tf import faces
from tests.conftest import ROOT

pytest.importorskip("mtcnn")

LR_SIDE, SCALE = 16, 8
K = 8                                       # photographs shrunk 8x: faces of about 10x13 px, the size the
                                            # models' 16x16 training crops hold them at
ASTRONAUT_FACE = (182, 64, 83, 107)        # x, y, w, h of Eileen Collins' face in the 512x512 photograph


def _shrink(image, k):
    return cv2.resize(image, (image.shape[1] // k, image.shape[0] // k), interpolation=cv2.INTER_AREA)


def _bicubic_sr(lr):
    """A model that is bicubic upsampling: pasting it must change (almost) nothing."""
    return {"sr": np.stack([cv2.resize(x, (x.shape[1] * SCALE, x.shape[0] * SCALE), interpolation=cv2.INTER_CUBIC)
                            for x in np.asarray(lr, np.float32)])}


def _brighter_sr(lr):
    return {"sr": _bicubic_sr(lr)["sr"] + 40.0}


def _restore(*args, **kwargs):
    """faces.restore with the crop allowed to shrink a face to half: these tests place faces for the
    16x16 CelebA-framed crop, where the astronaut shrunk 8x fits at 0.67 (MIN_ZOOM is for real models)."""
    return faces.restore(*args, **{"min_zoom": 0.5, **kwargs})


@pytest.fixture(scope="module")
def det():
    return faces.detector()


def _found(photo, det):
    return faces.detect_faces(photo, det)


def test_the_astronaut_s_face_is_found_where_it_is(det):
    photo = _shrink(skdata.astronaut(), K)          # a 64x64 photograph
    (face,) = _found(photo, det)
    x, y, w, h = (v / K for v in ASTRONAUT_FACE)
    cx, cy = face.box[0] + face.box[2] / 2, face.box[1] + face.box[3] / 2
    assert abs(cx - (x + w / 2)) < 2 and abs(cy - (y + h / 2)) < 2
    eyes = face.landmarks[:2]
    assert eyes[0, 0] < eyes[1, 0] and x < eyes[:, 0].min() and eyes[:, 0].max() < x + w


def test_photographs_without_a_face_give_the_bicubic_upscale_and_say_so(tmp_path, det):
    for photo in (_shrink(skdata.chelsea(), 2), _shrink(skdata.coffee(), 4)):
        assert _found(photo, det) == []
        result = _restore(photo, [], _bicubic_sr, LR_SIDE, SCALE)
        np.testing.assert_array_equal(result.image, faces.upscale(photo, SCALE))


def test_the_alignment_s_inverse_maps_the_crop_back_within_a_pixel():
    rng = np.random.default_rng(0)
    angle, zoom = 0.4, 0.7
    rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    t = faces.template(LR_SIDE)
    photo_points = (t - t.mean(0)) @ rot.T / zoom + [20.0, 18.0] + rng.normal(0, 0.01, (5, 2))
    m = faces.similarity(photo_points, t)
    np.testing.assert_allclose(faces.apply(m, photo_points), t, atol=0.05)
    np.testing.assert_allclose(faces.apply(faces.invert(m), faces.apply(m, photo_points)), photo_points, atol=1e-9)
    # an image: a bright pixel at the nose, warped into the crop (x8) and back, lands on its own pixel
    nose = np.floor(photo_points[2]).astype(int)
    img = np.zeros((40, 40), np.float32)
    img[nose[1], nose[0]] = 1.0
    big = cv2.resize(img, (320, 320), interpolation=cv2.INTER_NEAREST)
    m_hr = faces.scaled(m, SCALE)
    crop = faces.warp(big, m_hr, (LR_SIDE * SCALE, LR_SIDE * SCALE), cv2.INTER_LINEAR, cv2.BORDER_CONSTANT)
    assert crop.max() > 0.5
    back = faces.unwarp(crop, m_hr, (320, 320), cv2.INTER_LINEAR)
    y, x = np.unravel_index(np.argmax(back), back.shape)
    assert abs(y / SCALE - (nose[1] + 0.5)) <= 1 and abs(x / SCALE - (nose[0] + 0.5)) <= 1


@pytest.mark.parametrize("framing,inside", [("native", 1), ("aligned", 6)])
def test_an_identity_model_changes_nothing_outside_the_faces_and_the_seam_has_no_step(det, framing, inside):
    """inside: the median change inside the crop, native's none (the photograph's own pixels), aligned's the
    round trip through the smaller warped crop."""
    photo = _shrink(skdata.astronaut(), K)
    found = _found(photo, det)
    plain = faces.upscale(photo, SCALE).astype(np.float32)
    same = _restore(photo, found, _bicubic_sr, LR_SIDE, SCALE, framing=framing)
    assert same.faces[0][1] == "" and len(same.crops) == 1
    diff = np.abs(same.image.astype(np.float32) - plain).max(-1)
    x, y, w, h = faces.footprint(found[0], LR_SIDE, SCALE, framing=framing)     # the crop's box, upscaled
    outside = np.ones_like(diff, bool)
    outside[max(0, int(y) - 2):int(y + h) + 3, max(0, int(x) - 2):int(x + w) + 3] = False
    assert diff[outside].max() == 0                                  # untouched outside the faces
    assert np.median(diff[~outside]) <= inside
    # a model that brightens by 40: a hard paste would step by 40 at the crop's edge
    grey = np.full_like(photo, 100)                    # the same face position on a flat photograph:
    lift = _restore(grey, found, _brighter_sr, LR_SIDE, SCALE, framing=framing).image.astype(np.float32).mean(-1) - 100
    # the lift is 40 x the blending mask
    assert lift.max() > 35                                          # the face got the model's output
    steps = max(np.abs(np.diff(lift, axis=0)).max(), np.abs(np.diff(lift, axis=1)).max())
    assert steps < 6, steps


def test_native_framing_gives_the_network_the_photograph_s_own_pixels_around_the_face(det):
    photo = _shrink(skdata.astronaut(), K)
    (face,) = _found(photo, det)
    seen = []
    r = faces.restore(photo, [face], lambda lr: seen.append(np.asarray(lr)) or _bicubic_sr(lr), LR_SIDE, SCALE)
    m, side = faces.crop_transform(faces.similarity(face.landmarks, faces.template(LR_SIDE)), LR_SIDE)
    x0, y0 = -m[:, 2].astype(int)
    assert np.array_equal(m[:, :2], np.eye(2)) and side % 4 == 0 and side >= LR_SIDE + 2 * faces.CONTEXT
    a, b = max(0, x0), max(0, y0)                     # (the astronaut's window runs over the top: reflected there)
    inside = seen[0][0][b - y0:, a - x0:][:photo.shape[0] - b, :photo.shape[1] - a]
    np.testing.assert_array_equal(inside, photo[b:y0 + side, a:x0 + side])          # copied, not resampled
    bx, by, bw, bh = face.box
    assert x0 <= bx and y0 <= by and bx + bw <= x0 + side and by + bh <= y0 + side   # the whole face, with context
    assert r.crops[0][2].shape == (side * SCALE, side * SCALE, 3)


def test_too_small_too_large_and_cut_faces_are_left_as_bicubic_with_one_note_each(det):
    astronaut = skdata.astronaut()
    small = _shrink(astronaut, K)
    (face,) = _found(small, det)
    tiny = faces.Face(face.box, face.landmarks / 3, face.score)          # the same face a third the size
    large = faces.Face(face.box, face.landmarks * 4, face.score)         # and four times it
    # aligned, by default a face the crop would shrink by more than 15 % (here to 0.67) stays bicubic: it keeps
    # more; native framing shrinks nothing and pastes it
    assert "too large" in faces.restore(small, [face], _brighter_sr, LR_SIDE, SCALE, framing="aligned").faces[0][1]
    assert faces.restore(small, [face], _brighter_sr, LR_SIDE, SCALE).faces[0][1] == ""
    for f, word in ((tiny, "too small"), (large, "too large")):
        r = _restore(small, [f], _brighter_sr, LR_SIDE, SCALE)
        assert word in r.faces[0][1] and r.crops == []
        np.testing.assert_array_equal(r.image, faces.upscale(small, SCALE))
    cut = small[:, 27:]                              # the photograph's left edge cuts through the face
    found = [faces.Face(face.box, face.landmarks - [27, 0], face.score)]
    r = _restore(cut, found, _brighter_sr, LR_SIDE, SCALE)
    assert "cut by the border" in r.faces[0][1]


def test_a_rotated_face_is_aligned_upright_with_aligned_framing(det):
    small = _shrink(skdata.astronaut(), K // 2)
    centre = (56.0, 30.0)
    rot = cv2.getRotationMatrix2D(centre, 25, 1.0)
    turned = _shrink(cv2.warpAffine(small, rot, (128, 128), flags=cv2.INTER_CUBIC,
                                    borderMode=cv2.BORDER_REFLECT101), 2)
    (face,) = _found(turned, det)
    (upright,) = _found(_shrink(small, 2), det)

    def angle(f):
        m = faces.similarity(f.landmarks, faces.template(LR_SIDE))
        return np.degrees(np.arctan2(m[1, 0], m[0, 0]))
    assert abs(angle(face) - angle(upright) - 25) < 6      # the alignment undoes the photograph's rotation
    r = _restore(turned, [face], _brighter_sr, LR_SIDE, SCALE, framing="aligned")
    assert r.faces[0][1] == "" and len(r.crops) == 1


def test_several_overlapping_faces_are_each_pasted(det):
    one = _shrink(skdata.astronaut(), K)[:48, 10:54]                   # 44 px wide, the face at x 12..22
    group = np.zeros((48, 56, 3), np.uint8)
    group[:, :44] = one
    group[:, 12:56] = np.where(np.arange(44)[None, :, None] < 10, group[:, 12:56], one)   # a second, 12 px on
    found = _found(group, det)
    assert len(found) == 2
    r = _restore(group, found, _brighter_sr, LR_SIDE, SCALE)
    assert len(r.crops) == 2 and any("overlaps face" in n for _, n in r.faces)


@pytest.mark.slow
def test_the_command_on_a_photograph_and_without_the_detector(tmp_path):
    photo = tmp_path / "astronaut.png"
    cv2.imwrite(str(photo), cv2.cvtColor(_shrink(skdata.astronaut(), K), cv2.COLOR_RGB2BGR))
    env = {**os.environ, "PYTHONPATH": ROOT}
    args = [sys.executable, "-m", "isr_kd_tf.infer", "--faces", f"--input={photo}",       # the default model
            f"--output={tmp_path / 'out'}", "--compare"]
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "1 of 1 face(s) super-resolved" in out.stdout
    assert sorted(os.listdir(tmp_path / "out")) == ["astronaut_face1_compare.png", "astronaut_x8.png"]
    assert cv2.imread(str(tmp_path / "out" / "astronaut_x8.png")).shape == (512, 512, 3)
    blocker = tmp_path / "no_mtcnn" / "mtcnn"
    os.makedirs(blocker)
    (blocker / "__init__.py").write_text("raise ImportError('not installed')\n")
    env["PYTHONPATH"] = f"{blocker.parent}{os.pathsep}{ROOT}"
    out = subprocess.run(args, capture_output=True, text=True, timeout=300, cwd=ROOT, env=env)
    assert out.returncode == 2 and out.stderr.strip().splitlines()[-1] == (
        'error: --faces needs the face detector: pip install -e ".[faces]" (the mtcnn package, weights included)')


def test_a_photograph_too_large_to_hold_upscaled_is_refused_in_one_line_before_any_work():
    from isr_kd_tf import infer
    from isr_kd_tf.errors import UserError
    huge = np.zeros((3000, 3000, 3), np.uint8)             # x8: 576 megapixels
    with pytest.raises(UserError, match="over 400 megapixels; downscale or crop it first"):
        infer.face_photo(lambda x: pytest.fail("the model ran"), huge, "out/huge_x8.png", False, None, LR_SIDE, SCALE)


def test_a_landmark_template_measured_on_aligned_crops_is_the_one_they_were_aligned_to(det):
    """zoo --face_template measures a training set's framing: on crops aligned to a known template,
    the measured mean landmarks are that template."""
    photo = skdata.astronaut()
    (face,) = _found(photo, det)
    crops = []
    for side, shift in ((96, 0.0), (96, 1.5), (96, -1.5)):
        points = faces.template(side) + shift
        crops.append(faces.warp(photo, faces.similarity(face.landmarks, points), (side, side)))
    landmarks, used = faces.measure_template(np.stack(crops), det)
    assert used == 3
    np.testing.assert_allclose(landmarks * 96, faces.template(96), atol=3.0)
    assert faces.landmark_error(landmarks * 12, faces.template(12)) < 0.1

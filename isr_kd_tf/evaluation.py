"""Scoring, results tables and sample grids shared by both papers.

A predictor is a function batch -> SR in [0, 255]; how a model reads its
batch (ISR-KD: `lr`; PKDN: `lr_up` and parsing) stays with the model.
"""

import json

import cv2
import numpy as np
import tensorflow as tf

from isr_kd_tf import data, fid, layout, metrics, visualize

BICUBIC = "bicubic"     # the row every table carries: the same LR, bicubic-upsampled


def bicubic(batch):
    """A predictor: the batch's LR bicubic-upsampled to HR size (the baseline row)."""
    return data.upsample_bicubic(batch["lr"], tf.shape(batch["hr"])[1:3])


def jpeg_roundtrip(images, quality):
    """[0, 255] images written as JPEG and read back, as the official ISR-KD test.py scores them
    (cv2.imwrite, quality 95 there; cv2 encodes BGR, so the channels are swapped around it)."""
    out = []
    for img in np.asarray(images):
        u8 = np.clip(np.round(img), 0, 255).astype(np.uint8)
        ok, buf = cv2.imencode(".jpg", np.ascontiguousarray(u8[..., ::-1]), [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
        if not ok:
            raise RuntimeError("cv2 could not encode a JPEG")
        out.append(cv2.imdecode(buf, cv2.IMREAD_COLOR)[..., ::-1])
    return np.stack(out).astype(np.float32)


def identity_scores(sr_desc, hr_desc):
    """{"id_cos": mean cosine similarity of each SR face's descriptor to its HR's, "id_verified": share of SR
    faces whose nearest HR descriptor (cosine) among the set is their own HR's}."""
    a = sr_desc / np.linalg.norm(sr_desc, axis=1, keepdims=True)
    b = hr_desc / np.linalg.norm(hr_desc, axis=1, keepdims=True)
    sim = a @ b.T
    return {"id_cos": float(np.mean(np.diag(sim))),
            "id_verified": float(np.mean(np.argmax(sim, axis=1) == np.arange(len(a))))}


def score(predict, dataset, crop_border=0, y_channel=False, reference=None, fid_extractor=None, progress=None,
          quantize=True, jpeg_quality=0, identity=None):
    """Mean PSNR and SSIM of `predict` over a finished eval dataset (and FID with an extractor).

    reference: another predictor whose outputs replace HR as the ground truth
    (ISR-KD Table II: how alike two models' outputs are). quantize: clip and
    round SR to uint8 values before scoring, as a saved image would be.
    jpeg_quality > 0: SR and the truth both go through a JPEG round trip first.
    identity: a face network (images -> descriptors) for identity_scores.
    Returns {"psnr", "ssim", "fid"} (fid None without an extractor), and with `identity` "id_cos" and
    "id_verified".
    """
    p, s, descs = [], [], []
    fid_acc = fid.FID(fid_extractor) if fid_extractor is not None else None
    for batch in dataset:
        sr = predict(batch)
        truth = batch["hr"] if reference is None else reference(batch)
        if jpeg_quality:
            sr, truth = jpeg_roundtrip(sr, jpeg_quality), jpeg_roundtrip(truth, jpeg_quality)
        p.append(metrics.psnr(sr, truth, crop_border, y_channel, quantize).numpy())
        s.append(metrics.ssim(sr, truth, crop_border, y_channel, quantize).numpy())
        if fid_acc is not None:
            fid_acc.add(tf.clip_by_value(tf.round(sr), 0, 255), truth)
        if identity is not None:
            pair = tf.clip_by_value(tf.round(tf.concat([tf.cast(sr, tf.float32), tf.cast(truth, tf.float32)], 0)),
                                    0, 255)
            descs.append(np.split(np.asarray(identity(pair)), 2))
        if progress is not None:
            progress.update(int(batch["hr"].shape[0]))
    if not p:
        return {"psnr": float("nan"), "ssim": float("nan"), "fid": None}
    out = {"psnr": float(np.mean(np.concatenate(p))), "ssim": float(np.mean(np.concatenate(s))),
           "fid": fid_acc.value() if fid_acc is not None else None}
    if identity is not None:
        out.update(identity_scores(np.concatenate([d[0] for d in descs]), np.concatenate([d[1] for d in descs])))
    return out


def results_markdown(rows, baseline, fid_label=fid.LABEL):
    """value (relative % change against the baseline model on the same test set)."""
    base = {r["test"]: r for r in rows if r["model"] == baseline}
    ident = any(r.get("id_cos") is not None for r in rows)
    lines = [f"| model | test | PSNR (Δ%) | SSIM (Δ%) | {fid_label} (Δ%) |" + (" ID cos | ID verified |" if ident else ""),
             "|---|---|---|---|---|" + ("---|---|" if ident else "")]
    for r in rows:
        b = base.get(r["test"])

        def cell(k, r=r, b=b):
            if r.get(k) is None:
                return "n/a (no FID network)"
            v = f"{r[k]:.4f}"
            if b is not None and r["model"] != baseline and b.get(k):
                v += f" ({100 * (r[k] - b[k]) / b[k]:+.2f})"
            return v

        ids = f" {r['id_cos']:.4f} | {100 * r['id_verified']:.1f} % |" if r.get("id_cos") is not None else (
            " n/a | n/a |" if ident else "")
        lines.append(f"| {r['model']} | {r['test']} | {cell('psnr')} | {cell('ssim')} | {cell('fid')} |" + ids)
    return "\n".join(lines) + "\n"


def write_results(workdir, title, rows, baseline, fid_label=fid.LABEL, **extra):
    """results.json and results.md (the table, then the protocol); returns the markdown table."""
    with open(layout.results(workdir), "w") as f:
        json.dump({"rows": rows, "baseline": baseline, "fid_network": fid_label, **extra}, f, indent=2)
    md = results_markdown(rows, baseline, fid_label)
    notes = "".join(f"- {k}: {v}\n" for k, v in extra.items())
    with open(layout.results_md(workdir), "w") as f:
        f.write(f"# {title}\n\nΔ% is the relative change against `{baseline}` on the same test set.\n\n{md}\n{notes}")
    return md


def write_samples(path, sets, predictors, pipeline_cfg, data_dir=None, n=3, columns=None):
    """samples.png: LR | bicubic | (the method's input columns) | each model | HR, n rows per test set.

    sets: (domain id, dataset name) pairs; predictors: {column name: batch -> SR};
    columns: batch -> {label: images} (Method.sample_columns), the same labels for every set.
    """
    rows, extra = [], {}
    for domain, name in sets:
        batch = next(iter(data.eval_dataset(name, "test", domain, pipeline_cfg, n, data_dir)))
        bic = tf.image.resize(batch["lr"], batch["hr"].shape[1:3], "bicubic").numpy()
        outs = [np.asarray(fn(batch)) for fn in predictors.values()]
        extra = columns(batch) if columns is not None else {}
        for i in range(min(n, batch["hr"].shape[0])):
            row = [batch["lr"][i].numpy(), bic[i]] + [np.asarray(v[i]) for v in extra.values()]
            rows.append(row + [o[i] for o in outs] + [batch["hr"][i].numpy()])
    labels = ["LR", "bicubic"] + list(extra) + list(predictors) + ["HR"]
    visualize.save_png(path, visualize.grid(rows, 128, labels))

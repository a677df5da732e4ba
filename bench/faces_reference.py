#!/usr/bin/env python3
"""Python reference face pipeline for `kuzet bench faces`.

An honest Python detect+quality+align+embed pipeline built from the usual parts
(opencv-python for decoding, resizing and warping, onnxruntime for inference,
numpy for post-processing), running the same ONNX models with the same pre- and
post-processing, thresholds, scales and thread settings as kuzet's default
FacePipeline (crates/faces/src/pipeline.rs). `kuzet bench faces` runs it on the
same photos and compares faces/s.

Stages (each timed with time.perf_counter, summed over the run, per image as kuzet):
  detect   YuNet-n (yunet_n_dynamic.onnx): kuzet's scales (long side capped at
           640; a second pass capped at 1280 when the long side is > 960, or a 2x
           pass when it is < 320), resize (cv2 INTER_AREA down / INTER_LINEAR
           up), pad bottom/right with 0 to multiples of 32, BGR raw 0-255 NCHW;
           score = sqrt(clip(cls)*clip(obj)) >= 0.6, grid decode, centres in the
           padding dropped, boxes clipped, all passes merged by greedy NMS at 0.3;
           with --min-face 32, kuzet's rule that skips the finer pass when it can
           only add faces below the gate's 32 px (default: always run it)
  align    least-squares similarity (Umeyama, closed form, as kuzet and
           skimage's SimilarityTransform) from the 5 landmarks to the ArcFace
           template, cv2.warpAffine to 112x112 (bilinear, black border)
  quality  pose from the landmarks, size, Laplacian variance of the aligned grey
           crop; the gate (size >= 32 px, |yaw| <= 45, sharpness >= 50), then for
           faces that pass it MiniFASNet V2 (2.7x crop) and V1SE (4.0x crop),
           80x80 BGR raw, mean softmax p(real) >= 0.05
  embed    faceplugin_fr_feature_512.onnx on faces that passed the gate, RGB
           (x-127)/128, L2-normalised

Excluded from every figure: interpreter start-up, imports, model load, image
decoding (cv2.imread, EXIF orientation applied) and one warm-up image run before
timing starts. onnxruntime: intra_op_num_threads=T, inter_op 1, sequential,
graph optimisation ALL, no spinning unless --spin (kuzet's defaults).

Usage:
  python faces_reference.py IMAGE... --models DIR [--threads T] [--repeat N]
      [--spin] [--json]
"""

import json
import sys
import time

import photo_common

DET_FILE = "face_detect/yunet_n_dynamic.onnx"
EMB_FILE = "face_embed/faceplugin_fr_feature_512.onnx"
SPOOF_FILES = (("anti_spoof/minifasnet_v2_scale2.7_80x80.onnx", 2.7),
               ("anti_spoof/minifasnet_v1se_scale4.0_80x80.onnx", 4.0))
STRIDES = (8, 16, 32)
MAX_SIDE, FINE_MAX_SIDE = 640, 1280
SCORE, NMS_IOU = 0.6, 0.3
MIN_SIZE, MIN_SHARPNESS, MAX_ABS_YAW, MIN_LIVENESS = 32.0, 50.0, 45.0, 0.05
TEMPLATE = [(38.2946, 51.6963), (73.5318, 51.5014), (56.0252, 71.7366),
            (41.5493, 92.3655), (70.7299, 92.2041)]


def parse_args(argv):
    p = photo_common.arg_parser(__doc__)
    p.add_argument("--min-face", type=float, default=0.0,
                   help="kuzet's FaceDetector::scales_for rule: skip the finer pass when a face "
                        "of this size is >= 16 px in the first pass (0 = always run it, the "
                        "plain two-scale rule) [0]")
    return p.parse_args(argv)


def main(argv):
    args = parse_args(argv)
    cv2, np, ort, session = photo_common.runtime(args)

    det, det_in = session(DET_FILE)
    det_names = [o.name for o in det.get_outputs()]
    emb, emb_in = session(EMB_FILE)
    spoofs = [(session(f), s) for f, s in SPOOF_FILES]
    template = np.array(TEMPLATE, dtype=np.float64)

    def scales(w, h):
        long = float(max(w, h))
        s = [min(MAX_SIDE / long, 1.0)]
        if long > 1.5 * MAX_SIDE and FINE_MAX_SIDE > MAX_SIDE:
            s.append(min(FINE_MAX_SIDE / long, 1.0))
        elif long < 0.5 * MAX_SIDE:
            s.append(2.0)
        if len(s) == 2 and s[0] < s[1] <= 1.0 and args.min_face * s[0] >= 16.0:
            s = s[:1]
        return s

    def detect_at(bgr, s):
        h, w = bgr.shape[:2]
        nw, nh = max(1, int(round(w * s))), max(1, int(round(h * s)))
        if (nw, nh) == (w, h):
            px = bgr
        else:
            interp = cv2.INTER_AREA if s < 1.0 else cv2.INTER_LINEAR
            px = cv2.resize(bgr, (nw, nh), interpolation=interp)
        pw, ph = -(-nw // 32) * 32, -(-nh // 32) * 32
        blob = np.zeros((1, 3, ph, pw), dtype=np.float32)
        blob[0, :, :nh, :nw] = px.transpose(2, 0, 1)
        out = dict(zip(det_names, det.run(None, {det_in: blob})))
        sx, sy = w / nw, h / nh
        boxes, scores, lms = [], [], []
        for st in STRIDES:
            cols = pw // st
            cls = out[f"cls_{st}"].reshape(-1)
            obj = out[f"obj_{st}"].reshape(-1)
            score = np.sqrt(np.clip(cls, 0, 1) * np.clip(obj, 0, 1))
            idx = np.nonzero(score >= SCORE)[0]
            if idx.size == 0:
                continue
            row, col = (idx // cols).astype(np.float32), (idx % cols).astype(np.float32)
            b = out[f"bbox_{st}"].reshape(-1, 4)[idx]
            k = out[f"kps_{st}"].reshape(-1, 10)[idx]
            cx, cy = (col + b[:, 0]) * st, (row + b[:, 1]) * st
            inside = (cx < nw) & (cy < nh)
            bw, bh = np.exp(b[:, 2]) * st, np.exp(b[:, 3]) * st
            x1 = np.clip((cx - bw / 2) * sx, 0, w)
            y1 = np.clip((cy - bh / 2) * sy, 0, h)
            x2 = np.clip((cx + bw / 2) * sx, 0, w)
            y2 = np.clip((cy + bh / 2) * sy, 0, h)
            bb = np.stack([x1, y1, x2, y2], axis=1)
            ok = inside & np.isfinite(bb).all(axis=1) & (x2 > x1) & (y2 > y1)
            lx = (col[:, None] + k[:, 0::2]) * st * sx
            ly = (row[:, None] + k[:, 1::2]) * st * sy
            boxes.append(bb[ok])
            scores.append(score[idx][ok])
            lms.append(np.stack([lx, ly], axis=2)[ok])
        return boxes, scores, lms

    def detect(bgr):
        boxes, scores, lms = [], [], []
        for s in scales(bgr.shape[1], bgr.shape[0]):
            b, sc, lm = detect_at(bgr, s)
            boxes += b
            scores += sc
            lms += lm
        if not boxes:
            return []
        boxes, scores, lms = np.concatenate(boxes), np.concatenate(scores), np.concatenate(lms)
        order = np.argsort(-scores, kind="stable")
        areas = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        keep = []
        for i in order:
            if keep:
                kb = boxes[keep]
                iw = np.clip(np.minimum(kb[:, 2], boxes[i, 2]) - np.maximum(kb[:, 0], boxes[i, 0]), 0, None)
                ih = np.clip(np.minimum(kb[:, 3], boxes[i, 3]) - np.maximum(kb[:, 1], boxes[i, 1]), 0, None)
                inter = iw * ih
                iou = inter / np.maximum(areas[keep] + areas[i] - inter, 1e-12)
                if (iou > NMS_IOU).any():
                    continue
            keep.append(i)
        return [(boxes[i], float(scores[i]), lms[i]) for i in keep]

    def similarity(src):
        src = src.astype(np.float64)
        ms, md = src.mean(0), template.mean(0)
        s, d = src - ms, template - md
        den = (s ** 2).sum()
        if den <= 1e-9:
            return None
        a = (s[:, 0] * d[:, 0] + s[:, 1] * d[:, 1]).sum() / den
        b = (s[:, 0] * d[:, 1] - s[:, 1] * d[:, 0]).sum() / den
        tx = md[0] - (a * ms[0] - b * ms[1])
        ty = md[1] - (b * ms[0] + a * ms[1])
        return np.array([[a, -b, tx], [b, a, ty]], dtype=np.float64)

    def pose(lm):
        le, re = lm[0], lm[1]
        roll = np.arctan2(re[1] - le[1], re[0] - le[0])
        c, s = np.cos(roll), np.sin(roll)
        rot = lm[:, 0] * c + lm[:, 1] * s
        eye_half = max(abs((rot[1] - rot[0]) / 2), 1e-3)
        mid = (rot[0] + rot[1] + rot[3] + rot[4]) / 4
        return np.degrees(np.arctan((rot[2] - mid) / eye_half)), np.degrees(roll)

    grey_w = np.array([0.114, 0.587, 0.299], dtype=np.float32)  # BGR

    def sharpness(crop_bgr):
        g = crop_bgr.astype(np.float32) @ grey_w
        lap = cv2.Laplacian(g, cv2.CV_32F, ksize=1)[1:-1, 1:-1].astype(np.float64)
        return float(lap.var())

    def spoof_crop(box, w, h, scale):
        bw, bh = max(box[2] - box[0], 1.0), max(box[3] - box[1], 1.0)
        scale = max(min(scale, (h - 1) / bh, (w - 1) / bw), 0.0)
        nw, nh = bw * scale, bh * scale
        cx, cy = box[0] + bw / 2, box[1] + bh / 2
        x1, y1, x2, y2 = cx - nw / 2, cy - nh / 2, cx + nw / 2, cy + nh / 2
        if x1 < 0:
            x2 -= x1
            x1 = 0.0
        if y1 < 0:
            y2 -= y1
            y1 = 0.0
        if x2 > w - 1:
            x1 -= x2 - w + 1
            x2 = w - 1
        if y2 > h - 1:
            y1 -= y2 - h + 1
            y2 = h - 1
        x1, y1, x2, y2 = max(np.floor(x1), 0), max(np.floor(y1), 0), np.floor(x2), np.floor(y2)
        return int(x1), int(y1), int(max(min(x2 - x1 + 1, w - x1), 1)), int(max(min(y2 - y1 + 1, h - y1), 1))

    def p_real(bgr, box):
        h, w = bgr.shape[:2]
        total = 0.0
        for (sess, name), scale in spoofs:
            x, y, cw, ch = spoof_crop(box, w, h, scale)
            crop = cv2.resize(bgr[y:y + ch, x:x + cw], (80, 80), interpolation=cv2.INTER_LINEAR)
            blob = crop.transpose(2, 0, 1)[None].astype(np.float32)
            v = sess.run(None, {name: blob})[0].reshape(-1).astype(np.float64)
            e = np.exp(v - v.max())
            total += e[1] / e.sum()
        return total / len(spoofs)

    t = {"detect": 0.0, "quality": 0.0, "align": 0.0, "embed": 0.0}
    counts = {"faces": 0, "embedded": 0}

    def analyze(bgr, timed):
        c = time.perf_counter
        t0 = c()
        faces = detect(bgr)
        t1 = c()
        st = {"detect": t1 - t0, "quality": 0.0, "align": 0.0, "embed": 0.0}
        nf, ne = 0, 0
        for box, score, lm in faces:
            nf += 1
            q0 = c()
            yaw, _roll = pose(lm)
            size = min(box[2] - box[0], box[3] - box[1])
            a0 = c()
            m = similarity(lm)
            crop = None if m is None else cv2.warpAffine(
                bgr, m, (112, 112), flags=cv2.INTER_LINEAR,
                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            a1 = c()
            st["align"] += a1 - a0
            if crop is None:
                st["quality"] += a0 - q0
                continue
            ok = size >= MIN_SIZE and abs(yaw) <= MAX_ABS_YAW and sharpness(crop) >= MIN_SHARPNESS
            if ok:
                ok = p_real(bgr, box) >= MIN_LIVENESS
            a2 = c()
            st["quality"] += (a0 - q0) + (a2 - a1)
            if ok:
                rgb = crop[:, :, ::-1]
                blob = ((rgb.astype(np.float32) - 127.0) / 128.0).transpose(2, 0, 1)[None]
                e = emb.run(None, {emb_in: np.ascontiguousarray(blob)})[0].reshape(-1)
                n = float(np.linalg.norm(e))
                if not (np.isfinite(n) and n > 0):
                    sys.exit("faces_reference.py: zero or non-finite embedding")
                e = e / n
                st["embed"] += c() - a2
                ne += 1
        if timed:
            for k in t:
                t[k] += st[k]
            counts["faces"] += nf
            counts["embedded"] += ne
        return nf, ne

    images = []
    for p in args.images:
        im = cv2.imread(p, cv2.IMREAD_COLOR)
        if im is None:
            sys.exit(f"faces_reference.py: cannot read {p}")
        images.append(im)
    if not images:
        sys.exit("faces_reference.py: no images")
    analyze(images[0], False)  # warm-up

    t0 = time.perf_counter()
    c0 = time.process_time()
    per_image = []
    for r in range(max(1, args.repeat)):
        for im in images:
            nf, ne = analyze(im, True)
            if r == 0:
                per_image.append([nf, ne])
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    n_img = len(images) * max(1, args.repeat)
    emb_n = counts["embedded"]
    rep = {
        "images": len(images),
        "repeat": max(1, args.repeat),
        "faces_detected": counts["faces"] // max(1, args.repeat),
        "faces_embedded": emb_n // max(1, args.repeat),
        "per_image_faces_embedded": per_image,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "faces_per_s": round(emb_n / max(wall, 1e-9), 3),
        "images_per_s": round(n_img / max(wall, 1e-9), 3),
        "stage_ms_per_image": {k: round(v * 1000 / n_img, 3) for k, v in t.items()},
        "threads": args.threads,
        "ort_spinning": bool(args.spin),
        "min_face": args.min_face,
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }
    if args.json:
        print(json.dumps(rep))
    else:
        for k, v in rep.items():
            if k != "per_image_faces_embedded":
                print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

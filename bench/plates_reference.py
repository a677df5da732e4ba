#!/usr/bin/env python3
"""Python reference plate reader for `kuzet bench plates`.

The obvious Python ANPR script (opencv-python for resizing and warping,
onnxruntime for inference, numpy for post-processing) doing the same work as
kuzet's `Anpr::recognize` in the configuration `kuzet bench plates` times
(crates/vehicles/src/anpr.rs, `line_isolation = false`, `text_fallback =
false`): the same ONNX models, thresholds, crop sizes and batch shapes.

Per image:
  vehicles   YOLOX-nano (coco_detect/yolox_nano.onnx): letterbox to 416
             top-left, pad 114, BGR raw; obj*cls >= 0.3 for car, motorcycle,
             bus, truck; class-aware NMS 0.45; best score first
  localise   RetinaFace-MNet0.25 plate model (plate/retina_plate_mnet025_4pt.onnx)
             on the whole image and on each of the best 8 vehicles (box grown
             by 5 % per side, scaled so its longer side fits 640, up or down):
             letterbox top-left, BGR - (104,117,123), SSD priors, score >= 0.3,
             boxes centred in the padding dropped, NMS 0.4 per run; a vehicle's plate must be centred in its box; all
             candidates merged by NMS 0.3, the best 6 kept
  rectify    corners grown by 4 % of the width and 10 % of the height per side,
             perspective warp to height 48 (width from the corners' aspect,
             16..640 px), then the same crop stretched to 1.5x its width
  recognise  PP-OCRv4 rec (ocr/ch_PP-OCRv4_rec_infer.onnx), both crops of a
             plate as one batch: resize to height 48, BGR (x/255-0.5)/0.5,
             right-pad with 0 to the widest (at least 320, multiple of 8);
             greedy CTC with the dictionary from the model's metadata

Not done here (and not by kuzet in the timed configuration): the character-line
finder and text-detector fallback (PP-OCRv4 det), format normalisation and
voting (microseconds per plate in kuzet; they read no pixels).

Excluded from every figure: interpreter start-up, imports, model load, image
decoding (cv2.imread) and one warm-up image. onnxruntime: intra_op_num_threads=T,
inter_op 1, sequential, graph optimisation ALL, no spinning unless --spin
(kuzet's defaults).

Usage:
  python plates_reference.py IMAGE... --models DIR [--threads T] [--repeat N]
      [--spin] [--json]
"""

import json
import sys
import time

import photo_common

YOLOX_FILE = "coco_detect/yolox_nano.onnx"
PLATE_FILE = "plate/retina_plate_mnet025_4pt.onnx"
REC_FILE = "ocr/ch_PP-OCRv4_rec_infer.onnx"
VEHICLE_IDS = (2, 3, 5, 7)  # COCO: car, motorcycle, bus, truck
YOLOX_INPUT, YOLOX_PAD, YOLOX_SCORE, YOLOX_NMS = 416, 114, 0.3, 0.45
PLATE_SIZE, PLATE_SCORE, PLATE_NMS, MERGE_NMS = 640, 0.3, 0.4, 0.3
MAX_VEHICLES, MAX_CANDIDATES = 8, 6
MEAN_BGR = (104.0, 117.0, 123.0)
MARGIN_X, MARGIN_Y = 0.04, 0.10
REC_H, REC_MIN_W, REC_MAX_W = 48, 320, 1280
STRETCHES = (1.0, 1.5)


def parse_args(argv):
    return photo_common.arg_parser(__doc__).parse_args(argv)


def main(argv):
    args = parse_args(argv)
    cv2, np, ort, session = photo_common.runtime(args)

    yolox, yolox_in = session(YOLOX_FILE)
    plate, plate_in = session(PLATE_FILE)
    rec, rec_in = session(REC_FILE)
    meta = rec.get_modelmeta().custom_metadata_map
    dictionary = [l for l in meta["character"].split("\n") if l]
    dict_arr = np.array(dictionary + [" "], dtype=object)

    # YOLOX grid (strides 8/16/32 at 416).
    grids, strides = [], []
    for s in (8, 16, 32):
        n = YOLOX_INPUT // s
        yv, xv = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grids.append(np.stack([xv, yv], axis=-1).reshape(-1, 2))
        strides.append(np.full((n * n, 1), s))
    grid_xy = np.concatenate(grids).astype(np.float32)
    grid_s = np.concatenate(strides).astype(np.float32)

    # Plate SSD priors (cx, cy, w, h), normalised, in the model's order.
    pri = []
    for step, sizes in ((8, (24, 48)), (16, (96, 192)), (32, (384, 768))):
        n = -(-PLATE_SIZE // step)
        for i in range(n):
            for j in range(n):
                for m in sizes:
                    pri.append(((j + 0.5) * step / PLATE_SIZE, (i + 0.5) * step / PLATE_SIZE,
                                m / PLATE_SIZE, m / PLATE_SIZE))
    priors = np.array(pri, dtype=np.float32)

    def nms(boxes, scores, iou):
        """Greedy NMS, best first; returns kept indices."""
        order = np.argsort(-scores, kind="stable")
        keep = []
        areas = (boxes[:, 2] - boxes[:, 0]).clip(0) * (boxes[:, 3] - boxes[:, 1]).clip(0)
        for i in order:
            ok = True
            for k in keep:
                xx1 = max(boxes[i, 0], boxes[k, 0])
                yy1 = max(boxes[i, 1], boxes[k, 1])
                xx2 = min(boxes[i, 2], boxes[k, 2])
                yy2 = min(boxes[i, 3], boxes[k, 3])
                inter = max(0.0, xx2 - xx1) * max(0.0, yy2 - yy1)
                u = areas[i] + areas[k] - inter
                if u > 0 and inter / u > iou:
                    ok = False
                    break
            if ok:
                keep.append(i)
        return keep

    def vehicles(bgr):
        h, w = bgr.shape[:2]
        r = min(YOLOX_INPUT / h, YOLOX_INPUT / w)
        nw, nh = int(round(w * r)), int(round(h * r))
        padded = np.full((YOLOX_INPUT, YOLOX_INPUT, 3), YOLOX_PAD, dtype=np.uint8)
        padded[:nh, :nw] = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LINEAR)
        blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
        out = yolox.run(None, {yolox_in: blob})[0][0]
        cls = out[:, 5:] * out[:, 4:5]
        cid = cls.argmax(axis=1)
        score = cls[np.arange(cls.shape[0]), cid]
        sel = (score >= YOLOX_SCORE) & np.isin(cid, VEHICLE_IDS)
        if not sel.any():
            return []
        o, g, s, sc, ci = out[sel], grid_xy[sel], grid_s[sel], score[sel], cid[sel]
        cxcy = (o[:, 0:2] + g) * s
        wh = np.exp(o[:, 2:4]) * s
        xywh = np.concatenate([cxcy - wh / 2, wh], axis=1)
        idx = cv2.dnn.NMSBoxesBatched(xywh.tolist(), sc.tolist(), ci.tolist(),
                                      YOLOX_SCORE, YOLOX_NMS)
        idx = np.asarray(idx, dtype=np.int64).reshape(-1)
        idx = idx[np.argsort(-sc[idx], kind="stable")]
        boxes = np.concatenate([xywh[idx, 0:2], xywh[idx, 0:2] + xywh[idx, 2:4]], axis=1) / r
        boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
        boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
        return [(b, float(sc[k])) for b, k in zip(boxes, idx)]

    def plates(bgr, roi=None):
        """Plates in roi (x1,y1,x2,y2) or the whole image: (boxes, corners TL TR BR BL, scores)."""
        ih, iw = bgr.shape[:2]
        if roi is None:
            roi = (0.0, 0.0, float(iw), float(ih))
        x1, y1 = max(0.0, roi[0]), max(0.0, roi[1])
        x2, y2 = min(float(iw), roi[2]), min(float(ih), roi[3])
        rx, ry = int(np.floor(x1)), int(np.floor(y1))
        rw, rh = int(np.ceil(x2)) - rx, int(np.ceil(y2)) - ry
        if rw < 8 or rh < 8:
            return np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0)
        r = min(PLATE_SIZE / rw, PLATE_SIZE / rh)
        nw = min(max(int(round(rw * r)), 1), PLATE_SIZE)
        nh = min(max(int(round(rh * r)), 1), PLATE_SIZE)
        resized = cv2.resize(bgr[ry:ry + rh, rx:rx + rw], (nw, nh), interpolation=cv2.INTER_LINEAR)
        blob = np.zeros((1, 3, PLATE_SIZE, PLATE_SIZE), dtype=np.float32)
        blob[0, :, :nh, :nw] = (resized.astype(np.float32) - MEAN_BGR).transpose(2, 0, 1)
        loc, conf, landms = plate.run(None, {plate_in: blob})
        loc, conf, landms = loc.reshape(-1, 4), conf.reshape(-1, 2), landms.reshape(-1, 8)
        keep = conf[:, 1] >= PLATE_SCORE
        if not keep.any():
            return np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros(0)
        p, l, lm, sc = priors[keep], loc[keep], landms[keep], conf[keep, 1]
        c = p[:, :2] + l[:, :2] * 0.1 * p[:, 2:]
        wh = p[:, 2:] * np.exp(l[:, 2:] * 0.2)
        scale = PLATE_SIZE / r
        off = np.array([rx, ry], dtype=np.float32)
        boxes = np.concatenate([c - wh / 2, c + wh / 2], axis=1) * scale + np.tile(off, 2)
        pts = (p[:, None, :2] + lm.reshape(-1, 4, 2) * 0.1 * p[:, None, 2:]) * scale + off
        corners = pts[:, [2, 3, 0, 1]]  # model order BR, BL, TL, TR -> TL, TR, BR, BL
        # a box centred in the padding is not on the image
        cx, cy = (boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2
        inside = (cx >= rx) & (cy >= ry) & (cx <= rx + rw) & (cy <= ry + rh)
        boxes, corners, sc = boxes[inside], corners[inside], sc[inside]
        k = nms(boxes, sc, PLATE_NMS)
        return boxes[k], corners[k], sc[k]

    def rectify(bgr, q):
        """Warp of the corners grown by the margins to height 48, or None."""
        d = lambda a, b: float(np.hypot(*(a - b)))
        w_ = (d(q[0], q[1]) + d(q[3], q[2])) / 2
        h_ = (d(q[0], q[3]) + d(q[1], q[2])) / 2
        if h_ <= 0 or not 0.8 <= w_ / h_ <= 12.0:
            return None
        aspect = w_ / h_
        w = min(max(int(round(REC_H * aspect * (1 + 2 * MARGIN_X) / (1 + 2 * MARGIN_Y))), 16), 640)
        unit = np.float32([[0, 0], [1, 0], [1, 1], [0, 1]])
        hu = cv2.getPerspectiveTransform(unit, q.astype(np.float32))
        grown = np.float32([[-MARGIN_X, -MARGIN_Y], [1 + MARGIN_X, -MARGIN_Y],
                            [1 + MARGIN_X, 1 + MARGIN_Y], [-MARGIN_X, 1 + MARGIN_Y]])
        src = cv2.perspectiveTransform(grown[None], hu)[0]
        dst = np.float32([[0, 0], [w, 0], [w, REC_H], [0, REC_H]])
        m = cv2.getPerspectiveTransform(src, dst)
        return cv2.warpPerspective(bgr, m, (w, REC_H), flags=cv2.INTER_LINEAR,
                                   borderMode=cv2.BORDER_REPLICATE)

    def recognise(crops):
        lines = []
        for c in crops:
            w = min(max(int(np.ceil(REC_H * c.shape[1] / c.shape[0])), 8), REC_MAX_W)
            lines.append(cv2.resize(c, (w, REC_H), interpolation=cv2.INTER_LINEAR))
        wmax = -(-max(max(l.shape[1] for l in lines), REC_MIN_W) // 8) * 8
        blob = np.zeros((len(lines), 3, REC_H, wmax), dtype=np.float32)
        for i, l in enumerate(lines):
            blob[i, :, :, :l.shape[1]] = (l.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)
        probs = rec.run(None, {rec_in: blob})[0]
        out = []
        for pr in probs:
            idx = pr.argmax(axis=1)
            conf = pr[np.arange(pr.shape[0]), idx]
            keep = (idx != 0) & np.concatenate([[True], idx[1:] != idx[:-1]])
            text = "".join(dict_arr[idx[keep] - 1])
            out.append((text, float(conf[keep].mean()) if keep.any() else 0.0))
        return out

    def analyze(bgr):
        """Plates read in the image and the best read's text."""
        vs = vehicles(bgr)
        boxes, corners, scores = plates(bgr)
        cands = [(b, c, s) for b, c, s in zip(boxes, corners, scores)]
        for vb, _ in vs[:MAX_VEHICLES]:
            dx, dy = (vb[2] - vb[0]) * 0.05, (vb[3] - vb[1]) * 0.05
            b2, c2, s2 = plates(bgr, (vb[0] - dx, vb[1] - dy, vb[2] + dx, vb[3] + dy))
            for b, c, s in zip(b2, c2, s2):
                cx, cy = (b[0] + b[2]) / 2, (b[1] + b[3]) / 2
                if vb[0] <= cx <= vb[2] and vb[1] <= cy <= vb[3]:
                    cands.append((b, c, s))
        if not cands:
            return 0, None
        k = nms(np.array([c[0] for c in cands]), np.array([c[2] for c in cands]), MERGE_NMS)
        read, best = 0, None
        for i in k[:MAX_CANDIDATES]:
            _, q, s = cands[i]
            crop = rectify(bgr, q)
            if crop is None:
                continue
            crops = [crop if f == 1.0 else
                     cv2.resize(crop, (int(round(crop.shape[1] * f)), REC_H),
                                interpolation=cv2.INTER_LINEAR) for f in STRETCHES]
            read += 1
            for text, conf in recognise(crops):
                if best is None or s * conf > best[1]:
                    best = (text, s * conf)
        return read, best[0] if best else None

    images = []
    for path in args.images:
        im = cv2.imread(path, cv2.IMREAD_COLOR)
        if im is None:
            print(f"cannot read {path}", file=sys.stderr)
            return 2
        images.append(im)
    analyze(images[0])  # warm-up, not counted
    t0 = time.perf_counter()
    c0 = time.process_time()
    per_image, texts, plates_read = [], [], 0
    for r in range(max(1, args.repeat)):
        for im in images:
            n, text = analyze(im)
            plates_read += n
            if r == 0:
                per_image.append(n)
                texts.append(text)
    wall = time.perf_counter() - t0
    cpu = time.process_time() - c0
    reps = max(1, args.repeat)
    rep = {
        "images": len(images),
        "repeat": reps,
        "plates_read": plates_read // reps,
        "per_image_plates_read": per_image,
        "best_raw_text": texts,
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "plates_per_s": round(plates_read / max(wall, 1e-9), 3),
        "images_per_s": round(len(images) * reps / max(wall, 1e-9), 3),
        "threads": args.threads,
        "ort_spinning": bool(args.spin),
        "onnxruntime": ort.__version__,
        "opencv": cv2.__version__,
        "numpy": np.__version__,
    }
    if args.json:
        print(json.dumps(rep))
    else:
        for k, v in rep.items():
            if k not in ("per_image_plates_read", "best_raw_text"):
                print(f"{k}: {v}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

#!/usr/bin/env python3
"""Python reference pipeline for `kuzet bench`.

A minimal, honest Python CCTV detection pipeline built from the usual parts
(opencv-python for decoding and resizing, onnxruntime for inference, numpy for
post-processing), running the same YOLOX-nano model, on the same video, with the
same frame sampling and thresholds as kuzet. `kuzet bench --python` runs it and
compares its throughput and CPU cost with the Rust pipeline.

Stages (each timed with time.perf_counter, summed over the run):
  decode       cv2.VideoCapture.grab() for every source frame, .retrieve() (BGR
               conversion) only for the frames kept by the fps sampler
  preprocess   letterbox to 416x416 (r=min(416/h,416/w), cv2.resize INTER_LINEAR,
               top-left, pad 114), BGR raw 0-255 float32 NCHW
  inference    onnxruntime CPU session, intra_op_num_threads=T
  postprocess  grid decode, score=obj*cls (best class per anchor, as YOLOX's own
               postprocess), threshold, class filter, class-aware NMS, divide by r,
               clip to the frame

Excluded from every figure: interpreter start-up, imports, model load, opening
the video and one warm-up inference (run on a padding-only input before timing
starts). Every analysed frame of the run is counted.

Usage:
  python reference.py VIDEO --model yolox_nano.onnx [--fps 5] [--frames N]
      [--threads 2] [--score 0.3] [--nms 0.45] [--classes person,car,...]
      [--names coco80.names] [--no-spin] [--json] [--dump-detections FILE]
"""

import argparse
import json
import os
import sys
import time

INPUT = 416
STRIDES = (8, 16, 32)
PAD_VALUE = 114
# coco80.names uses the Darknet spellings; accept the COCO-API ones too in --classes.
ALIASES = {"motorcycle": "motorbike", "airplane": "aeroplane", "couch": "sofa",
           "dining table": "diningtable", "tv": "tvmonitor", "potted plant": "pottedplant"}


class Sampler:
    """Port of kuzet's media::Sampler (crates/media/src/sampler.rs): keeps frames on
    a schedule of slots spaced 1/fps apart (not "1/fps after the last kept frame",
    which would keep every 7th frame of a 29.97 fps stream at 5 fps), with 1 ms
    tolerance, restarting the schedule after gaps or backwards jumps."""

    TOLERANCE_US = 1_000

    def __init__(self, target_fps):
        ok = target_fps is not None and target_fps == target_fps and 0 < target_fps < float("inf")
        self.interval_us = max(1, int(round(1e6 / target_fps))) if ok else None
        self.next_due_us = None

    def keep(self, pts_us):
        interval = self.interval_us
        if interval is None:
            return True
        due = self.next_due_us
        if due is None:
            self.next_due_us = pts_us + interval
            return True
        if pts_us + 2 * interval < due:  # timestamps went backwards: restart
            self.next_due_us = pts_us + interval
            return True
        if pts_us + self.TOLERANCE_US < due:
            return False
        nxt = due + interval
        self.next_due_us = pts_us + interval if nxt <= pts_us else nxt
        return True


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("video", help="video file readable by cv2.VideoCapture (FFmpeg backend)")
    p.add_argument("--model", required=True, help="path to yolox_nano.onnx")
    p.add_argument("--names", help="class names file, one per line (default: coco80.names next to the model)")
    p.add_argument("--fps", type=float, default=5.0,
                   help="analysis fps, sampled by presentation time exactly as kuzet's media::Sampler "
                        "(<= 0: keep every frame) [5]")
    p.add_argument("--frames", type=int, default=0, help="stop after N analysed frames (0: whole video) [0]")
    p.add_argument("--threads", type=int, default=2,
                   help="onnxruntime intra_op_num_threads, OpenCV threads and FFmpeg decoder threads [2]")
    p.add_argument("--score", type=float, default=0.3, help="score threshold (obj*cls) [0.3]")
    p.add_argument("--nms", type=float, default=0.45, help="class-aware NMS IoU threshold [0.45]")
    p.add_argument("--classes", default="",
                   help="comma-separated class names to keep, e.g. person,car (default: all 80)")
    p.add_argument("--no-spin", action="store_true",
                   help="set session.intra_op.allow_spinning=0 (onnxruntime's default is to spin, which "
                        "costs CPU time while waiting; use only if the Rust side does the same)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.add_argument("--dump-detections", metavar="FILE",
                   help="write per-frame detections as JSON lines to FILE")
    return p.parse_args(argv)


def load_names(args):
    path = args.names or os.path.join(os.path.dirname(os.path.abspath(args.model)), "coco80.names")
    with open(path, encoding="utf-8") as f:
        names = [line.strip() for line in f if line.strip()]
    if len(names) != 80:
        sys.exit(f"reference.py: {path}: expected 80 class names, found {len(names)}")
    return names


def main(argv=None):
    args = parse_args(argv if argv is not None else sys.argv[1:])
    if args.threads < 1:
        sys.exit("reference.py: --threads must be >= 1")

    # Thread limits must be set before numpy/cv2/onnxruntime spin up their pools.
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ.setdefault(var, str(args.threads))

    import cv2
    import numpy as np
    import onnxruntime as ort

    cv2.setNumThreads(args.threads)
    names = load_names(args)
    if args.classes.strip():
        wanted = [c.strip() for c in args.classes.split(",") if c.strip()]
        wanted = [c if c in names else ALIASES.get(c, c) for c in wanted]
        unknown = [c for c in wanted if c not in names]
        if unknown:
            sys.exit(f"reference.py: unknown class name(s): {', '.join(unknown)}")
        keep_ids = sorted({names.index(c) for c in wanted})
    else:
        keep_ids = list(range(80))
    keep_mask = np.zeros(80, dtype=bool)
    keep_mask[keep_ids] = True

    # ---- setup (not timed) ------------------------------------------------------
    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    if args.no_spin:
        so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    sess = ort.InferenceSession(args.model, sess_options=so, providers=["CPUExecutionProvider"])
    in_name = sess.get_inputs()[0].name
    out_name = sess.get_outputs()[0].name

    # Grid for the 3549 output rows: stride 8 (52x52), 16 (26x26), 32 (13x13), row-major.
    grid_xy, grid_s = [], []
    for s in STRIDES:
        n = INPUT // s
        ys, xs = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
        grid_xy.append(np.stack([xs.ravel(), ys.ravel()], axis=1))
        grid_s.append(np.full((n * n, 1), s))
    grid_xy = np.concatenate(grid_xy).astype(np.float32)
    grid_s = np.concatenate(grid_s).astype(np.float32)

    # Warm-up inference (excluded): first run allocates buffers / picks kernels.
    warm = np.full((1, 3, INPUT, INPUT), PAD_VALUE, dtype=np.float32)
    sess.run([out_name], {in_name: warm})

    cap = cv2.VideoCapture(args.video, cv2.CAP_FFMPEG, [cv2.CAP_PROP_N_THREADS, args.threads])
    if not cap.isOpened():
        cap = cv2.VideoCapture(args.video)
    if not cap.isOpened():
        sys.exit(f"reference.py: cannot open {args.video}")
    native_fps = cap.get(cv2.CAP_PROP_FPS)
    if not native_fps or native_fps <= 0 or native_fps > 1000:
        native_fps = 25.0
    sampler = Sampler(args.fps if args.fps > 0 else None)

    dump = open(args.dump_detections, "w", encoding="utf-8") if args.dump_detections else None

    stages = {"decode": 0.0, "preprocess": 0.0, "inference": 0.0, "postprocess": 0.0}
    per_class = {}
    total_dets = 0
    analysed = 0
    src_index = -1
    prev_ts = None
    use_msec = True
    frame_w = frame_h = 0
    pc = time.perf_counter

    # ---- timed loop ---------------------------------------------------------------
    cpu0 = time.process_time()
    wall0 = pc()
    while args.frames <= 0 or analysed < args.frames:
        t0 = pc()
        if not cap.grab():
            stages["decode"] += pc() - t0
            break
        src_index += 1
        # Timestamp of the frame just grabbed: CAP_PROP_POS_MSEC, or index/native fps
        # once the container's timestamps turn out to be missing or non-monotonic.
        ts = None
        if use_msec:
            ms = cap.get(cv2.CAP_PROP_POS_MSEC)
            if ms is None or ms < 0 or (prev_ts is not None and ms / 1000.0 <= prev_ts):
                use_msec = False
            else:
                ts = ms / 1000.0
        if ts is None:
            ts = src_index / native_fps
        prev_ts = ts
        if not sampler.keep(int(round(ts * 1e6))):
            stages["decode"] += pc() - t0
            continue
        ok, frame = cap.retrieve()
        t1 = pc()
        stages["decode"] += t1 - t0
        if not ok or frame is None:
            continue

        # preprocess: letterbox, top-left, pad 114, BGR raw 0-255 float32 NCHW
        h, w = frame.shape[:2]
        frame_w, frame_h = w, h
        r = min(INPUT / h, INPUT / w)
        nw, nh = int(w * r), int(h * r)
        resized = cv2.resize(frame, (nw, nh), interpolation=cv2.INTER_LINEAR)
        padded = np.full((INPUT, INPUT, 3), PAD_VALUE, dtype=np.uint8)
        padded[:nh, :nw] = resized
        blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None], dtype=np.float32)
        t2 = pc()
        stages["preprocess"] += t2 - t1

        out = sess.run([out_name], {in_name: blob})[0][0]  # [3549, 85]
        t3 = pc()
        stages["inference"] += t3 - t2

        # postprocess: best class per anchor, score = obj*cls, threshold, keep listed
        # classes, class-aware NMS in 416 space, then divide by r and clip.
        cls_scores = out[:, 5:] * out[:, 4:5]
        cls_id = cls_scores.argmax(axis=1)
        score = cls_scores[np.arange(cls_scores.shape[0]), cls_id]
        sel = (score >= args.score) & keep_mask[cls_id]
        dets = []
        if sel.any():
            o = out[sel]
            g = grid_xy[sel]
            s = grid_s[sel]
            cxcy = (o[:, 0:2] + g) * s
            wh = np.exp(o[:, 2:4]) * s
            xywh = np.concatenate([cxcy - wh / 2, wh], axis=1)
            sc = score[sel]
            ci = cls_id[sel]
            idx = cv2.dnn.NMSBoxesBatched(xywh.tolist(), sc.tolist(), ci.tolist(),
                                          args.score, args.nms)
            idx = np.asarray(idx, dtype=np.int64).reshape(-1)
            idx = idx[np.argsort(-sc[idx], kind="stable")]
            x1y1 = xywh[idx, 0:2] / r
            x2y2 = (xywh[idx, 0:2] + xywh[idx, 2:4]) / r
            boxes = np.concatenate([x1y1, x2y2], axis=1)
            boxes[:, 0::2] = boxes[:, 0::2].clip(0, w)
            boxes[:, 1::2] = boxes[:, 1::2].clip(0, h)
            for b, k in zip(boxes.tolist(), idx.tolist()):
                dets.append((b, float(sc[k]), int(ci[k])))
        t4 = pc()
        stages["postprocess"] += t4 - t3

        # bookkeeping (outside the stage timers, inside the wall/CPU totals)
        analysed += 1
        total_dets += len(dets)
        for _, _, c in dets:
            per_class[names[c]] = per_class.get(names[c], 0) + 1
        if dump is not None:
            dump.write(json.dumps({
                "frame": analysed - 1,
                "source_frame": src_index,
                "pts_ms": round(ts * 1000.0, 3),
                "detections": [{"class": names[c], "class_id": c, "score": round(sc_, 4),
                                "box": [round(v, 1) for v in b]} for b, sc_, c in dets],
            }) + "\n")
    wall = pc() - wall0
    cpu = time.process_time() - cpu0
    cap.release()
    if dump is not None:
        dump.close()

    result = {
        "pipeline": "python-reference",
        "frames": analysed,
        "source_frames_decoded": src_index + 1,
        "wall_s": round(wall, 6),
        "cpu_s": round(cpu, 6),
        "fps": round(analysed / wall, 3) if wall > 0 else 0.0,
        "cpu_s_per_frame": round(cpu / analysed, 6) if analysed else 0.0,
        "stages": {k: round(v, 6) for k, v in stages.items()},
        "stages_ms_per_frame": {k: round(1000.0 * v / analysed, 3) if analysed else 0.0
                                for k, v in stages.items()},
        "detections": total_dets,
        "per_class": dict(sorted(per_class.items(), key=lambda kv: (-kv[1], kv[0]))),
        "config": {
            "video": os.path.abspath(args.video),
            "video_size": [frame_w, frame_h],
            "native_fps": native_fps,
            "timestamps": "pos_msec" if use_msec else "index/native_fps",
            "model": os.path.abspath(args.model),
            "fps": args.fps, "frames": args.frames, "threads": args.threads,
            "score": args.score, "nms": args.nms, "ort_spinning": not args.no_spin,
            "classes": [names[i] for i in keep_ids] if len(keep_ids) < 80 else "all",
        },
        "versions": {
            "python": sys.version.split()[0], "onnxruntime": ort.__version__,
            "opencv": cv2.__version__, "numpy": np.__version__,
        },
    }
    if args.json:
        print(json.dumps(result))
    else:
        print(f"python reference: {analysed} frames ({src_index + 1} decoded) in {wall:.3f} s wall, "
              f"{cpu:.3f} s CPU -> {result['fps']:.2f} fps, {result['cpu_s_per_frame'] * 1000:.1f} ms CPU/frame")
        for k, v in result["stages_ms_per_frame"].items():
            print(f"  {k:<12} {v:8.2f} ms/frame  ({stages[k]:.3f} s)")
        print(f"  detections   {total_dets}  {result['per_class']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

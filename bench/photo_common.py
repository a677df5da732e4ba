"""What the photo-based Python references (faces_reference.py,
plates_reference.py) share: their command line and their onnxruntime
sessions, set up exactly as kuzet's side of `kuzet bench faces|plates`
(same intra-op threads, one inter-op thread, sequential execution, full
graph optimisation, spinning only with --spin)."""

import argparse
import os


def arg_parser(doc):
    """The common arguments; a script adds its own before parse_args."""
    p = argparse.ArgumentParser(description=doc.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("images", nargs="+", help="photos readable by cv2.imread")
    p.add_argument("--models", required=True, help="models folder (KUZET_MODELS)")
    p.add_argument("--threads", type=int, default=0,
                   help="onnxruntime intra_op_num_threads (0 = its default) [0]")
    p.add_argument("--repeat", type=int, default=1, help="passes over the images [1]")
    p.add_argument("--spin", action="store_true", help="let onnxruntime threads spin")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    return p


def runtime(args):
    """Caps the native thread pools (before numpy and cv2 are imported, or
    the caps come too late), imports cv2, numpy and onnxruntime, and returns
    them with `session(rel)`, which opens a model under --models as
    (session, first input name)."""
    if args.threads > 0:
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ.setdefault(var, str(args.threads))
    import cv2
    import numpy as np
    import onnxruntime as ort

    if args.threads > 0:
        cv2.setNumThreads(args.threads)

    def session(rel):
        so = ort.SessionOptions()
        so.intra_op_num_threads = args.threads
        so.inter_op_num_threads = 1
        so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        so.add_session_config_entry("session.intra_op.allow_spinning", "1" if args.spin else "0")
        s = ort.InferenceSession(os.path.join(args.models, rel), so,
                                 providers=["CPUExecutionProvider"])
        return s, s.get_inputs()[0].name

    return cv2, np, ort, session

#!/usr/bin/python3
"""Serves an H.264 MP4 file as an RTSP stream, for tests and demos.

    /usr/bin/python3 scripts/rtsp_server.py --port 8554 --file clip.mp4

The stream is rtsp://127.0.0.1:PORT/stream (or --path). Prints READY once the
server listens, so a test can wait for that line. Each client gets its own
pipeline that plays the file from the start, in real time; with --loop the file
restarts at its end instead of ending the stream.

Needs Debian's GStreamer RTSP server bindings, for the system python
(/usr/bin/python3), not a pyenv/venv one:
    apt-get install python3-gi gir1.2-gst-rtsp-server-1.0 \
        gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad
"""

import argparse
import os
import signal
import sys

try:
    import gi

    gi.require_version("Gst", "1.0")
    gi.require_version("GstRtspServer", "1.0")
    from gi.repository import GLib, Gst, GstRtspServer
except (ImportError, ValueError) as e:
    sys.stderr.write(
        f"rtsp_server.py: GStreamer RTSP server bindings missing ({e}); install the "
        "Debian packages python3-gi gir1.2-gst-rtsp-server-1.0 gstreamer1.0-plugins-base "
        "gstreamer1.0-plugins-good gstreamer1.0-plugins-bad and run with /usr/bin/python3\n"
    )
    sys.exit(2)


def launch_line(path):
    # GStreamer's launch syntax quotes with double quotes; the path is ours.
    loc = path.replace("\\", "\\\\").replace('"', '\\"')
    return (
        f'( filesrc location="{loc}" ! qtdemux ! h264parse config-interval=-1 '
        "! rtph264pay name=pay0 pt=96 )"
    )


class LoopingFactory(GstRtspServer.RTSPMediaFactory):
    """Restarts the file at its end by catching EOS before it reaches the
    payloader and seeking the pipeline back to the start."""

    def __init__(self, path):
        super().__init__()
        self.set_launch(launch_line(path))
        self.connect("media-configure", self._configure)

    def _configure(self, _factory, media):
        element = media.get_element()
        pay = element.get_by_name("pay0")
        pad = pay.get_static_pad("sink")
        pad.add_probe(Gst.PadProbeType.EVENT_DOWNSTREAM, self._on_event, media)

    @staticmethod
    def _on_event(_pad, info, media):
        event = info.get_event()
        if event.type != Gst.EventType.EOS:
            return Gst.PadProbeReturn.OK

        def rewind():
            media.get_element().seek_simple(
                Gst.Format.TIME, Gst.SeekFlags.FLUSH | Gst.SeekFlags.KEY_UNIT, 0
            )
            return False

        GLib.idle_add(rewind)
        return Gst.PadProbeReturn.DROP


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--port", type=int, default=8554)
    ap.add_argument("--file", required=True, help="H.264 MP4 to serve")
    ap.add_argument("--path", default="/stream", help="URL path (default /stream)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--loop", action="store_true", help="restart the file at its end")
    args = ap.parse_args()

    path = os.path.abspath(args.file)
    if not os.path.isfile(path):
        sys.stderr.write(f"rtsp_server.py: no such file: {path}\n")
        return 2

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address(args.host)
    server.set_service(str(args.port))
    if args.loop:
        factory = LoopingFactory(path)
    else:
        factory = GstRtspServer.RTSPMediaFactory()
        factory.set_launch(launch_line(path))
    factory.set_shared(False)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        sys.stderr.write(f"rtsp_server.py: cannot listen on {args.host}:{args.port}\n")
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://{args.host}:{args.port}{args.path}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

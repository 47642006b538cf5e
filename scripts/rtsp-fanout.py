#!/usr/bin/env python3
"""Many viewers through an RTSP server: GStreamer's gst-rtsp-server re-serves the RTP/JPEG
stream that `cam-send rtp://127.0.0.1:RTP_PORT` sends, at rtsp://127.0.0.1:RTSP_PORT/cam, to
any number of RTSP clients (ffplay, VLC, GStreamer's rtspsrc), all sharing one pipeline.

    apt-get install gir1.2-gst-rtsp-server-1.0 gstreamer1.0-rtsp python3-gi \
        gstreamer1.0-plugins-good
    python3 scripts/rtsp-fanout.py [RTP_PORT [RTSP_PORT]]      # defaults 5004 and 8554
    cam-send rtp://127.0.0.1:5004
    ffplay rtsp://127.0.0.1:8554/cam

The RTP is depayloaded and payloaded again (rtpjpegdepay ! rtpjpegpay): the JPEG's tables
and scan pass through unchanged, so clients get the sender's pixels exactly. Prints
"serving rtsp://127.0.0.1:RTSP_PORT/cam" once listening.
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402

rtp_port = int(sys.argv[1]) if len(sys.argv) > 1 else 5004
rtsp_port = int(sys.argv[2]) if len(sys.argv) > 2 else 8554

Gst.init(None)
server = GstRtspServer.RTSPServer()
server.set_address("127.0.0.1")
server.set_service(str(rtsp_port))
factory = GstRtspServer.RTSPMediaFactory()
factory.set_launch(
    f'( udpsrc port={rtp_port} buffer-size=4194304 '
    'caps="application/x-rtp,media=video,clock-rate=90000,encoding-name=JPEG,payload=26" '
    "! rtpjpegdepay ! rtpjpegpay name=pay0 pt=26 )"
)
# One pipeline for every client: the camera's stream is received once.
factory.set_shared(True)
server.get_mount_points().add_factory("/cam", factory)
if server.attach(None) == 0:
    sys.exit(f"cannot serve RTSP on 127.0.0.1:{rtsp_port}")
print(f"serving rtsp://127.0.0.1:{rtsp_port}/cam", flush=True)
GLib.MainLoop().run()

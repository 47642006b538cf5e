#!/usr/bin/env python3
"""One ImageZMQ sender for the issue #15 baseline.

    sender.py NAME PORT FPS SECS

Sends 640x480 JPEG frames (quality 80, cv2.imencode, one fresh encode per frame of a
moving textured test pattern) to an ImageZMQ hub on tcp://127.0.0.1:PORT with
ImageSender.send_jpg(NAME, jpg), the REQ/REP way ImageZMQ's README does it, for SECS
seconds, and prints one JSON line.

Pacing is a deadline schedule like a camera's: frame k is captured (rendered and encoded)
at START + k/FPS. REQ/REP blocks until the hub replies, so a slow hub holds the sender
back; when a whole frame slot has passed while waiting, the frames that a camera would
have overwritten are counted as `skipped` and the sender goes on with the newest one, as
a webcam with a one-frame buffer would. `due` = FPS*SECS frames.

Environment:
  START_AT   wall-clock time (time.time()) at which frame 0 is due; default: now.
  START_FILE else a file to wait for (at most 120 s) that holds that time: bench.sh writes
             it once every sender has printed {"event": "ready"} on stderr (set up and
             connected), so that all start together and no start-up is counted.
  REPLY_TIMEOUT_MS  how long to wait for the hub's reply (default 5000); a frame whose
             reply does not come in time counts as `unacked` and the sender stops.
  TEXTURE    strength of the static noise texture (default 0.25, about 27 KB per frame,
             close to camwire's own test pattern at 640x480).
"""
import json
import os
import resource
import sys
import time

import cv2
import numpy as np
import zmq

import imagezmq

W, H = 640, 480
PAD = 256          # the pattern scrolls 4 px per frame through a 896-px-wide background
QUALITY = 80


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def background(texture):
    """A static textured background wider than the frame; frame k is a window into it
    shifted by 4*k pixels, so every frame differs and must be encoded afresh."""
    rng = np.random.default_rng(15)
    tex = np.zeros((H, W + PAD), np.float32)
    # 1/f-like noise octaves (periods 1..64 px) so JPEG sizes are webcam-like, not a
    # smooth gradient that compresses to nothing.
    for lg, amp in [(0, 14), (1, 14), (2, 14), (3, 14), (4, 16), (5, 20), (6, 24)]:
        p = 1 << lg
        small = rng.uniform(-amp, amp, (H // p + 2, (W + PAD) // p + 2)).astype(np.float32)
        up = cv2.resize(small, None, fx=p, fy=p, interpolation=cv2.INTER_LINEAR)
        tex += texture * up[:H, :W + PAD]
    x = np.arange(W + PAD, dtype=np.float32)[None, :]
    y = np.arange(H, dtype=np.float32)[:, None]
    bg = np.empty((H, W + PAD, 3), np.float32)
    bg[..., 0] = 128 + 100 * np.sin(x / 97) + 0 * y + tex
    bg[..., 1] = x * 255 / (W + PAD) + 0 * y + tex
    bg[..., 2] = y * 255 / H + 0 * x + tex
    return np.clip(bg, 0, 255).astype(np.uint8)


def frame(bg, k):
    s = (4 * k) % PAD
    f = np.ascontiguousarray(bg[:, s:s + W])
    # a bouncing white box on top, so the picture moves against the scroll as well
    bx = (13 * k) % (2 * (W - 80))
    bx = bx if bx < W - 80 else 2 * (W - 80) - bx
    by = (7 * k) % (2 * (H - 60))
    by = by if by < H - 60 else 2 * (H - 60) - by
    f[by:by + 60, bx:bx + 80] = 255
    return f


def start_time():
    """START_AT, or the time written into START_FILE (waited for, 120 s at most), or now."""
    if os.environ.get("START_AT"):
        return float(os.environ["START_AT"])
    path = os.environ.get("START_FILE")
    if path:
        give_up = time.monotonic() + 120
        while time.monotonic() < give_up:
            try:
                with open(path) as f:
                    text = f.read().strip()
                if text:
                    return float(text)
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        sys.exit(f"no start time in {path} within 120 s")
    return time.time()


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__)
    name, port, fps, secs = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), float(sys.argv[4])
    reply_timeout = int(os.environ.get("REPLY_TIMEOUT_MS", "5000"))
    texture = float(os.environ.get("TEXTURE", "0.25"))

    bg = background(texture)
    sender = imagezmq.ImageSender(connect_to=f"tcp://127.0.0.1:{port}")
    # Not part of ImageZMQ's README; only so that the sender ends when the hub has gone.
    sender.zmq_socket.setsockopt(zmq.RCVTIMEO, reply_timeout)
    sender.zmq_socket.setsockopt(zmq.LINGER, 0)

    print(json.dumps({"role": "sender", "name": name, "event": "ready"}), file=sys.stderr, flush=True)
    start_at = start_time()
    period = 1.0 / fps
    due = int(round(fps * secs))
    # Map the shared wall-clock start onto the monotonic clock once.
    t0 = time.monotonic() + (start_at - time.time())
    late_start = max(0.0, time.monotonic() - t0)

    sent = skipped = unacked = 0
    nbytes = 0
    enc_s = 0.0
    rtts = []
    lateness = []
    cpu0 = cpu_s()
    k = 0
    while k < due:
        deadline = t0 + k * period
        now = time.monotonic()
        if now < deadline:
            time.sleep(deadline - now)
            now = time.monotonic()
        else:
            newest = int((now - t0) / period)       # the frame a camera would hold now
            if newest > k:
                newest = min(newest, due)
                skipped += newest - k
                k = newest
                if k >= due:
                    break
                deadline = t0 + k * period
        lateness.append(now - deadline)
        e0 = time.perf_counter()
        ok, jpg = cv2.imencode(".jpg", frame(bg, k), [cv2.IMWRITE_JPEG_QUALITY, QUALITY])
        enc_s += time.perf_counter() - e0
        if not ok:
            sys.exit(f"{name}: imencode failed")
        s0 = time.monotonic()
        try:
            sender.send_jpg(name, jpg)   # REQ: send, then wait for the hub's b'OK'
        except zmq.Again:
            unacked += 1
            break
        rtts.append(time.monotonic() - s0)
        sent += 1
        nbytes += len(jpg)
        k += 1
    wall = time.monotonic() - t0
    cpu = cpu_s() - cpu0
    sender.close()

    def pct(v, q):
        if not v:
            return None
        v = sorted(v)
        return round(v[min(len(v) - 1, int(q * len(v)))] * 1e3, 2)

    print(json.dumps({
        "role": "sender", "name": name, "fps": fps, "secs": secs,
        "due": due, "sent": sent, "skipped": skipped, "unacked": unacked,
        "late_start_s": round(late_start, 3),
        "wall_s": round(wall, 3),
        "cpu_s": round(cpu, 3),
        "cpu_us_per_frame": round(cpu / sent * 1e6) if sent else None,
        "encode_ms_mean": round(enc_s / sent * 1e3, 3) if sent else None,
        "jpeg_bytes_mean": round(nbytes / sent) if sent else None,
        "rtt_ms_p50": pct(rtts, 0.50), "rtt_ms_p99": pct(rtts, 0.99),
        "lateness_ms_p50": pct(lateness, 0.50), "lateness_ms_p99": pct(lateness, 0.99),
    }), flush=True)


if __name__ == "__main__":
    main()

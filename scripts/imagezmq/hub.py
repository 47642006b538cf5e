#!/usr/bin/env python3
"""The ImageZMQ hub for the issue #15 baseline (headless: decode only, no display).

    hub.py [--port 5555] [--secs 20] [--first-timeout 60] [--drain 2]

Receives the way ImageZMQ's README does it: one imagezmq.ImageHub (REP socket), and for
each frame recv_jpg(), cv2.imdecode(np.frombuffer(jpg, dtype='uint8'), -1) as the docs'
jpg example does, then send_reply(b'OK'). Binds 127.0.0.1 only.

Counts frames per sender name for SECS seconds after the first frame (the window), then
keeps answering for up to DRAIN seconds (until 0.5 s pass with no frame) so that frames
already on their way are answered too, counted apart. Prints one JSON line:

  frames, per_sender      frames decoded in the window
  frames_total, per_sender_total   window + drain (what bench.sh compares with `sent`)
  cpu_s                   the hub process's CPU (user+sys, all threads, so libzmq's I/O
                          thread too; getrusage(RUSAGE_SELF)) over the window
  cpu_pct_of_core, cpu_us_per_frame, fps
  per_sender_main_us_per_frame     the main thread's CPU (recv + decode + reply) spent on
                          each sender's frames, by time.thread_time; the I/O thread's share
                          cannot be split by sender
"""
import argparse
import json
import resource
import sys
import time
from collections import Counter, defaultdict

import cv2
import numpy as np

import imagezmq


def cpu_s():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=5555)
    ap.add_argument("--secs", type=float, default=20.0)
    ap.add_argument("--first-timeout", type=float, default=60.0,
                    help="give up if no frame comes within this many seconds")
    ap.add_argument("--drain", type=float, default=2.0)
    a = ap.parse_args()

    cpu_start = cpu_s()
    hub = imagezmq.ImageHub(open_port=f"tcp://127.0.0.1:{a.port}")
    sock = hub.zmq_socket
    print(json.dumps({"role": "hub", "event": "listening", "port": a.port}),
          file=sys.stderr, flush=True)

    window = Counter()
    drained = Counter()
    main_cpu = defaultdict(float)
    bad = 0
    shape = None

    def one(counter):
        nonlocal bad, shape
        c0 = time.thread_time()
        name, jpg_buffer = hub.recv_jpg()
        image = cv2.imdecode(np.frombuffer(jpg_buffer, dtype="uint8"), -1)
        if image is None:
            bad += 1
        elif shape is None:
            shape = list(image.shape)
        hub.send_reply(b"OK")
        counter[name] += 1
        main_cpu[name] += time.thread_time() - c0

    if not sock.poll(int(a.first_timeout * 1000)):
        print(json.dumps({"role": "hub", "error": f"no frame within {a.first_timeout} s"}),
              flush=True)
        hub.close()
        sys.exit(2)

    t_first = time.monotonic()
    cpu0 = cpu_s()
    end = t_first + a.secs
    one(window)
    while True:
        remaining = end - time.monotonic()
        if remaining <= 0:
            break
        if sock.poll(max(1, int(remaining * 1000))):
            one(window)
    t_end = time.monotonic()
    cpu1 = cpu_s()

    drain_end = t_end + a.drain
    while time.monotonic() < drain_end and sock.poll(500):
        one(drained)
    hub.close()

    elapsed = t_end - t_first
    cpu = cpu1 - cpu0
    frames = sum(window.values())
    total = window + drained
    print(json.dumps({
        "role": "hub",
        "secs": round(elapsed, 3),
        "frames": frames,
        "per_sender": dict(sorted(window.items())),
        "frames_total": sum(total.values()),
        "per_sender_total": dict(sorted(total.items())),
        "senders": len(total),
        "decode_failures": bad,
        "decoded_shape": shape,
        "fps": round(frames / elapsed, 2),
        "cpu_s": round(cpu, 3),
        "cpu_pct_of_core": round(100 * cpu / elapsed, 1),
        "cpu_us_per_frame": round(cpu / frames * 1e6) if frames else None,
        "per_sender_main_us_per_frame": {
            n: round(main_cpu[n] / total[n] * 1e6) for n in sorted(total)},
        "cpu_s_process_total": round(cpu_s() - cpu_start, 3),
    }), flush=True)


if __name__ == "__main__":
    main()

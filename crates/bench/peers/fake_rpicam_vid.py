#!/usr/bin/python3
"""Stands in for `rpicam-vid --codec mjpeg ... -o -` in the agent benchmark:
writes the JPEG files of $BENCH_JPEG_DIR (sorted, looped) to stdout at
--framerate, the way rpicam-vid writes the camera's MJPEG. Other arguments
are accepted and ignored. Exits when stdout closes.
"""

import os
import sys
import time


def main():
    args = sys.argv[1:]
    fps = 30.0
    if "--framerate" in args:
        fps = float(args[args.index("--framerate") + 1])
    d = os.environ["BENCH_JPEG_DIR"]
    frames = [open(os.path.join(d, f), "rb").read() for f in sorted(os.listdir(d))]
    out = sys.stdout.buffer
    period = 1.0 / fps
    t = time.monotonic()
    i = 0
    try:
        while True:
            out.write(frames[i % len(frames)])
            out.flush()
            i += 1
            t += period
            delay = t - time.monotonic()
            if delay > 0:
                time.sleep(delay)
    except (BrokenPipeError, KeyboardInterrupt):
        return


if __name__ == "__main__":
    main()

#!/usr/bin/python3
"""RTSP test server: a stand-in for a TP-Link Tapo camera, for the hub's tests.

Serves on 127.0.0.1 only, with GStreamer's gst-rtsp-server (Debian 12: python3-gi,
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-{base,good,bad,ugly}, gstreamer1.0-libav;
gstreamer1.0-x for the clock overlay). Run it with Debian's /usr/bin/python3: a pyenv
python3 earlier on PATH has no `gi`.

Mounts (media shared between clients, one encoder per mount, like a camera):
  /stream1  H.264 WIDTHxHEIGHT + AAC 16 kHz mono            (Tapo "stream1", main)
  /stream2  H.264 WIDTH/2xHEIGHT/2 + PCMA (G.711 A-law) 8 kHz (Tapo "stream2", sub)
  /stream3  H.265 WIDTHxHEIGHT, video only
  /scene    H.264 WIDTH/2xHEIGHT/2, video only: a scripted scene for motion detection.
            A still textured picture (no clock, no noise); --scene-enter seconds after
            the mount's media is first made, a bright box (a fifth of the width, a third
            of the height) appears and moves steadily right across the middle; it is
            gone from --scene-leave seconds on, and the picture stays still after that.
            The wall-clock time of the first frame with the box and of the first frame
            without it again are printed on stdout as `SCENE enter UNIX_MS` and
            `SCENE leave UNIX_MS`. Frames are made in real time at --fps and only handed
            over while the pipeline wants data, so they never queue up.
Every picture shows the wall clock (clockoverlay, when installed) so latency can be read
off a frame; H.264 has no B-frames and a key frame every --gop frames.

Prints `READY rtsp://127.0.0.1:PORT` on stdout once listening (`--port 0` picks a free
port and prints it). SIGTERM or SIGINT stops it cleanly (exit 0); the port is free again
about 2 s later.

Usage: rtsp-test-server.py [--port 8554] [--user tapo] [--password secret]
       [--auth digest|basic|none] [--width 640] [--height 360] [--fps 15] [--gop 30]
       [--kbps 1500] [--pattern smpte|moving|...] [--scene-enter 6] [--scene-leave 11]
"""

import argparse
import signal
import sys
import time

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstApp", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

ROLE = "camera-user"


def parse_args():
    p = argparse.ArgumentParser(description="RTSP camera stand-in on 127.0.0.1")
    p.add_argument("--port", type=int, default=8554, help="0 = any free port")
    p.add_argument("--user", default="tapo")
    p.add_argument("--password", default="secret")
    p.add_argument("--auth", choices=("digest", "basic", "none"), default="digest")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--fps", type=int, default=15)
    p.add_argument("--gop", type=int, default=30, help="frames between key frames")
    p.add_argument("--kbps", type=int, default=1500, help="H.264 bit rate of /stream1")
    p.add_argument("--pattern", default="smpte",
                   help="picture of /stream1: a videotestsrc pattern, or 'moving' (scrolling "
                        "colour bars: every frame changes, so the encoder reaches --kbps)")
    p.add_argument("--scene-enter", type=float, default=6.0,
                   help="seconds after /scene starts when its box appears")
    p.add_argument("--scene-leave", type=float, default=11.0,
                   help="seconds after /scene starts when its box is gone")
    a = p.parse_args()
    if not 0 <= a.scene_enter < a.scene_leave:
        p.error("--scene-enter must be at least 0 and before --scene-leave")
    return a


def has_element(name):
    return Gst.ElementFactory.find(name) is not None


def video(width, height, fps, pattern):
    """Raw live video with the wall clock burnt in (when clockoverlay is installed)."""
    if pattern == "moving":
        pattern = "smpte horizontal-speed=7"
    src = (
        f"videotestsrc is-live=true pattern={pattern} "
        f"! video/x-raw,format=I420,width={width},height={height},framerate={fps}/1 "
    )
    if has_element("clockoverlay"):
        src += '! clockoverlay time-format="%H:%M:%S" font-desc="Sans 24" '
    return src


def h264(gop, kbps):
    # zerolatency: no B-frames, no lookahead. h264parse repeats SPS/PPS in front of every
    # IDR, so a client joining mid-stream can start at the next key frame.
    return (
        f"! x264enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={kbps} "
        "! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 "
    )


def h265(gop, kbps):
    return (
        f"! x265enc tune=zerolatency speed-preset=ultrafast key-int-max={gop} bitrate={kbps} "
        "! h265parse config-interval=-1 ! rtph265pay name=pay0 pt=96 "
    )


def audio(rate):
    return (
        "audiotestsrc is-live=true wave=sine freq=440 volume=0.1 "
        f"! audio/x-raw,rate={rate},channels=1 ! audioconvert "
    )


def sub_size(a):
    """The sub streams' picture size: half the main one's, even."""
    return max(2, a.width // 4 * 2), max(2, a.height // 4 * 2)


def pipelines(a):
    sub_w, sub_h = sub_size(a)
    return {
        "/stream1": video(a.width, a.height, a.fps, a.pattern)
        + h264(a.gop, a.kbps)
        + audio(16000)
        + "! avenc_aac ! rtpmp4gpay name=pay1 pt=97",
        "/stream2": video(sub_w, sub_h, a.fps, "ball")
        + h264(a.gop, 400)
        + audio(8000)
        + "! alawenc ! rtppcmapay name=pay1 pt=8",
        "/stream3": video(a.width, a.height, a.fps, "smpte") + h265(a.gop, 1000),
        "/scene": (
            "appsrc name=scene is-live=true do-timestamp=true format=time "
            f"caps=video/x-raw,format=I420,width={sub_w},height={sub_h},framerate={a.fps}/1 "
            + h264(a.gop, 400)
        ),
    }


class Scene:
    """The scripted picture of /scene: see the module's text."""

    def __init__(self, width, height, fps, enter, leave):
        self.w, self.h, self.fps = width, height, fps
        self.enter, self.leave = enter, leave
        self.src = None
        self.wanted = False
        self.start = None
        self.said = set()
        # Vertical bands of different greys: texture for the detector, nothing moving.
        row = bytes(60 + (x * 7 // max(1, width // 16)) % 8 * 16 for x in range(width))
        self.background = row * height + bytes([128]) * (2 * (width // 2) * (height // 2))
        self.box_w, self.box_h = max(2, width // 5), max(2, height // 3)

    def attach(self, appsrc):
        """A new media for the mount: start the script's clock (once) and feed it."""
        self.src = appsrc
        appsrc.connect("need-data", lambda *_: setattr(self, "wanted", True))
        appsrc.connect("enough-data", lambda *_: setattr(self, "wanted", False))
        if self.start is None:
            self.start = time.monotonic()
            GLib.timeout_add(max(1, 1000 // self.fps), self.tick)

    def frame(self, t):
        """The picture at scene time t, and whether the box is in it."""
        if not self.enter <= t < self.leave:
            return self.background, False
        buf = bytearray(self.background)
        travel = self.w - self.box_w
        x0 = int(travel * 0.1 + travel * 0.8 * (t - self.enter) / (self.leave - self.enter))
        y0 = (self.h - self.box_h) // 2
        for y in range(y0, y0 + self.box_h):
            buf[y * self.w + x0:y * self.w + x0 + self.box_w] = b"\xeb" * self.box_w
        return bytes(buf), True

    def tick(self):
        t = time.monotonic() - self.start
        data, boxed = self.frame(t)
        if self.src is not None and self.wanted:
            self.src.emit("push-buffer", Gst.Buffer.new_wrapped(data))
            what = "enter" if boxed else ("leave" if "enter" in self.said else None)
            if what and what not in self.said:
                self.said.add(what)
                print(f"SCENE {what} {time.time_ns() // 1_000_000}", flush=True)
        return True


def make_factory(launch, auth):
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f"( {launch} )")
    factory.set_shared(True)
    if auth != "none":
        perms = GstRtspServer.RTSPPermissions()
        perms.add_role(ROLE)
        for perm in (
            GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS,
            GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT,
        ):
            perms.add_permission_for_role(ROLE, perm, True)
        factory.set_permissions(perms)
    return factory


def make_auth(a):
    token = GstRtspServer.RTSPToken()
    token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, ROLE)
    auth = GstRtspServer.RTSPAuth()
    if a.auth == "digest":
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.DIGEST)
        auth.add_digest(a.user, a.password, token)
    else:
        auth.set_supported_methods(GstRtsp.RTSPAuthMethod.BASIC)
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(a.user, a.password), token)
    return auth


def main():
    a = parse_args()
    Gst.init(None)
    if not has_element("clockoverlay"):
        print("rtsp-test-server: no clockoverlay (install gstreamer1.0-x); "
              "serving without the clock", file=sys.stderr, flush=True)

    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(a.port))
    mounts = server.get_mount_points()
    scene = Scene(*sub_size(a), a.fps, a.scene_enter, a.scene_leave)
    for path, launch in pipelines(a).items():
        factory = make_factory(launch, a.auth)
        if path == "/scene":
            factory.connect(
                "media-configure",
                lambda _f, media: scene.attach(
                    media.get_element().get_by_name("scene")),
            )
        mounts.add_factory(path, factory)
    if a.auth != "none":
        server.set_auth(make_auth(a))

    if server.attach(None) == 0:
        print(f"rtsp-test-server: cannot listen on 127.0.0.1:{a.port}", file=sys.stderr)
        return 1

    loop = GLib.MainLoop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        GLib.unix_signal_add(GLib.PRIORITY_DEFAULT, sig, loop.quit)
    print(f"READY rtsp://127.0.0.1:{server.get_bound_port()}", flush=True)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())

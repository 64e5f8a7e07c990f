#!/usr/bin/python3
"""Threaded MJPEG server for the fan-out benchmark: the pattern of the seed Pi
recorder and of picamera2's MJPEG example (http.server's ThreadingHTTPServer,
one thread per viewer, the latest frame behind a threading.Condition).

A pusher sends `POST /push` and then frames as `u32 little-endian length` +
JPEG; every other request is a viewer and gets multipart/x-mixed-replace.

Usage: mjpeg_threaded.py PORT
"""

import socketserver
import struct
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Latest:
    def __init__(self):
        self.frame = None
        self.condition = threading.Condition()

    def publish(self, frame):
        with self.condition:
            self.frame = frame
            self.condition.notify_all()


LATEST = Latest()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def do_POST(self):
        while True:
            head = self.rfile.read(4)
            if len(head) < 4:
                return
            (n,) = struct.unpack("<I", head)
            frame = self.rfile.read(n)
            if len(frame) < n:
                return
            LATEST.publish(frame)

    def do_GET(self):
        self.send_response(200)
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Content-Type", "multipart/x-mixed-replace; boundary=FRAME")
        self.end_headers()
        try:
            while True:
                with LATEST.condition:
                    LATEST.condition.wait()
                    frame = LATEST.frame
                self.wfile.write(b"--FRAME\r\n")
                self.send_header("Content-Type", "image/jpeg")
                self.send_header("Content-Length", str(len(frame)))
                self.end_headers()
                self.wfile.write(frame)
                self.wfile.write(b"\r\n")
        except (BrokenPipeError, ConnectionResetError):
            pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 4096


def main():
    port = int(sys.argv[1])
    socketserver.TCPServer.allow_reuse_address = True
    Server(("127.0.0.1", port), Handler).serve_forever()


if __name__ == "__main__":
    main()

"""A local HTTP server standing in for the chat robot (WeCom webhook): it keeps every POST as
(path, content type, body) and answers as the robot does; a POST to /fail gets a 500."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class _Robot(BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.posts.append((self.path, self.headers.get("Content-Type"), body))
        if self.path == "/fail":
            self.send_response(500)
            self.end_headers()
            return
        answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()  # what the WeCom robot answers
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args):  # quiet
        pass


def start() -> ThreadingHTTPServer:
    """The robot on a free port of 127.0.0.1, serving in a thread; `.posts` lists what it got."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Robot)
    server.posts = []
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def stop(server: ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()

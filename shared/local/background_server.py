"""Serving a stand-in's HTTP server from a daemon thread, and stopping it cleanly."""

from __future__ import annotations

import socketserver
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar, Self


def serve_in_background(server: socketserver.BaseServer, name: str) -> threading.Thread:
    # A short poll interval lets shutdown() return quickly, which keeps test teardowns fast.
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, name=name, daemon=True)
    thread.start()
    return thread


def shut_down(server: socketserver.BaseServer | None, thread: threading.Thread | None) -> None:
    if server is not None:
        server.shutdown()
        server.server_close()
    if thread is not None:
        thread.join(timeout=5)


class LoopbackStandIn:
    """The life cycle every HTTP stand-in shares: serve `handler_class` on 127.0.0.1 from a daemon
    thread, say where (`base_url`), and stop. Each start makes a handler subclass that knows its
    stand-in as both `owner` and `standin`, so a handler reads the state of the one it serves."""

    handler_class: ClassVar[type[BaseHTTPRequestHandler]]
    thread_name: ClassVar[str]
    _server: ThreadingHTTPServer | None = None
    _thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not running")
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> Self:
        handler = type(f"{type(self).__name__}Handler", (self.handler_class,), {"owner": self, "standin": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._server.daemon_threads = True
        self._thread = serve_in_background(self._server, self.thread_name)
        return self

    def stop(self) -> None:
        shut_down(self._server, self._thread)
        self._server, self._thread = None, None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

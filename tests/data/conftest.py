"""Shared fixtures of the data tests: a fresh cache directory and a local HTTP server."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest

from minaction.data import DataContext


@pytest.fixture
def ctx(tmp_path) -> DataContext:
    """A context whose cache is empty and private to the test, with downloads allowed."""
    return DataContext.create(cache_dir=tmp_path / "cache")


@dataclass
class LocalServer:
    """Files served at `url + name`; `requests` records (path, Range header) of each GET."""

    url: str
    files: dict[str, bytes] = field(default_factory=dict)
    status: dict[str, int] = field(default_factory=dict)
    requests: list[tuple[str, str | None]] = field(default_factory=list)


class _RangeHandler(http.server.BaseHTTPRequestHandler):
    """Serves bytes from memory and honours `Range: bytes=N-`, as a download mirror does."""

    def do_GET(self):
        server: LocalServer = self.server.local  # type: ignore[attr-defined]
        name = self.path.lstrip("/")
        requested = self.headers.get("Range")
        server.requests.append((name, requested))
        if name in server.status:
            self.send_error(server.status[name])
            return
        body = server.files.get(name)
        if body is None:
            self.send_error(404)
            return
        if requested and requested.startswith("bytes="):
            start = int(requested.removeprefix("bytes=").split("-")[0])
            if start >= len(body):
                self.send_error(416)
                return
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
            body = body[start:]
        else:
            self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _RangeHandler)
    local = LocalServer(url=f"http://127.0.0.1:{httpd.server_address[1]}/")
    httpd.local = local  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield local
    finally:
        httpd.shutdown()
        httpd.server_close()

"""Local stub servers for the HTTP backends: loopback only, bounded, stopped after each test."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

Handler = Callable[[str, dict[str, Any]], tuple[int, Any]]


@dataclass
class StubServer:
    """Records every JSON request; ``reply(path, body)`` returns (status, body). A list body is sent
    as NDJSON lines (Ollama streams that way)."""

    reply: Handler
    requests: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
def stub_server() -> Iterator[Callable[[Handler], StubServer]]:
    servers: list[ThreadingHTTPServer] = []

    def start(reply: Handler) -> StubServer:
        stub = StubServer(reply)

        class _Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, body: dict[str, Any]) -> None:
                stub.requests.append((self.path, body))
                status, payload = stub.reply(self.path, body)
                if isinstance(payload, list):
                    data = "".join(json.dumps(line) + "\n" for line in payload).encode()
                    kind = "application/x-ndjson"
                else:
                    data = json.dumps(payload).encode()
                    kind = "application/json"
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", 0))
                self._answer(json.loads(self.rfile.read(length) or b"{}"))

            def do_GET(self) -> None:
                self._answer({})

        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.timeout = 5
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        stub.url = f"http://127.0.0.1:{server.server_address[1]}"
        return stub

    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def unused_local_url() -> str:
    """A loopback URL nothing listens on (a port bound then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"

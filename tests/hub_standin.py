"""A stand-in for the Hugging Face Hub's download API, serving one local model folder, for tests of
`playpen-fetch-model` (no hub is reachable from here). It answers what huggingface_hub's snapshot_download asks:
the revision's file list, and each file (HEAD for its metadata, GET for its bytes)."""

from __future__ import annotations

import hashlib
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote, urlparse

COMMIT = "0123456789abcdef0123456789abcdef01234567"


class HubStandIn:
    def __init__(self, repo_id: str, folder: Path, token: str | None = None):
        self.repo_id, self.folder, self.token = repo_id, folder, token
        self.requests: list[str] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> HubStandIn:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    def _handler(self):
        hub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args) -> None:
                pass

            def _authorised(self) -> bool:
                if hub.token is None or self.headers.get("Authorization") == f"Bearer {hub.token}":
                    return True
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return False

            def _file(self, head: bool) -> None:
                path = unquote(urlparse(self.path).path)
                prefix = f"/{hub.repo_id}/resolve/"
                if not path.startswith(prefix):
                    return self._missing()
                _revision, _, name = path[len(prefix):].partition("/")
                target = hub.folder / name
                if not target.is_file():
                    return self._missing()
                data = target.read_bytes()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.send_header("ETag", f'"{hashlib.sha256(data).hexdigest()}"')
                self.send_header("X-Repo-Commit", COMMIT)
                self.end_headers()
                if not head:
                    self.wfile.write(data)

            def _missing(self) -> None:
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def do_HEAD(self) -> None:  # the http.server API names it
                hub.requests.append(f"HEAD {self.path}")
                if self._authorised():
                    self._file(head=True)

            def do_GET(self) -> None:
                hub.requests.append(f"GET {self.path}")
                if not self._authorised():
                    return
                path = urlparse(self.path).path
                files = sorted(p for p in hub.folder.rglob("*") if p.is_file())
                if path.startswith(f"/api/models/{hub.repo_id}/tree/"):
                    return self._json([{"type": "file", "path": str(p.relative_to(hub.folder)),
                                        "size": p.stat().st_size,
                                        "oid": hashlib.sha1(p.read_bytes()).hexdigest()} for p in files])
                if path.startswith(f"/api/models/{hub.repo_id}"):
                    return self._json({"id": hub.repo_id, "sha": COMMIT, "siblings": [
                        {"rfilename": str(p.relative_to(hub.folder))} for p in files]})
                if path.startswith("/api/"):
                    return self._missing()
                self._file(head=False)

            def _json(self, data) -> None:
                body = json.dumps(data).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        return Handler

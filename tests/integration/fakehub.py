"""A fake Hugging Face hub on 127.0.0.1 for offline tests (point HF_ENDPOINT at ``url``).

It answers the requests huggingface_hub 0.36 makes, in the shapes the real hub uses:

- ``GET /api/models/<org>/<name>/revision/<rev>[?blobs=true]``: id, sha and siblings
  (rfilename, size, blobId, and lfs {sha256, size, pointerSize} for LFS files);
- ``HEAD /<org>/<name>/resolve/<rev>/<file>``: a small git file answers 200 with
  X-Repo-Commit, ETag (its git blob id) and Content-Length; an LFS file answers 302 to
  ``/cdn/<sha256>`` with X-Repo-Commit, X-Linked-Etag (its sha256) and X-Linked-Size,
  as the real hub redirects to its CDN;
- ``GET`` of the same (the bytes, or the redirect) and ``GET /cdn/<sha256>``, honouring
  ``Range: bytes=N-`` with 206 and Content-Range;
- ``GET /files/<name>``: plain files for url (torch-hub) models, with Range too.

A gated repository answers 401 without a token and 403 with a token it does not accept,
with ``X-Error-Code: GatedRepo`` as the hub does. ``cut_next(name)`` makes the next
download of a file send its headers and half its bytes, then drop the connection.
Every request is recorded in ``requests`` (method, path, Range, whether a token came).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit

LFS_THRESHOLD = 64  # bytes: files at least this big are stored as LFS files


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data, usedforsecurity=False).hexdigest()


@dataclass
class FakeRepo:
    """One model repository at one commit."""

    repo_id: str
    files: dict[str, bytes]
    commit: str = ""
    gated: bool = False

    def __post_init__(self) -> None:
        if not self.commit:
            digest = hashlib.sha1(self.repo_id.encode(), usedforsecurity=False)
            for name in sorted(self.files):
                digest.update(name.encode() + self.files[name])
            self.commit = digest.hexdigest()

    def is_lfs(self, name: str) -> bool:
        return len(self.files[name]) >= LFS_THRESHOLD

    def sibling(self, name: str) -> dict:
        data = self.files[name]
        entry = {"rfilename": name, "size": len(data), "blobId": git_blob_id(data)}
        if self.is_lfs(name):
            entry["lfs"] = {"size": len(data), "sha256": hashlib.sha256(data).hexdigest(), "pointerSize": 134}
        return entry


@dataclass
class Logged:
    method: str
    path: str
    range: str | None
    authorized: bool


@dataclass
class FakeHub:
    """The server: add repos and url files, start(), point HF_ENDPOINT at ``url``."""

    repos: dict[str, FakeRepo] = field(default_factory=dict)
    url_files: dict[str, bytes] = field(default_factory=dict)
    accepted_tokens: set[str] = field(default_factory=set)
    requests: list[Logged] = field(default_factory=list)
    _cut: set[str] = field(default_factory=set)
    bytes_per_second: float | None = None  # set: file bodies are sent at this rate (a slow link)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _server: ThreadingHTTPServer | None = None

    # ---- setup -----------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: dict[str, bytes], gated: bool = False) -> FakeRepo:
        repo = FakeRepo(repo_id, dict(files), gated=gated)
        self.repos[repo_id] = repo
        return repo

    def add_url_file(self, name: str, data: bytes) -> str:
        self.url_files[name] = data
        return f"{self.url}/files/{name}"

    def cut_next(self, name: str) -> None:
        """The next download of file ``name`` (repo file name or url file name) stops halfway."""
        self._cut.add(name)

    def start(self) -> FakeHub:
        hub = self

        class Handler(_Handler):
            fake = hub

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    @property
    def url(self) -> str:
        assert self._server is not None, "start() the hub first"
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # ---- inspection ------------------------------------------------------------------
    def count(self) -> int:
        with self._lock:
            return len(self.requests)

    def reset_log(self) -> None:
        with self._lock:
            self.requests.clear()

    def log(self, entry: Logged) -> None:
        with self._lock:
            self.requests.append(entry)

    def take_cut(self, name: str) -> bool:
        with self._lock:
            if name in self._cut:
                self._cut.discard(name)
                return True
            return False


class _Handler(BaseHTTPRequestHandler):
    fake: FakeHub
    protocol_version = "HTTP/1.0"

    def log_message(self, *args) -> None:  # keep test output clean
        pass

    # ---- dispatch --------------------------------------------------------------------
    def do_HEAD(self) -> None:
        self._route(head=True)

    def do_GET(self) -> None:
        self._route(head=False)

    def _route(self, head: bool) -> None:
        path = unquote(urlsplit(self.path).path)
        auth = self.headers.get("Authorization", "")
        self.fake.log(Logged(self.command, path, self.headers.get("Range"), bool(auth)))
        parts = path.strip("/").split("/")
        if parts[:2] == ["api", "models"] and "revision" in parts:
            at = parts.index("revision")
            return self._api_model("/".join(parts[2:at]), "/".join(parts[at + 1:]), auth, head)
        if parts[0] == "cdn" and len(parts) == 2:
            return self._serve_cdn(parts[1], head)
        if parts[0] == "files" and len(parts) == 2:
            data = self.fake.url_files.get(parts[1])
            if data is None:
                return self._error(404, "EntryNotFound")
            return self._send_bytes(data, parts[1], head, {})
        if len(parts) >= 5 and parts[2] == "resolve":
            return self._resolve("/".join(parts[:2]), parts[3], "/".join(parts[4:]), auth, head)
        return self._error(404, "RepoNotFound")

    # ---- endpoints -------------------------------------------------------------------
    def _check_access(self, repo: FakeRepo, auth: str) -> bool:
        if not repo.gated:
            return True
        token = auth.removeprefix("Bearer ").strip()
        if not token:
            self._error(401, "GatedRepo", f"Access to model {repo.repo_id} is restricted. You must be authenticated.")
            return False
        if token not in self.fake.accepted_tokens:
            self._error(403, "GatedRepo", f"Access to model {repo.repo_id} is restricted and you are not in the authorized list.")
            return False
        return True

    def _repo_at(self, repo_id: str, revision: str) -> FakeRepo | None:
        repo = self.fake.repos.get(repo_id)
        if repo is None:
            self._error(404, "RepoNotFound")
            return None
        if revision not in ("main", repo.commit):
            self._error(404, "RevisionNotFound")
            return None
        return repo

    def _api_model(self, repo_id: str, revision: str, auth: str, head: bool) -> None:
        repo = self._repo_at(repo_id, revision)
        if repo is None or not self._check_access(repo, auth):
            return
        body = json.dumps({
            "id": repo.repo_id, "modelId": repo.repo_id, "sha": repo.commit, "private": False,
            "gated": "manual" if repo.gated else False,
            "siblings": [repo.sibling(name) for name in sorted(repo.files)],
        }).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not head:
            self.wfile.write(body)

    def _resolve(self, repo_id: str, revision: str, name: str, auth: str, head: bool) -> None:
        repo = self._repo_at(repo_id, revision)
        if repo is None or not self._check_access(repo, auth):
            return
        if name not in repo.files:
            return self._error(404, "EntryNotFound")
        data = repo.files[name]
        headers = {"X-Repo-Commit": repo.commit}
        if repo.is_lfs(name):
            sha = hashlib.sha256(data).hexdigest()
            self.send_response(302)
            self.send_header("Location", f"{self.fake.url}/cdn/{sha}")
            self.send_header("X-Repo-Commit", repo.commit)
            self.send_header("X-Linked-Etag", f'"{sha}"')
            self.send_header("X-Linked-Size", str(len(data)))
            self.send_header("ETag", f'"{git_blob_id(data)}"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        headers["ETag"] = f'"{git_blob_id(data)}"'
        self._send_bytes(data, name, head, headers)

    def _serve_cdn(self, sha: str, head: bool) -> None:
        for repo in self.fake.repos.values():
            for name, data in repo.files.items():
                if hashlib.sha256(data).hexdigest() == sha:
                    return self._send_bytes(data, name, head, {"ETag": f'"{sha}"'})
        self._error(404, "EntryNotFound")

    # ---- plumbing --------------------------------------------------------------------
    def _send_bytes(self, data: bytes, name: str, head: bool, headers: dict[str, str]) -> None:
        start = 0
        wanted = self.headers.get("Range", "")
        if wanted.startswith("bytes=") and wanted.endswith("-") and not head:
            start = int(wanted[len("bytes="):-1])
        body = data[start:]
        self.send_response(206 if start else 200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(len(body)))
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        self.end_headers()
        if head:
            return
        if self.fake.take_cut(name):
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.close_connection = True
            self.connection.shutdown(2)  # a dropped connection, not a clean end
            return
        rate = self.fake.bytes_per_second
        if rate:
            piece = max(1, int(rate / 10))
            for offset in range(0, len(body), piece):
                self.wfile.write(body[offset:offset + piece])
                self.wfile.flush()
                time.sleep(0.1)
            return
        self.wfile.write(body)

    def _error(self, status: int, code: str, message: str = "") -> None:
        body = json.dumps({"error": message or code}).encode()
        self.send_response(status)
        self.send_header("X-Error-Code", code)
        if message:
            self.send_header("X-Error-Message", message)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

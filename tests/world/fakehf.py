"""A loopback HTTP server that behaves like the Hugging Face Hub, as huggingface_hub talks to it
(point ``HF_ENDPOINT`` at ``hub.url``):

    GET /api/models/<org>/<name>/revision/<revision>?blobs=true
        {"id", "sha": <commit>, "siblings": [{"rfilename", "size", "blobId", "lfs": {"sha256",
        "size", "pointerSize"}}]}  (a branch, a tag or a commit; 404 with X-Error-Code otherwise)
    GET /api/models/<org>/<name>/tree/<revision>?recursive=true
        every file and folder (what snapshot_download lists)
    HEAD|GET /<org>/<name>/resolve/<revision>/<path>
        a regular file: 200, ETag "<git blob sha1>", X-Repo-Commit
        an LFS file: 302 to /lfs-storage/<sha256>?X-Signature=... with X-Repo-Commit,
        X-Linked-Etag "<sha256>" and X-Linked-Size, as the Hub redirects to its CDN
    HEAD|GET /lfs-storage/<sha256>?X-Signature=...
        the LFS object (ETag, Range), 403 when the signature is wrong

A private repo answers 401 without ``Authorization: Bearer <token>`` (``private_token``); every
request is recorded with its Authorization header (``requests``). ``move(repo, files)`` commits new
files to a branch (what a push does); ``tag`` points a tag at a commit. ``serve_bad`` makes
one LFS object come back with other bytes (a corrupt mirror or proxy).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, quote, unquote, urlsplit

SECRET = b"fake-hf-signing-key"
LFS_SUFFIXES = (".h5", ".keras", ".safetensors", ".bin", ".pb", ".msgpack", ".index", ".npz")
LFS_MIN = 10 << 10  # larger files go to LFS too, as .gitattributes usually says


def git_blob_id(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def is_lfs(path: str, data: bytes) -> bool:
    return path.endswith(LFS_SUFFIXES) or len(data) >= LFS_MIN


@dataclass
class FakeRepo:
    name: str
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)
    refs: dict[str, str] = field(default_factory=dict)  # branch or tag -> commit
    tags: set[str] = field(default_factory=set)
    private: bool = False

    def resolve(self, revision: str) -> str | None:
        kind, _, name = revision.removeprefix("refs/").partition("/")
        if revision.startswith("refs/") and kind in ("heads", "tags"):
            if (name in self.tags) == (kind == "tags") and name in self.refs:
                return self.refs[name]
            return None
        if revision in self.refs:
            return self.refs[revision]
        return revision if revision in self.commits else None


class FakeHF:
    def __init__(self) -> None:
        self.repos: dict[str, FakeRepo] = {}
        self.requests: list[str] = []
        self.authorizations: list[tuple[str, str]] = []  # (path, Authorization header)
        self.private_token = "hf_secret_token_value"
        self.bad: set[str] = set()  # LFS sha256s served with other bytes
        self._lock = threading.Lock()
        self._server = _QuietServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self.storage_url = f"http://localhost:{self.port}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FakeHF:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()

    def move(self, repo: str, files: dict[str, bytes], *, branch: str = "main", private: bool = False) -> str:
        """Commit ``files`` (the whole tree) to ``branch`` of ``repo``; returns the commit."""
        found = self.repos.setdefault(repo, FakeRepo(repo, private=private))
        found.private = found.private or private
        digest = hashlib.sha1(f"{repo}\0{branch}\0{len(found.commits)}".encode())
        for path in sorted(files):
            digest.update(path.encode() + b"\0" + hashlib.sha256(files[path]).digest())
        commit = digest.hexdigest()
        found.commits[commit] = dict(files)
        found.refs[branch] = commit
        return commit

    def tag(self, repo: str, name: str, commit: str) -> None:
        self.repos[repo].refs[name] = commit
        self.repos[repo].tags.add(name)

    def remove(self, repo: str) -> None:
        """The repo is deleted (or made private to everyone): 404 from now on."""
        del self.repos[repo]

    def serve_bad(self, data: bytes) -> None:
        """Serve other bytes for this LFS object from now on."""
        self.bad.add(hashlib.sha256(data).hexdigest())

    def objects(self) -> dict[str, bytes]:
        """Every LFS object by sha256."""
        return {
            hashlib.sha256(data).hexdigest(): data
            for repo in self.repos.values()
            for files in repo.commits.values()
            for path, data in files.items()
            if is_lfs(path, data)
        }

    def _signature(self, sha256: str) -> str:
        return hmac.new(SECRET, sha256.encode(), hashlib.sha256).hexdigest()

    def route(self, method: str, raw: str, authorization: str) -> tuple[int, dict[str, str], bytes]:
        parts = urlsplit(raw)
        path, query = unquote(parts.path), parse_qs(parts.query)
        if path.startswith("/lfs-storage/"):
            sha256 = path.rsplit("/", 1)[-1]
            data = self.objects().get(sha256)
            if data is None:
                return 404, {}, b"no such object"
            if query.get("X-Signature") != [self._signature(sha256)]:
                return 403, {}, b"<Error>SignatureDoesNotMatch</Error>"
            if sha256 in self.bad:
                data = b"<html>a proxy's error page</html>" + data[34:]
            return 200, {"ETag": f'"{sha256}"', "Content-Type": "application/octet-stream"}, data
        api = path.startswith("/api/models/")
        rest = path.removeprefix("/api/models/") if api else path.lstrip("/")
        bits = rest.split("/")
        if len(bits) < 4:
            return 404, {"X-Error-Code": "RepositoryNotFound"}, b'{"error": "Repository not found"}'
        repo_name = "/".join(bits[:2])
        repo = self.repos.get(repo_name)
        if repo is None or (repo.private and authorization != f"Bearer {self.private_token}"):
            status = 401 if repo is not None or authorization == "" else 404
            return status, {"X-Error-Code": "RepositoryNotFound"}, b'{"error": "Repository not found"}'
        kind = bits[2]
        if api and kind == "revision":
            commit = repo.resolve("/".join(bits[3:]))
            if commit is None:
                return 404, {"X-Error-Code": "RevisionNotFound"}, b'{"error": "Invalid rev id"}'
            return (
                200,
                {"Content-Type": "application/json"},
                json.dumps(self._revision(repo, commit)).encode(),
            )
        if api and kind == "tree":  # list_repo_tree (snapshot_download): files, and their folders
            commit = repo.resolve(bits[3])
            if commit is None:
                return 404, {"X-Error-Code": "RevisionNotFound"}, b'{"error": "Invalid rev id"}'
            return 200, {"Content-Type": "application/json"}, json.dumps(self._tree(repo, commit)).encode()
        if not api and kind == "resolve":
            commit = repo.resolve(bits[3])
            if commit is None:
                return 404, {"X-Error-Code": "RevisionNotFound"}, b'{"error": "Invalid rev id"}'
            file_path = "/".join(bits[4:])
            data = repo.commits[commit].get(file_path)
            if data is None:
                return (
                    404,
                    {"X-Error-Code": "EntryNotFound", "X-Repo-Commit": commit},
                    b'{"error": "Entry not found"}',
                )
            headers = {"X-Repo-Commit": commit}
            if is_lfs(file_path, data):
                sha256 = hashlib.sha256(data).hexdigest()
                headers |= {
                    "X-Linked-Etag": f'"{sha256}"',
                    "X-Linked-Size": str(len(data)),
                    "ETag": f'"{git_blob_id(data)}"',
                    # another host name for the same server: the Hub's CDN is another host, and no
                    # token may follow the redirect there
                    "Location": f"{self.storage_url}/lfs-storage/{sha256}?X-Signature={self._signature(sha256)}",
                }
                return 302, headers, b""
            headers |= {"ETag": f'"{git_blob_id(data)}"', "Content-Type": "application/octet-stream"}
            return 200, headers, data
        return 404, {}, b"not found"

    def _revision(self, repo: FakeRepo, commit: str) -> dict[str, object]:
        siblings = []
        for path, data in sorted(repo.commits[commit].items()):
            item: dict[str, object] = {"rfilename": path, "size": len(data), "blobId": git_blob_id(data)}
            if is_lfs(path, data):
                item["lfs"] = {
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "size": len(data),
                    "pointerSize": 134,
                }
            siblings.append(item)
        return {
            "id": repo.name,
            "modelId": repo.name,
            "sha": commit,
            "private": repo.private,
            "siblings": siblings,
        }

    def _tree(self, repo: FakeRepo, commit: str) -> list[dict[str, object]]:
        entries: list[dict[str, object]] = []
        folders = sorted(
            {"/".join(p.split("/")[:i]) for p in repo.commits[commit] for i in range(1, p.count("/") + 1)}
        )
        for folder in folders:
            entries.append(
                {
                    "type": "directory",
                    "oid": hashlib.sha1(folder.encode()).hexdigest(),
                    "size": 0,
                    "path": folder,
                }
            )
        for path, data in sorted(repo.commits[commit].items()):
            item: dict[str, object] = {
                "type": "file",
                "oid": git_blob_id(data),
                "size": len(data),
                "path": path,
            }
            if is_lfs(path, data):
                item["lfs"] = {"oid": hashlib.sha256(data).hexdigest(), "size": len(data), "pointerSize": 134}
            entries.append(item)
        return entries

    def file_url(self, repo: str, revision: str, path: str) -> str:
        return f"{self.url}/{repo}/resolve/{revision}/{quote(path)}"


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: object, client_address: object) -> None:
        pass


def _handler(hub: FakeHF) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _answer(self, method: str) -> None:
            authorization = self.headers.get("Authorization", "")
            with hub._lock:
                hub.requests.append(f"{method} {self.path}")
                hub.authorizations.append((self.path, authorization))
            status, headers, body = hub.route(method, self.path, authorization)
            wanted = self.headers.get("Range")
            if status == 200 and wanted and wanted.startswith("bytes="):
                start = int(wanted.removeprefix("bytes=").split("-")[0] or 0)
                headers["Content-Range"] = f"bytes {start}-{len(body) - 1}/{len(body)}"
                status, body = 206, body[start:]
            self.send_response(status)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if method == "GET":
                with contextlib.suppress(OSError):
                    self.wfile.write(body)

        def do_GET(self) -> None:
            self._answer("GET")

        def do_HEAD(self) -> None:
            self._answer("HEAD")

        def log_message(self, format: str, *args: object) -> None:
            pass

    return Handler

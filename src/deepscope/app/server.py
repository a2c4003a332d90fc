"""`deepscope serve`: the site over HTTP on 127.0.0.1 only, never a file outside the site folder.

The handler resolves every request (percent-decoded, `..` segments, symlinks) to a real path and
answers 403 unless it lies inside the site's real path, and 404 for any name starting with a dot
(`.build/`, `.work/`: the build's own state); only GET and HEAD are served. Connections are read by
one thread and answered by `WORKERS` daemon threads (`serving.PooledHTTPServer`); the kernel queues
up to `BACKLOG` before they are accepted; a connection that has not sent its request within
`TIMEOUT_S` seconds, or stalls that long while its answer is sent, is closed; at most
`pending_limit()` connections wait for their request at once (the longest-waiting one is closed
to make room), so never-finished requests cannot exhaust file descriptors.
"""
from __future__ import annotations

import errno
import io
import os
import posixpath
import urllib.parse
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler
from pathlib import Path

from deepscope.app.serving import PooledHTTPServer
from deepscope.errors import DeepscopeError

HOST = "127.0.0.1"
WORKERS = 32  # connections served at once
TIMEOUT_S = 5.0  # seconds a connection may take to send its request, or stall while answered
BACKLOG = 1024  # connections the kernel queues before they are accepted


def pending_limit() -> int:
    """Connections that may wait for their request at once: 512, or half the process's file
    descriptors where fewer are allowed."""
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (ImportError, OSError, ValueError):
        return 512
    return 512 if soft == resource.RLIM_INFINITY else max(16, min(512, soft // 2))


def inside(root: Path, url_path: str) -> Path | None:
    """The real file `url_path` names under `root`, or None if it would leave `root`."""
    path = urllib.parse.unquote(url_path.split("?", 1)[0].split("#", 1)[0], errors="strict")
    if "\x00" in path or "\\" in path:
        return None
    if ".." in path.split("/"):  # refused, not clamped to the root
        return None
    parts = [p for p in posixpath.normpath("/" + path).split("/") if p]
    candidate = root.joinpath(*parts)
    real = Path(os.path.realpath(candidate))
    if real != root and root not in real.parents:
        return None
    return real


def hidden(root: Path, url_path: str, real: Path) -> bool:
    """Whether the request names a dot file or folder, as asked or as resolved under `root`."""
    asked = urllib.parse.unquote(url_path.split("?", 1)[0].split("#", 1)[0]).split("/")
    return any(p.startswith(".") and p != "." for p in [*asked, *real.relative_to(root).parts])


class SiteHandler(SimpleHTTPRequestHandler):
    """Static files of one site folder; 403 for anything that resolves outside it, 404 for dot paths."""

    def __init__(self, *args, root: Path, head: bytes = b"", **kwargs):
        self.root, self.head = root, head
        super().__init__(*args, directory=str(root), **kwargs)

    def setup(self) -> None:
        self.timeout = self.server.connection_timeout  # applied to the socket by StreamRequestHandler
        super().setup()
        self.rfile = io.BytesIO(self.head)  # the request head, already read by the server

    def send_head(self):
        try:
            target = inside(self.root, self.path)
        except UnicodeDecodeError:
            target = None
        if target is None:
            self.send_error(HTTPStatus.FORBIDDEN, "outside the site")
            return None
        if hidden(self.root, self.path, target):
            self.send_error(HTTPStatus.NOT_FOUND, "not part of the site")
            return None
        return super().send_head()

    def translate_path(self, path: str) -> str:
        target = inside(self.root, path)
        return str(target) if target is not None else str(self.root / "__forbidden__")

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND, "no directory listings")

    def log_message(self, format: str, *args) -> None:
        if not self.server.quiet:
            super().log_message(format, *args)


def check_port(port: int, *, any_free: bool = True) -> None:
    """A clear error for a port that cannot be listened on (0 picks a free one when `any_free`)."""
    low = 0 if any_free else 1
    if not isinstance(port, int) or not low <= port <= 65535:
        raise DeepscopeError(f"port {port!r} is not a TCP port; use --port N with {low} <= N <= 65535")


def make_server(site: str | os.PathLike, port: int = 8000, quiet: bool = False, *, workers: int = WORKERS,
                timeout: float = TIMEOUT_S, pending: int | None = None) -> PooledHTTPServer:
    """A server for `site` bound to 127.0.0.1:`port` (0 picks a free port); call `serve_forever()`."""
    check_port(port)
    root = Path(os.path.realpath(site))
    if not (root / "index.html").is_file():
        raise DeepscopeError(f"{str(site)!r} is not a site folder (no index.html); build one with `deepscope site`")
    try:
        return PooledHTTPServer((HOST, port), partial(SiteHandler, root=root), workers=workers, timeout=timeout,
                                backlog=BACKLOG, pending=pending or pending_limit(), quiet=quiet)
    except OSError as err:
        reason = "already in use (another server runs there)" if err.errno == errno.EADDRINUSE else (err.strerror or str(err))
        raise DeepscopeError(f"cannot listen on {HOST}:{port}: {reason}; choose another port with --port N") from err

"""`deepscope serve`: the site over HTTP on 127.0.0.1 only, never a file outside the site folder.

The handler resolves every request (percent-decoded, `..` segments, symlinks) to a real path and
answers 403 unless it lies inside the site's real path; only GET and HEAD are served.
"""
from __future__ import annotations

import os
import posixpath
import urllib.parse
from functools import partial
from http import HTTPStatus
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from deepscope.errors import DeepscopeError

HOST = "127.0.0.1"


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


class SiteHandler(SimpleHTTPRequestHandler):
    """Static files of one site folder; 403 for anything that resolves outside it."""

    def __init__(self, *args, root: Path, **kwargs):
        self.root = root
        super().__init__(*args, directory=str(root), **kwargs)

    def send_head(self):
        try:
            target = inside(self.root, self.path)
        except UnicodeDecodeError:
            target = None
        if target is None:
            self.send_error(HTTPStatus.FORBIDDEN, "outside the site")
            return None
        return super().send_head()

    def translate_path(self, path: str) -> str:
        target = inside(self.root, path)
        return str(target) if target is not None else str(self.root / "__forbidden__")

    def list_directory(self, path):
        self.send_error(HTTPStatus.NOT_FOUND, "no directory listings")

    def log_message(self, format: str, *args) -> None:
        if not getattr(self.server, "quiet", False):
            super().log_message(format, *args)


def make_server(site: str | os.PathLike, port: int = 8000, quiet: bool = False) -> ThreadingHTTPServer:
    """A server for `site` bound to 127.0.0.1:`port` (0 picks a free port); call `serve_forever()`."""
    root = Path(os.path.realpath(site))
    if not (root / "index.html").is_file():
        raise DeepscopeError(f"{str(site)!r} is not a site folder (no index.html); build one with `deepscope site`")
    try:
        server = ThreadingHTTPServer((HOST, port), partial(SiteHandler, root=root))
    except OSError as err:
        raise DeepscopeError(f"cannot listen on {HOST}:{port} ({err.strerror or err}); choose another --port") from err
    server.quiet = quiet
    server.daemon_threads = True
    return server

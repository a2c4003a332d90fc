"""`deepscope serve`: loopback only, static files of the site only (no traversal, no symlink escape)."""
from __future__ import annotations

import http.client
import os
import socket
import threading

import pytest

from deepscope.app.server import HOST, inside, make_server
from deepscope.errors import DeepscopeError


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A small site folder with a secret file beside it, served on a free port."""
    tmp_path = tmp_path_factory.mktemp("serve")
    site = tmp_path / "site"
    (site / "layers" / "blocks.4").mkdir(parents=True)
    (site / "index.html").write_text("<h1>overview</h1>")
    (site / "layers" / "blocks.4" / "index.html").write_text("layer page")
    secret = tmp_path / "secret.txt"
    secret.write_text("do not serve")
    os.symlink(secret, site / "escape.txt")  # points out of the site
    os.symlink(tmp_path, site / "up")  # a folder link out of the site
    os.symlink(site / "index.html", site / "alias.html")  # points inside: fine
    server = make_server(site, 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield site, server.server_address[1]
    server.shutdown()
    server.server_close()


def get(port: int, raw_path: str, method: str = "GET") -> tuple[int, bytes]:
    """Send the path exactly as written (http.client does not normalize it)."""
    conn = http.client.HTTPConnection(HOST, port, timeout=10)
    conn.putrequest(method, raw_path, skip_accept_encoding=True)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, body


def test_serves_site_files(served):
    _site, port = served
    assert get(port, "/") == (200, b"<h1>overview</h1>")
    assert get(port, "/layers/blocks.4/index.html") == (200, b"layer page")
    assert get(port, "/layers/blocks%2E4/index.html")[0] == 200  # encoded dot inside a name is fine
    assert get(port, "/alias.html") == (200, b"<h1>overview</h1>")
    assert get(port, "/missing.html")[0] == 404
    assert get(port, "/layers/")[0] == 404  # no directory listings


@pytest.mark.parametrize("path", [
    "/../secret.txt", "/layers/../../secret.txt", "/%2e%2e/secret.txt", "/%2E%2E/secret.txt",
    "/layers/%2e%2e/%2e%2e/secret.txt", "/%2e%2e%2fsecret.txt", "/..%2fsecret.txt", "/..%5csecret.txt",
    "/escape.txt", "/up/secret.txt", "/%00index.html", "/%ff%fe",
])
def test_refuses_paths_outside_the_site(served, path):
    _site, port = served
    status, body = get(port, path)
    assert status == 403, (path, status)
    assert b"do not serve" not in body


def test_inside_resolves_within_root(tmp_path):
    root = tmp_path.resolve()
    (root / "a").mkdir()
    assert inside(root, "/a/../a") is None
    assert inside(root, "/a?x=../../etc") == root / "a"
    assert inside(root, "/%2e%2e") is None


def _outward_address() -> str | None:
    """This machine's address on its default route (no packet is sent), or None without one."""
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect(("10.255.255.255", 1))
        return probe.getsockname()[0]
    except OSError:
        return None
    finally:
        probe.close()


def test_binds_to_loopback_only(served):
    """Reachable on 127.0.0.1, not on another address of this machine (a 0.0.0.0 bind would be)."""
    _site, port = served
    with socket.create_connection((HOST, port), timeout=2):
        pass
    others = ["127.0.0.2"] if os.uname().sysname == "Linux" else []  # all of 127/8 is local on Linux
    outward = _outward_address()
    if outward and not outward.startswith("127."):
        others.append(outward)
    for address in others:
        with pytest.raises(OSError):
            socket.create_connection((address, port), timeout=2).close()


def test_bound_address_is_loopback(tmp_path):
    (tmp_path / "index.html").write_text("x")
    server = make_server(tmp_path, 0, quiet=True)
    try:
        assert server.server_address[0] == "127.0.0.1"
    finally:
        server.server_close()


def test_refuses_a_folder_that_is_not_a_site(tmp_path):
    with pytest.raises(DeepscopeError, match="not a site folder"):
        make_server(tmp_path, 0)

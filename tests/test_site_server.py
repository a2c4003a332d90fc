"""`deepscope serve`: loopback only, static files of the site only (no traversal, no symlink escape, no
dot paths), 200 concurrent requests all answered, slow clients timed out, quiet disconnects."""
from __future__ import annotations

import http.client
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from deepscope.app.server import HOST, inside, make_server
from deepscope.app.serving import PooledHTTPServer
from deepscope.cli import main
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
    (site / ".build").mkdir()
    (site / ".build" / "atlas.done").write_text("build state")
    (site / ".work" / "store").mkdir(parents=True)
    (site / ".work" / "store" / "meta.json").write_text("build state")
    (site / ".hidden.html").write_text("build state")
    os.symlink(site / ".work" / "store", site / "store")  # a plain name resolving into a dot folder
    (site / "big.bin").write_bytes(os.urandom(1 << 20) * 16)  # 16 MB: a response a client can abandon
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
    assert get(port, "/./index.html") == (200, b"<h1>overview</h1>")  # "." is no dot name
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


@pytest.mark.parametrize("path", ["/.build/atlas.done", "/.work/store/meta.json", "/%2ebuild/atlas.done",
                                  "/.hidden.html", "/store/meta.json", "/.build/", "/.work"])
def test_dot_paths_are_never_served(served, path):
    _site, port = served
    for method in ("GET", "HEAD"):
        status, body = get(port, path, method)
        assert status == 404, (path, method, status)
        assert b"build state" not in body


def _request(sock: socket.socket, path: str = "/layers/blocks.4/index.html") -> tuple[int, bytes]:
    """Send one HTTP/1.0 GET on a connected socket and read the whole answer."""
    sock.sendall(f"GET {path} HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
    response = http.client.HTTPResponse(sock)
    response.begin()
    return response.status, response.read()


def test_200_concurrent_connections_are_all_answered(served):
    """200 connections are made at once before the server accepts any (a listen backlog of 5 drops
    them), then all send their request; every one is answered 200."""
    site, _port = served
    server = make_server(site, 0, quiet=True)
    port = server.server_address[1]
    sockets, thread = [], threading.Thread(target=server.serve_forever, daemon=True)
    try:
        for _ in range(200):
            sockets.append(socket.create_connection((HOST, port), timeout=2))
        for sock in sockets:
            sock.settimeout(10)
        thread.start()
        with ThreadPoolExecutor(50) as pool:
            answers = list(pool.map(_request, sockets))
    finally:
        for sock in sockets:
            sock.close()
        if thread.is_alive():
            server.shutdown()
        server.server_close()
    assert answers == [(200, b"layer page")] * 200
    with ThreadPoolExecutor(50) as pool:  # and plain concurrent clients on the shared server
        assert set(pool.map(lambda _: get(_port, "/"), range(200))) == {(200, b"<h1>overview</h1>")}


def _half_sent(port: int) -> socket.socket:
    sock = socket.create_connection((HOST, port), timeout=5)
    sock.sendall(b"GET /index.html HTTP/1.1\r\nHost: 127.")  # and never the rest
    return sock


def _closed_by_server(sock: socket.socket, wait: float) -> bool:
    sock.settimeout(wait)
    try:
        return sock.recv(1024) == b""
    except TimeoutError:
        return False
    except ConnectionError:
        return True


def _trickle(port: int, closed: list) -> None:
    """A client sending its request one byte at a time, 10 bytes a second, for as long as it may."""
    with socket.create_connection((HOST, port), timeout=5) as sock:
        start = time.monotonic()
        try:
            for byte in b"GET /index.html HTTP/1.0\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 100:
                sock.send(bytes([byte]))
                time.sleep(0.1)
        except OSError:
            closed.append(time.monotonic() - start)


def test_half_sent_requests_do_not_block_others_and_are_closed_after_the_timeout(served):
    site, _port = served
    server = make_server(site, 0, quiet=True, workers=4, timeout=1.0)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    threads = threading.active_count()
    try:
        closed: list[float] = []
        trickle = threading.Thread(target=_trickle, args=(port, closed))
        trickle.start()
        slow = [_half_sent(port) for _ in range(12)]  # three times as many as there are workers
        time.sleep(0.05)
        assert threading.active_count() <= threads + 1, "a thread per connection"  # + the trickling client
        assert get(port, "/") == (200, b"<h1>overview</h1>")  # answered while the slow ones wait
        assert not any(_closed_by_server(sock, 0.01) for sock in slow)
        start = time.monotonic()
        assert all(_closed_by_server(sock, 5) for sock in slow)
        assert time.monotonic() - start < 3
        trickle.join(15)
        assert closed and closed[0] < 4, "a request trickled byte by byte kept its connection"
        assert get(port, "/") == (200, b"<h1>overview</h1>")
    finally:
        server.shutdown()
        server.server_close()


def test_never_finished_requests_are_capped_the_longest_waiting_closed_first(served):
    """However many clients never finish their request, at most `pending` wait at once (each holds a
    file descriptor until its timeout): beyond that the one waiting longest is closed."""
    site, _port = served
    server = make_server(site, 0, quiet=True, workers=2, timeout=60.0, pending=8)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        slow = [_half_sent(port) for _ in range(40)]
        assert get(port, "/") == (200, b"<h1>overview</h1>")  # a normal client still gets in
        time.sleep(0.3)
        closed = [_closed_by_server(sock, 0.2) for sock in slow]
        assert sum(closed) == 40 - 8 + 1, "the cap of 8 waiting connections is not held"  # + one for the GET
        assert not closed[-1], "the newest connection was closed instead of the longest-waiting one"
    finally:
        for sock in slow:
            sock.close()
        server.shutdown()
        server.server_close()


def test_a_client_that_disconnects_costs_one_line_not_a_traceback(served, capfd):
    site, _port = served
    server = make_server(site, 0, quiet=False)
    port = server.server_address[1]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        sock = socket.create_connection((HOST, port), timeout=5)
        sock.sendall(f"GET /big.bin HTTP/1.0\r\nHost: {HOST}\r\n\r\n".encode())
        sock.recv(1024)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # reset
        sock.close()
        deadline, err = time.monotonic() + 5, ""
        while "went away" not in err and time.monotonic() < deadline:
            time.sleep(0.05)
            err += capfd.readouterr().err
        assert get(port, "/") == (200, b"<h1>overview</h1>")  # still serving
    finally:
        server.shutdown()
        server.server_close()
    err += capfd.readouterr().err
    assert "Traceback" not in err and "went away" in err
    assert len([line for line in err.splitlines() if "went away" in line]) == 1


def test_ports_out_of_range_or_in_use_are_clear_errors(served, capsys, monkeypatch):
    site, port = served
    monkeypatch.setattr(PooledHTTPServer, "serve_forever", lambda self: pytest.fail(f"serving on {self.server_address}"))
    for bad in (99999, 65536, -1):
        with pytest.raises(DeepscopeError, match="not a TCP port.*--port N"):
            make_server(site, bad)
    with pytest.raises(DeepscopeError, match=f"{port}: already in use.*--port N"):
        make_server(site, port)
    for bad in ("99999", "0", "-5"):
        assert main(["serve", str(site), "--port", bad]) == 2
        err = capsys.readouterr().err
        assert "not a TCP port" in err and "Traceback" not in err
    assert main(["serve", str(site), "--port", str(port)]) == 2
    assert "already in use" in capsys.readouterr().err

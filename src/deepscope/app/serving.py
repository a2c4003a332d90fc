"""The connections of `deepscope serve`: many clients, a fixed number of threads, no stalled worker.

One thread reads every connection's request head without blocking (a selector over all of them);
a connection whose head is complete goes to one of `workers` daemon threads, which answer it. A
connection that has not sent a complete head `timeout` seconds after it was accepted (a half-sent
or trickled request) is closed, so slow clients hold neither a thread nor a worker; at most
`pending` connections wait for their head at once (beyond that the one waiting longest is closed),
so a flood of never-finished requests cannot use up the process's file descriptors. A client
that goes away costs one log line (none when quiet), never a traceback.
"""
from __future__ import annotations

import queue
import selectors
import socket
import sys
import threading
import time
from http.server import HTTPServer

HEAD_LIMIT = 65536  # bytes of request line and headers; a longer head goes to the handler (which refuses it)


def _head_complete(buffer: bytearray) -> bool:
    return b"\r\n\r\n" in buffer or b"\n\n" in buffer or len(buffer) > HEAD_LIMIT


class PooledHTTPServer(HTTPServer):
    """An HTTP server for GET and HEAD whose request heads are gathered by one thread and answered
    by `workers` daemon threads; the handler is built with `head=` (the bytes read)."""

    def __init__(self, address, handler, *, workers: int, timeout: float, backlog: int, pending: int,
                 quiet: bool = False):
        self.request_queue_size, self.connection_timeout, self.quiet = backlog, timeout, quiet
        self.pending_limit = max(1, pending)
        self._ready: queue.SimpleQueue = queue.SimpleQueue()  # (socket, address, head) for the workers
        self._arrivals: queue.SimpleQueue = queue.SimpleQueue()  # accepted sockets for the gatherer
        self._threads: list[threading.Thread] = []
        self._closing = False
        super().__init__(address, handler)  # binds and listens (closed again if that fails)
        self._wake_recv, self._wake_send = socket.socketpair()
        self._threads = [threading.Thread(target=self._gather, name="deepscope-serve-read", daemon=True)]
        self._threads += [threading.Thread(target=self._work, name=f"deepscope-serve-{i}", daemon=True)
                          for i in range(workers)]
        for thread in self._threads:
            thread.start()

    def process_request(self, request, client_address) -> None:
        self._arrivals.put((request, client_address))
        self._wake_send.send(b"\0")

    def _gather(self) -> None:
        """Read request heads until complete, then hand the connection to a worker."""
        selector = selectors.DefaultSelector()
        selector.register(self._wake_recv, selectors.EVENT_READ)
        pending: dict[socket.socket, tuple] = {}  # socket -> (address, head so far, deadline)
        while not self._closing:
            now = time.monotonic()
            wait = min((deadline for _, _, deadline in pending.values()), default=now + 1.0) - now
            for key, _ in selector.select(timeout=max(0.0, min(wait, 1.0))):
                if key.fileobj is self._wake_recv:
                    self._wake_recv.recv(4096)
                    while not self._arrivals.empty():
                        sock, address = self._arrivals.get()
                        if len(pending) >= self.pending_limit:
                            oldest = min(pending, key=lambda s: pending[s][2])
                            self._drop(selector, pending, oldest,
                                       f"closed: more than {self.pending_limit} connections waiting for a request")
                        sock.setblocking(False)
                        selector.register(sock, selectors.EVENT_READ)
                        pending[sock] = (address, bytearray(), time.monotonic() + self.connection_timeout)
                else:
                    self._read(selector, pending, key.fileobj)
            now = time.monotonic()
            for sock in [s for s, (_, _, deadline) in pending.items() if deadline < now]:
                self._drop(selector, pending, sock, f"sent no complete request in {self.connection_timeout:g} s")
        for sock in list(pending):
            self._drop(selector, pending, sock, "")
        selector.close()
        self._wake_recv.close()
        self._wake_send.close()

    def _read(self, selector, pending: dict, sock: socket.socket) -> None:
        address, head, _deadline = pending[sock]
        try:
            data = sock.recv(8192)
        except (BlockingIOError, InterruptedError):
            return
        except OSError as err:
            self._drop(selector, pending, sock, f"went away ({type(err).__name__})")
            return
        if not data:  # closed before sending a request: nothing to say
            self._drop(selector, pending, sock, "")
            return
        head += data
        if _head_complete(head):
            selector.unregister(sock)
            del pending[sock]
            sock.setblocking(True)
            self._ready.put((sock, address, bytes(head)))

    def _drop(self, selector, pending: dict, sock: socket.socket, why: str) -> None:
        address = pending.pop(sock)[0]
        selector.unregister(sock)
        self.shutdown_request(sock)
        if why and not self.quiet:
            sys.stderr.write(f"{address[0]}:{address[1]} {why}\n")

    def _work(self) -> None:
        while (item := self._ready.get()) is not None:
            sock, address, head = item
            try:
                self.RequestHandlerClass(sock, address, self, head=head)
            except Exception:  # noqa: BLE001 - reported by handle_error; the worker serves the next one
                self.handle_error(sock, address)
            finally:
                self.shutdown_request(sock)

    def handle_error(self, request, client_address) -> None:
        """A client that disconnected or stalled: one line (none when quiet); anything else: the traceback."""
        error = sys.exc_info()[1]
        if not isinstance(error, (ConnectionError, TimeoutError)):
            super().handle_error(request, client_address)
        elif not self.quiet:
            sys.stderr.write(f"{client_address[0]}:{client_address[1]} went away ({type(error).__name__})\n")

    def server_close(self) -> None:
        super().server_close()
        if self._threads:
            self._closing = True
            self._wake_send.send(b"\0")
            for _ in self._threads[1:]:
                self._ready.put(None)

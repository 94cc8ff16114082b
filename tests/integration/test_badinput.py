"""Bad input against each handler (http, socks4, socks5, auto, tcp forward): garbage, truncated
handshakes, an oversized HTTP head, a silent client (closed within readTimeout), many half-open
connections; for http and auto also keep-alive clients misbehaving after a first good request
(while their session waits parked). After each, a normal curl through the same service still works, and gost exits
cleanly (no sanitizer report) at the end of every case."""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOOPBACK, check, connect, curl_ok, recv_until_closed, rng, run,  # noqa: E402
                     run_threads)

READ_TIMEOUT = "1s"
CLOSE_BOUND = 8.0  # seconds within which a proxy handler must close a bad/silent connection


class Target:
    """One gost service under test plus the way to check it still serves."""

    def __init__(self, t, kind):
        self.t = t
        self.kind = kind
        self.o = t.origin()
        if kind == "forward":
            url = f"tcp://127.0.0.1:0/{self.o.addr}?readTimeout={READ_TIMEOUT}"
        else:
            url = f"{kind}://127.0.0.1:0?readTimeout={READ_TIMEOUT}"
        self.g = t.gost("-L", url)
        self.port = self.g.port()
        self.hp = self.g.hostport()
        # A proxy handler must close bad connections itself; a forwarder passes bytes on.
        self.must_close = kind != "forward"

    def still_works(self, tag=""):
        path = f"/ok{tag}"
        if self.kind == "http":
            curl_ok("-x", f"http://{self.hp}", self.o.url(path), want_body=self.o.body(path))
        elif self.kind == "socks4":
            curl_ok("--socks4a", self.hp, self.o.url(path), want_body=self.o.body(path))
        elif self.kind == "socks5":
            curl_ok("--socks5-hostname", self.hp, self.o.url(path), want_body=self.o.body(path))
        elif self.kind == "auto":
            curl_ok("-x", f"http://{self.hp}", self.o.url(path), want_body=self.o.body(path))
            curl_ok("--socks5-hostname", self.hp, self.o.url(path), want_body=self.o.body(path))
            curl_ok("--socks4a", self.hp, self.o.url(path), want_body=self.o.body(path))
        else:
            curl_ok(f"http://127.0.0.1:{self.port}{path}", want_body=self.o.body(path))

    def send_and_check_close(self, payload, what, close_write=False):
        """Sends payload; a proxy handler must then close the connection (bounded)."""
        with connect(self.port) as s:
            try:
                s.sendall(payload)
                if close_write:
                    s.shutdown(socket.SHUT_WR)
            except OSError:
                return b""  # the server already closed/reset: fine
            # A forwarder's target decides when to close; do not wait long for it.
            data, closed = recv_until_closed(s, CLOSE_BOUND if self.must_close else 0.5)
            if self.must_close:
                check(closed, f"{self.kind}: connection still open {CLOSE_BOUND:.0f}s after "
                              f"{what}")
            return data


def proto_payloads(kind, origin_port):
    """Malformed or edge-case handshakes in each protocol's own framing."""
    p = origin_port.to_bytes(2, "big")
    http = [
        b"\x00\x01\x02\x03\r\n\r\n",
        b"GET\r\n\r\n",
        b"GET http://[::1/ HTTP/1.1\r\n\r\n",
        b"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",
        b"CONNECT :99999 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET http://127.0.0.1:" + str(origin_port).encode() + b"/ HTTP/9.9\r\n\r\n",
        b"POST http://127.0.0.1:" + str(origin_port).encode()
        + b"/ HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
        b"POST http://127.0.0.1:" + str(origin_port).encode()
        + b"/ HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"GET http://127.0.0.1:" + str(origin_port).encode()
        + b"/ HTTP/1.1\r\nConnection: close\r\nProxy-Authorization: Basic !!!notbase64\r\n\r\n",
        b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * 2000 + b"\r\n",
    ]
    socks5 = [
        b"\x05\x00",                                   # zero methods
        b"\x05\xff" + b"\x00" * 255,                    # 255 methods
        b"\x05\x01\x00\x05\x09\x00\x01\x7f\x00\x00\x01" + p,   # unknown command 9
        b"\x05\x01\x00\x05\x01\x00\x09\x7f\x00\x00\x01" + p,   # unknown ATYP 9
        b"\x05\x01\x00\x05\x01\x00\x03\x00" + p,               # empty domain
        b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00\x00\x01\x00\x00",  # port 0
        b"\x05\x01\x00\x04\x01\x00\x01\x7f\x00\x00\x01" + p,   # wrong request version
        b"\x05\x01\x02\x01\x00\x00",                   # userpass with empty user and password
        b"\x05\x01\x00\x05\x03\x00\x01\x00\x00\x00\x00\x00\x00",  # UDP ASSOCIATE, udp disabled
        b"\x05\x01\x00\x05\x02\x00\x01\x7f\x00\x00\x01\x00\x00",  # BIND, bind disabled
    ]
    socks4 = [
        b"\x04\x09" + p + b"\x7f\x00\x00\x01\x00",     # unknown command
        b"\x04\x01\x00\x00\x7f\x00\x00\x01\x00",       # port 0
        b"\x04\x01" + p + b"\x00\x00\x00\x01\x00\x00",  # 4a with an empty host
        b"\x04\x01" + p + b"\x00\x00\x00\x01" + b"u" * 600 + b"\x00",  # long user id, no host
        b"\x04\x01" + p + b"\x7f\x00\x00\x01" + b"u" * 5000,  # user id never terminated
        b"\x04\x02" + p + b"\x7f\x00\x00\x01\x00",     # BIND
    ]
    if kind == "http":
        return http
    if kind == "socks5":
        return socks5
    if kind == "socks4":
        return socks4
    if kind == "auto":
        return http + socks5 + socks4
    return [b"\x00\xff garbage for the origin\r\n\r\n"]


def truncated_payloads(kind, origin_port):
    p = origin_port.to_bytes(2, "big")
    http = [b"G", b"CONNECT 127.0.0.1:" + str(origin_port).encode() + b" HTTP/1.1\r\nHost: x",
            b"GET http://127.0.0.1:" + str(origin_port).encode() + b"/ HTTP/1.1\r\n"]
    socks5 = [b"\x05", b"\x05\x02\x00", b"\x05\x01\x00\x05\x01", b"\x05\x01\x00\x05\x01\x00\x03\x10abc",
              b"\x05\x01\x00\x05\x01\x00\x01\x7f\x00", b"\x05\x01\x02\x01\x05ali"]
    socks4 = [b"\x04", b"\x04\x01" + p, b"\x04\x01" + p + b"\x7f\x00\x00\x01user",
              b"\x04\x01" + p + b"\x00\x00\x00\x01u\x00local"]
    if kind == "http":
        return http
    if kind == "socks5":
        return socks5
    if kind == "socks4":
        return socks4
    if kind == "auto":
        return http + socks5 + socks4
    return [b"GET / HT"]


def bad_garbage(t, kind):
    tg = Target(t, kind)
    r = rng()
    payloads = [bytes(r.getrandbits(8) for _ in range(r.choice([1, 7, 64, 1024, 9000])))
                for _ in range(12)]
    first = {"http": b"G", "socks5": b"\x05", "socks4": b"\x04", "auto": b"\x05",
             "forward": b""}[kind]
    payloads += [first + x for x in payloads[:6]]
    payloads += proto_payloads(kind, tg.o.port)
    for i, pl in enumerate(payloads):
        tg.send_and_check_close(pl, f"garbage #{i} ({pl[:16]!r}...)")
    tg.still_works()


def bad_truncated(t, kind):
    tg = Target(t, kind)
    for i, pl in enumerate(truncated_payloads(kind, tg.o.port)):
        # (a) partial handshake then an abrupt close
        try:
            with connect(tg.port) as s:
                s.sendall(pl)
        except OSError:
            pass
        # (b) partial handshake then FIN: the server must notice the EOF and close.
        tg.send_and_check_close(pl, f"truncated #{i} ({pl[:16]!r}) + FIN", close_write=True)
        # (c) partial handshake then RST.
        s = connect(tg.port)
        try:
            s.sendall(pl)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        s.close()
    tg.still_works()


def bad_oversized(t, kind):
    tg = Target(t, kind)
    big = b"a" * (70 * 1024)
    heads = [
        (b"GET http://127.0.0.1:%d/big-header HTTP/1.1\r\nHost: x\r\nX-Big: " % tg.o.port) + big
        + b"\r\n\r\n",
        b"GET http://127.0.0.1:%d/" % tg.o.port + big + b" HTTP/1.1\r\n\r\n",
        b"CONNECT 127.0.0.1:%d HTTP/1.1\r\nX-Big: " % tg.o.port + big + b"\r\n\r\n",
        big + big,  # no line end at all
    ]
    for i, h in enumerate(heads):
        data = tg.send_and_check_close(h, f"a {len(h)}-byte head #{i}")
        if data.startswith(b"HTTP/"):
            status = data.split(b" ", 2)[1] if b" " in data else b"?"
            check(not status.startswith(b"2"),
                  f"{kind}: oversized head #{i} answered {status!r}")
    if kind != "forward":
        check(not any(q[1] == "/big-header" for q in tg.o.requests),
              f"{kind}: an oversized head reached the origin")
    tg.still_works()


def bad_slow(t, kind):
    tg = Target(t, kind)
    if not tg.must_close:
        # A forwarder has no handshake to time out: an idle client must not block others.
        with connect(tg.port) as idle:
            tg.still_works("-while-idle")
            idle.sendall(b"GET /late HTTP/1.0\r\n\r\n")
            data, _ = recv_until_closed(idle, 10)
            check(b"path=/late" in data, f"idle forwarded connection lost: {data[:200]!r}")
        tg.still_works()
        return
    partial = {"http": b"GET http://127.0.0.1/ HTTP/1.1\r\n", "socks5": b"\x05\x01",
               "socks4": b"\x04\x01", "auto": b"G"}[kind]
    for pl in (b"", partial):
        t0 = time.monotonic()
        with connect(tg.port) as s:
            if pl:
                s.sendall(pl)
            _, closed = recv_until_closed(s, CLOSE_BOUND)
            dt = time.monotonic() - t0
            check(closed, f"{kind}: silent client ({pl!r}) not closed within {CLOSE_BOUND:.0f}s "
                          f"(readTimeout={READ_TIMEOUT})")
            check(dt >= 0.5, f"{kind}: silent client closed after only {dt:.2f}s "
                             f"(readTimeout={READ_TIMEOUT})")
    tg.still_works()


def bad_halfopen(t, kind):
    tg = Target(t, kind)
    n = 100
    partial = {"http": b"CONNECT 127.0.0.1:1 HTTP/1.1\r\n", "socks5": b"\x05\x01\x00",
               "socks4": b"\x04\x01\x00", "auto": b"\x05",
               "forward": b"GET /halfopen HTTP/1.1\r\n"}[kind]
    socks = []
    try:
        for i in range(n):
            s = connect(tg.port)
            if i % 2:
                s.sendall(partial)
            socks.append(s)
        # With n connections stuck in their handshakes, the service still serves.
        tg.still_works("-busy")
        if tg.must_close:
            deadline = time.monotonic() + CLOSE_BOUND + 5
            open_left = 0
            for s in socks:
                left = max(0.1, deadline - time.monotonic())
                _, closed = recv_until_closed(s, left)
                if not closed:
                    open_left += 1
            check(open_left == 0, f"{kind}: {open_left} of {n} half-open connections still open "
                                  f"after readTimeout={READ_TIMEOUT} + {CLOSE_BOUND:.0f}s")
    finally:
        for s in socks:
            s.close()
    tg.still_works()


def bad_concurrent_storm(t, kind):
    """Garbage and valid clients at the same time from several threads."""
    tg = Target(t, kind)
    errors = []
    r = rng(7)
    blobs = [bytes(r.getrandbits(8) for _ in range(256)) for _ in range(8)]

    def garbage(i):
        try:
            for j in range(10):
                with socket.create_connection((LOOPBACK, tg.port), timeout=5) as s:
                    try:
                        s.sendall(blobs[(i + j) % len(blobs)])
                        s.settimeout(0.2)
                        s.recv(100)
                    except OSError:
                        pass
        except OSError as e:
            errors.append(f"garbage thread {i}: {e}")

    def good(i):
        try:
            for j in range(3):
                tg.still_works(f"-{i}-{j}")
        except Exception as e:  # noqa: BLE001
            errors.append(f"good client {i}: {e}")

    run_threads([lambda i=i: garbage(i) for i in range(8)] + [lambda i=i: good(i) for i in range(4)],
                90, "storm threads")
    check(not errors, "; ".join(errors[:3]))
    tg.still_works()


def read_response(s, limit=5.0):
    """One response with a Content-Length body (the origin's and gost's own), or None."""
    s.settimeout(limit)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                return None
            data += chunk
        head, _, body = data.partition(b"\r\n\r\n")
        n = 0
        for line in head.split(b"\r\n")[1:]:
            k, _, v = line.partition(b":")
            if k.strip().lower() == b"content-length":
                n = int(v.strip())
        while len(body) < n:
            chunk = s.recv(4096)
            if not chunk:
                return None
            body += chunk
        return head.split(b"\r\n")[0]
    except OSError:
        return None


def bad_keepalive_mix(t, kind):
    """Keep-alive clients that, after a good first request (the session then waits parked for the
    next), misbehave in every way at once: garbage, a stalled head, an oversized head, a reset, a
    silent wait, alongside clients that go on normally. Each bad one gets an answer or a close
    within the bound, the good ones are served, and the service serves on."""
    tg = Target(t, kind)
    o = tg.o
    req = f"GET {o.url('/ka')} HTTP/1.1\r\nHost: {o.addr}\r\n\r\n".encode()
    errors = []

    def first(s):
        s.sendall(req)
        status = read_response(s)
        if not status or b" 200 " not in status:
            raise AssertionError(f"first request: {status!r}")

    def client(i):
        mode = i % 6
        try:
            with socket.create_connection((LOOPBACK, tg.port), timeout=10) as s:
                first(s)
                time.sleep(0.05 * (i % 4))  # parked a while (or not) before the next move
                if mode == 0:  # garbage as the next request: 400, then closed
                    s.sendall(b"\x16\x03\x01 not http at all\r\n\r\n")
                elif mode == 1:  # half a head, then nothing: closed at readTimeout
                    s.sendall(b"GET " + o.url("/stall").encode() + b" HTTP/1.1\r\n")
                elif mode == 2:  # an oversized head: 431, then closed
                    s.sendall(b"GET " + o.url("/big").encode() + b" HTTP/1.1\r\nX: " + b"a" * 70000 + b"\r\n\r\n")
                elif mode == 3:  # a reset while parked
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    return
                elif mode == 4:  # silent: closed at the idle limit (readTimeout when unset)
                    pass
                else:  # well-behaved: two more requests on the same connection
                    for _ in range(2):
                        first(s)
                    return
                data, closed = recv_until_closed(s, CLOSE_BOUND)
                if not closed:
                    errors.append(f"client {i} (mode {mode}): still open after {CLOSE_BOUND:.0f}s")
        except OSError as e:
            if mode in (0, 2):
                return  # the server may reset a client it refused while it still sends
            errors.append(f"client {i} (mode {mode}): {e}")
        except AssertionError as e:
            errors.append(f"client {i} (mode {mode}): {e}")

    run_threads([lambda i=i: client(i) for i in range(36)], 60, "keep-alive clients")
    check(not errors, "; ".join(errors[:3]))
    tg.still_works()


KINDS = ["http", "socks4", "socks5", "auto", "forward"]
INPUTS = [bad_garbage, bad_truncated, bad_oversized, bad_slow, bad_halfopen, bad_concurrent_storm]
HTTP_INPUTS = [bad_keepalive_mix]  # what only an HTTP keep-alive connection can meet


def make_case(inp, kind):
    def case(t):
        inp(t, kind)
    case.__name__ = f"{kind}_{inp.__name__[4:]}"
    return case


CASES = [make_case(inp, kind) for kind in KINDS for inp in INPUTS]
CASES += [make_case(inp, kind) for kind in ("http", "auto") for inp in HTTP_INPUTS]

if __name__ == "__main__":
    run(CASES)

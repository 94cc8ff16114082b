"""HTTP/2 transports: h2c tunnels (CONNECT and path mode), grpc tunnels, chains through them,
nghttp2's own client and load generator (nghttp, h2load) and curl against the h2c listener,
raw gRPC frames checked byte by byte, and bad input (garbage preface, oversized frames)."""

import os
import shutil
import socket
import struct
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Failure, Skip, check, check_eq, curl, curl_ok, run  # noqa: E402

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def need_tool(name):
    if not shutil.which(name):
        raise Skip(f"{name} not installed")


def frame(ftype, flags, sid, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([ftype, flags]) + struct.pack(">I", sid) + payload


def hpack_literal(name, value):
    """Literal header field without indexing, new name, no Huffman (RFC 7541 6.2.2)."""
    n, v = name.encode(), value.encode()
    assert len(n) < 127 and len(v) < 127
    return b"\x00" + bytes([len(n)]) + n + bytes([len(v)]) + v


def read_frames(s, want, timeout=10.0):
    """Reads frames until want(frames) is true or the peer closes; returns (frames, closed)."""
    s.settimeout(timeout)
    buf = b""
    frames = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        while len(buf) >= 9:
            ln = int.from_bytes(buf[:3], "big")
            if len(buf) < 9 + ln:
                break
            frames.append((buf[3], buf[4], int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF, buf[9:9 + ln]))
            buf = buf[9 + ln:]
        if want(frames):
            return frames, False
        try:
            d = s.recv(65536)
        except (ConnectionResetError, socket.timeout):
            return frames, True
        if not d:
            return frames, True
        buf += d
    raise Failure("no answer in time")


def grpc_chunk(data):
    msg = (b"\x0a" + bytes([len(data)]) + data) if data else b""
    assert len(data) < 128
    return b"\x00" + struct.pack(">I", len(msg)) + msg


# ---- h2c tunnels ---------------------------------------------------------------------------


def case_h2c_tunnel_http(t):
    o = t.origin()
    a = t.gost("-L", "http+h2c://127.0.0.1:0", name="h2c-server")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"h2c://{a.hostport()}", name="entry")
    for path in ("/a", "/b", "/c"):
        curl_ok("-x", f"http://{e.hostport()}", o.url(path), want_body=o.body(path))
    r = curl_ok("-p", "-x", f"http://{e.hostport()}", o.url("/p"), want_body=o.body("/p"))
    check_eq(r.connect_code, 200, "CONNECT status")


def case_h2c_tunnel_socks5_parallel(t):
    o = t.origin()
    a = t.gost("-L", "socks5+h2c://127.0.0.1:0", name="h2c-server")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5+h2c://{a.hostport()}", name="entry")
    procs = []
    for i in range(12):
        procs.append(subprocess.Popen(["curl", "-sS", "--max-time", "20", "-x", f"http://{e.hostport()}",
                                       o.url(f"/par{i}")], stdout=subprocess.PIPE, stderr=subprocess.PIPE))
    for i, p in enumerate(procs):
        out, err = p.communicate(timeout=30)
        check(p.returncode == 0 and out.decode() == o.body(f"/par{i}"), f"parallel curl {i}: {err!r}")


def case_h2c_path_mode(t):
    o = t.origin()
    a = t.gost("-L", "http+h2c://127.0.0.1:0?path=/tunnel", name="h2c-server")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"h2c://{a.hostport()}?path=/tunnel", name="entry")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/pm"), want_body=o.body("/pm"))
    # A client with another path is refused by the listener (400): the entry answers 503.
    bad = t.gost("-L", "http://127.0.0.1:0", "-F", f"h2c://{a.hostport()}?path=/other", name="bad")
    r = curl("-x", f"http://{bad.hostport()}", o.url("/x"))
    check(r.code != 200, f"wrong path must fail: {r!r}")
    # CONNECT (no path) is refused as well: the listener wants GET /tunnel.
    bad2 = t.gost("-L", "http://127.0.0.1:0", "-F", f"h2c://{a.hostport()}", name="bad2")
    r = curl("-x", f"http://{bad2.hostport()}", o.url("/x"))
    check(r.code != 200, f"CONNECT must fail in path mode: {r!r}")


def case_h2c_two_hop_chain(t):
    o = t.origin()
    a = t.gost("-L", "http+h2c://127.0.0.1:0", name="hop-a")
    b = t.gost("-L", "socks5+h2c://127.0.0.1:0", name="hop-b")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+h2c://{a.hostport()}",
               "-F", f"socks5+h2c://{b.hostport()}", name="entry")
    for i in range(3):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/two{i}"), want_body=o.body(f"/two{i}"))


def case_h2c_large_transfer(t):
    echo = t.tcp_echo()
    a = t.gost("-L", "socks5+h2c://127.0.0.1:0", name="h2c-server")
    e = t.gost("-L", f"tcp://127.0.0.1:0/{echo.addr}", "-F", f"socks5+h2c://{a.hostport()}", name="entry")
    payload = os.urandom(4 * 1024 * 1024)
    s = socket.create_connection(("127.0.0.1", e.port()), timeout=20)
    got = bytearray()
    s.setblocking(False)
    sent = 0
    deadline = time.monotonic() + 60
    import select
    while len(got) < len(payload) and time.monotonic() < deadline:
        w = [s] if sent < len(payload) else []
        r, wr, _ = select.select([s], w, [], 1.0)
        if wr:
            try:
                sent += s.send(payload[sent:sent + 65536])
            except BlockingIOError:
                pass
        if r:
            d = s.recv(262144)
            if not d:
                break
            got += d
    s.close()
    check(bytes(got) == payload, f"echo through h2c: got {len(got)} of {len(payload)} bytes")


# ---- nghttp2 tools and curl against the h2c listener -----------------------------------------


def case_nghttp_get_is_405(t):
    need_tool("nghttp")
    a = t.gost("-L", "http+h2c://127.0.0.1:0", name="h2c-server")
    r = subprocess.run(["nghttp", "-v", "-t", "10", f"http://{a.hostport()}/"], capture_output=True, timeout=20)
    out = r.stdout.decode("utf-8", "replace")
    check(":status: 405" in out, f"nghttp output:\n{out[-2000:]}")
    check("SETTINGS" in out, "server SETTINGS seen")


def case_curl_prior_knowledge(t):
    a = t.gost("-L", "http+h2c://127.0.0.1:0", name="h2c-server")
    r = curl("--http2-prior-knowledge", f"http://{a.hostport()}/")
    check(r.rc == 0 and r.code == 405, f"curl h2c GET: {r!r}")
    p = t.gost("-L", "http+h2c://127.0.0.1:0?path=/t", name="h2c-path")
    r = curl("--http2-prior-knowledge", f"http://{p.hostport()}/nope")
    check(r.rc == 0 and r.code == 400, f"curl h2c wrong path: {r!r}")


def case_h2c_upgrade_from_http1(t):
    """As Go's h2c handler: an HTTP/1.1 request with Upgrade: h2c switches to HTTP/2 (curl
    --http2 over http://); a plain HTTP/1.1 request gets an HTTP/1.1 answer."""
    a = t.gost("-L", "http+h2c://127.0.0.1:0", name="h2c-server")
    r = curl("--http2", "-v", f"http://{a.hostport()}/")
    check(r.rc == 0 and r.code == 405, f"curl --http2 (upgrade): {r!r}")
    check("101" in r.err and "HTTP/2 405" in r.err, f"switched to HTTP/2: {r.err[-800:]}")
    r = curl("--http1.1", f"http://{a.hostport()}/")
    check(r.rc == 0 and r.code == 405, f"plain HTTP/1.1: {r!r}")
    p = t.gost("-L", "http+h2c://127.0.0.1:0?path=/t", name="h2c-path")
    r = curl("--http2", f"http://{p.hostport()}/t")
    check(r.rc == 0 and r.code == 200, f"upgrade in path mode opens the tunnel: {r!r}")


def case_h2load_many_streams(t):
    need_tool("h2load")
    a = t.gost("-L", "http+h2c://127.0.0.1:0", name="h2c-server")
    r = subprocess.run(["h2load", "-n", "2000", "-c", "8", "-m", "50", f"http://{a.hostport()}/"],
                       capture_output=True, timeout=120)
    out = r.stdout.decode("utf-8", "replace")
    check("2000 done" in out and "0 errored" in out, f"h2load:\n{out[-1500:]}")
    check("2000 4xx" in out, f"every GET answered 405:\n{out[-1500:]}")
    # Path mode: every GET /t is a tunnel stream to the http handler, which sees the request
    # body end at once and closes: each stream must end cleanly with 200.
    p = t.gost("-L", "http+h2c://127.0.0.1:0?path=/t", name="h2c-path")
    r = subprocess.run(["h2load", "-n", "2000", "-c", "8", "-m", "50", f"http://{p.hostport()}/t"],
                       capture_output=True, timeout=120)
    out = r.stdout.decode("utf-8", "replace")
    check("2000 succeeded" in out and "2000 2xx" in out, f"h2load path mode:\n{out[-1500:]}")
    # Still serving tunnels afterwards.
    o = t.origin()
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"h2c://{a.hostport()}", name="entry")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/after"), want_body=o.body("/after"))


# ---- grpc -----------------------------------------------------------------------------------


def case_grpc_tunnel(t):
    o = t.origin()
    a = t.gost("-L", "http+grpc://127.0.0.1:0?grpcInsecure=true", name="grpc-server")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"grpc://{a.hostport()}?grpcInsecure=true", name="entry")
    for i in range(3):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/g{i}"), want_body=o.body(f"/g{i}"))
    e2 = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"http+grpc://{a.hostport()}?insecure=true", name="entry2")
    curl_ok("--socks5-hostname", e2.hostport(), o.url("/gs"), want_body=o.body("/gs"))


def case_grpc_custom_path(t):
    o = t.origin()
    a = t.gost("-L", "http+grpc://127.0.0.1:0?grpcInsecure=true&path=/my.Svc/Pipe", name="grpc-server")
    e = t.gost("-L", "http://127.0.0.1:0", "-F",
               f"grpc://{a.hostport()}?grpcInsecure=true&path=/my.Svc/Pipe", name="entry")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/cp"), want_body=o.body("/cp"))
    bad = t.gost("-L", "http://127.0.0.1:0", "-F", f"grpc://{a.hostport()}?grpcInsecure=true", name="bad")
    r = curl("-x", f"http://{bad.hostport()}", o.url("/x"))
    check(r.code != 200, f"default path against a custom one must fail: {r!r}")


def case_grpc_raw_frames(t):
    """A hand-made gRPC call: the listener answers each Chunk with the echoed Chunk, framed
    exactly as grpc-go frames it (00 | len32 | 0a len data)."""
    echo = t.tcp_echo()
    a = t.gost("-L", f"tcp+grpc://127.0.0.1:0/{echo.addr}?grpcInsecure=true", name="grpc-server")
    s = socket.create_connection(("127.0.0.1", a.port()), timeout=10)
    hdrs = b"".join(hpack_literal(k, v) for k, v in [
        (":method", "POST"), (":scheme", "http"), (":path", "/GostTunel/Tunnel"),
        (":authority", "127.0.0.1"), ("content-type", "application/grpc"), ("te", "trailers")])
    s.sendall(PREFACE + frame(4, 0, 0, b"") + frame(1, 4, 1, hdrs) + frame(0, 0, 1, grpc_chunk(b"hello")))
    want = grpc_chunk(b"hello")
    frames, _ = read_frames(s, lambda fs: sum(len(f[3]) for f in fs if f[0] == 0 and f[2] == 1) >= len(want))
    data = b"".join(f[3] for f in frames if f[0] == 0 and f[2] == 1)
    check_eq(data, want, "echoed gRPC message bytes")
    check(any(f[0] == 1 and f[2] == 1 for f in frames), "response HEADERS on stream 1")
    # An unknown method gets a trailers-only answer (HEADERS with END_STREAM), no DATA.
    hdrs2 = b"".join(hpack_literal(k, v) for k, v in [
        (":method", "POST"), (":scheme", "http"), (":path", "/Other/Tunnel"),
        (":authority", "127.0.0.1"), ("content-type", "application/grpc"), ("te", "trailers")])
    s.sendall(frame(1, 4 | 1, 3, hdrs2))
    frames, _ = read_frames(s, lambda fs: any(f[0] == 1 and f[2] == 3 for f in fs))
    h = [f for f in frames if f[0] == 1 and f[2] == 3][0]
    check(h[1] & 1, "trailers-only response ends the stream")
    s.close()


def case_grpc_client_frames(t):
    """The grpc dialer's request: an HTTP/2 preface, then HEADERS, then DATA with one gRPC
    message holding the connector's bytes as Chunk.data."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    t.defer(srv.close)
    port = srv.getsockname()[1]
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"grpc://127.0.0.1:{port}?grpcInsecure=true", name="entry")
    c = subprocess.Popen(["curl", "-sS", "--max-time", "8", "-x", f"http://{e.hostport()}", "http://example.test/"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    t.defer(lambda: (c.kill(), c.wait()))
    srv.settimeout(10)
    conn, _ = srv.accept()
    conn.settimeout(10)
    got = b""
    while len(got) < len(PREFACE):
        d = conn.recv(65536)
        if not d:
            break
        got += d
    check(got.startswith(PREFACE), f"client preface: {got[:30]!r}")
    conn.sendall(frame(4, 0, 0, b""))
    rest = got[len(PREFACE):]

    class Pre:
        def __init__(self, sock, pre):
            self.s, self.pre = sock, pre

        def recv(self, n):
            if self.pre:
                d, self.pre = self.pre, b""
                return d
            return self.s.recv(n)

        def settimeout(self, v):
            self.s.settimeout(v)

    frames, _ = read_frames(Pre(conn, rest), lambda fs: any(f[0] == 0 and f[2] == 1 and len(f[3]) >= 5 for f in fs))
    check(any(f[0] == 1 and f[2] == 1 for f in frames), "HEADERS on stream 1")
    data = b"".join(f[3] for f in frames if f[0] == 0 and f[2] == 1)
    check_eq(data[0], 0, "not compressed")
    ln = struct.unpack(">I", data[1:5])[0]
    msg = data[5:5 + ln]
    check_eq(msg[0], 0x0A, "Chunk.data key (field 1, wire type 2)")
    check(b"CONNECT example.test:80 HTTP/1.1" in msg, f"connector bytes in the Chunk: {msg[:80]!r}")
    conn.close()



# ---- over TLS (h2, http2, grpc): skipped when the build has no tls module ---------------------


def need_tls(t):
    """Skips when gost refuses h2 for want of the tls module (a config error at start-up)."""
    p = subprocess.Popen([t.gost_bin, "-L", "http+h2://127.0.0.1:0"], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    out = b""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            line = p.stdout.readline()
            out += line
            if not line or b"listening" in line:
                break
    finally:
        p.terminate()
        try:
            p.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.communicate()
    if b"tls module" in out:
        raise Skip("this build has no tls module")
    if b"listening" not in out:
        raise Failure(f"gost with an h2 listener did not start: {out[-500:]!r}")


def case_h2_tls_tunnel(t):
    need_tls(t)
    o = t.origin()
    a = t.gost("-L", "http+h2://127.0.0.1:0", name="h2-server")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"h2://{a.hostport()}", name="entry")
    for i in range(3):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/t{i}"), want_body=o.body(f"/t{i}"))


def case_nghttp_over_tls(t):
    need_tls(t)
    need_tool("nghttp")
    a = t.gost("-L", "http+h2://127.0.0.1:0", name="h2-server")
    r = subprocess.run(["nghttp", "-v", "-t", "10", f"https://{a.hostport()}/"], capture_output=True, timeout=20)
    out = r.stdout.decode("utf-8", "replace")
    check("h2" in out and ":status: 405" in out, f"nghttp over TLS:\n{out[-2000:]}")


def case_http2_proxy_chain(t):
    need_tls(t)
    o = t.origin()
    a = t.gost("-L", "http2://127.0.0.1:0", name="http2-server")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http2://{a.hostport()}", name="entry")
    for i in range(3):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/h{i}"), want_body=o.body(f"/h{i}"))
    e2 = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"http2://{a.hostport()}", name="entry2")
    curl_ok("--socks5-hostname", e2.hostport(), o.url("/hs"), want_body=o.body("/hs"))


def case_http2_proxy_auth(t):
    need_tls(t)
    o = t.origin()
    a = t.gost("-L", "http2://user:pass@127.0.0.1:0", name="http2-server")
    good = t.gost("-L", "http://127.0.0.1:0", "-F", f"http2://user:pass@{a.hostport()}", name="good")
    curl_ok("-x", f"http://{good.hostport()}", o.url("/auth"), want_body=o.body("/auth"))
    bad = t.gost("-L", "http://127.0.0.1:0", "-F", f"http2://user:nope@{a.hostport()}", name="bad")
    r = curl("-x", f"http://{bad.hostport()}", o.url("/auth"))
    check(r.code != 200, f"wrong password must fail: {r!r}")
    none = t.gost("-L", "http://127.0.0.1:0", "-F", f"http2://{a.hostport()}", name="none")
    r = curl("-x", f"http://{none.hostport()}", o.url("/auth"))
    check(r.code != 200, f"no credentials must fail: {r!r}")


def case_http2_mid_chain(t):
    need_tls(t)
    o = t.origin()
    a = t.gost("-L", "http+h2c://127.0.0.1:0", name="hop-a")
    b = t.gost("-L", "http2://127.0.0.1:0", name="hop-b")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+h2c://{a.hostport()}",
               "-F", f"http2://{b.hostport()}", name="entry")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/mid"), want_body=o.body("/mid"))


def case_http2_get_forwarding(t):
    """A raw HTTP/2 GET (not CONNECT) to the http2 proxy is forwarded to the origin."""
    need_tls(t)
    import ssl
    o = t.origin()
    a = t.gost("-L", "http2://127.0.0.1:0", name="http2-server")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    raw = socket.create_connection(("127.0.0.1", a.port()), timeout=10)
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    check_eq(s.selected_alpn_protocol(), "h2", "ALPN")
    host = o.url("/").split("/")[2]
    hdrs = b"".join(hpack_literal(k, v) for k, v in [
        (":method", "GET"), (":scheme", "http"), (":path", "/fwd"), (":authority", host)])
    s.sendall(PREFACE + frame(4, 0, 0, b"") + frame(1, 4 | 1, 1, hdrs))
    frames, _ = read_frames(s, lambda fs: any(f[2] == 1 and f[1] & 1 for f in fs if f[0] in (0, 1)))
    body = b"".join(f[3] for f in frames if f[0] == 0 and f[2] == 1)
    check_eq(body.decode(), o.body("/fwd"), "forwarded body")
    s.close()


def case_grpc_tls(t):
    need_tls(t)
    o = t.origin()
    a = t.gost("-L", "http+grpc://127.0.0.1:0", name="grpc-server")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"grpc://{a.hostport()}", name="entry")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/gt"), want_body=o.body("/gt"))
    # Plain h2c against the TLS listener fails.
    bad = t.gost("-L", "http://127.0.0.1:0", "-F", f"grpc://{a.hostport()}?grpcInsecure=true", name="bad")
    r = curl("-x", f"http://{bad.hostport()}", o.url("/x"), timeout=8)
    check(r.code != 200, f"h2c against TLS must fail: {r!r}")


# ---- bad input ------------------------------------------------------------------------------


def case_garbage_preface_closes(t):
    a = t.gost("-L", "http+h2c://127.0.0.1:0", name="h2c-server")
    s = socket.create_connection(("127.0.0.1", a.port()), timeout=10)
    s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + os.urandom(2000))
    frames, closed = read_frames(s, lambda fs: False, timeout=10)
    check(closed, "connection closed after a bad preface")
    s.close()
    o = t.origin()
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"h2c://{a.hostport()}", name="entry")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/ok"), want_body=o.body("/ok"))


def case_oversized_frame_goaway(t):
    a = t.gost("-L", "http+grpc://127.0.0.1:0?grpcInsecure=true", name="grpc-server")
    s = socket.create_connection(("127.0.0.1", a.port()), timeout=10)
    # A DATA frame header announcing 1 MiB (over SETTINGS_MAX_FRAME_SIZE 16384).
    s.sendall(PREFACE + frame(4, 0, 0, b"") + b"\x10\x00\x00\x00\x00\x00\x00\x00\x01" + b"\x00" * 20000)
    frames, closed = read_frames(s, lambda fs: any(f[0] == 7 for f in fs), timeout=10)
    goaway = [f for f in frames if f[0] == 7]
    check(goaway, "GOAWAY sent")
    code = struct.unpack(">I", goaway[0][3][4:8])[0]
    check_eq(code, 6, "FRAME_SIZE_ERROR")
    frames, closed = read_frames(s, lambda fs: False, timeout=10)
    check(closed, "connection closed after GOAWAY")
    s.close()


def case_random_bytes_after_preface(t):
    a = t.gost("-L", "socks5+h2c://127.0.0.1:0", name="h2c-server")
    for i in range(20):
        s = socket.create_connection(("127.0.0.1", a.port()), timeout=10)
        try:
            s.sendall(PREFACE + os.urandom(500 + i * 100))
        except OSError:
            pass
        read_frames(s, lambda fs: False, timeout=10)
        s.close()
    o = t.origin()
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5+h2c://{a.hostport()}", name="entry")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/still"), want_body=o.body("/still"))


if __name__ == "__main__":
    run([
        case_h2c_tunnel_http,
        case_h2c_tunnel_socks5_parallel,
        case_h2c_path_mode,
        case_h2c_two_hop_chain,
        case_h2c_large_transfer,
        case_nghttp_get_is_405,
        case_curl_prior_knowledge,
        case_h2c_upgrade_from_http1,
        case_h2load_many_streams,
        case_grpc_tunnel,
        case_grpc_custom_path,
        case_grpc_raw_frames,
        case_grpc_client_frames,
        case_h2_tls_tunnel,
        case_nghttp_over_tls,
        case_http2_proxy_chain,
        case_http2_proxy_auth,
        case_http2_mid_chain,
        case_http2_get_forwarding,
        case_grpc_tls,
        case_garbage_preface_closes,
        case_oversized_frame_goaway,
        case_random_bytes_after_preface,
    ])

"""The benchmark tools: the load tool's bare SOCKS5 relay, the reference floor of the SOCKS5 rows
in benchmarks/run.py (its figures are only worth something if it relays correctly), and short
load-tool runs through gost and through it. Skipped when the benchmarks were not built."""

import json
import os
import socket
import struct
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOOPBACK, Proc, Skip, check, check_eq, connect, curl_ok,  # noqa: E402
                     dead_port, recv_exact, recv_until_closed, run)


def loadgen_path(t):
    path = os.path.join(os.path.dirname(os.path.dirname(t.gost_bin)), "benchmarks", "gost_loadgen")
    if not os.path.exists(path):
        raise Skip("gost_loadgen not built (GOST_BUILD_BENCHMARKS=OFF?)")
    return path


def start_server(t, mode):
    p = Proc([loadgen_path(t), "server", mode], mode, cwd=t.tmp())
    t.defer(lambda: p.stop())  # killed by SIGTERM: its exit status says nothing
    line = p.wait_line(lambda s, ln: s == "stdout" and ln.startswith("port "), what="'port N'")
    port = int(line.split()[1])
    p.wait_port(port)
    return port


def start_bare(t):
    return start_server(t, "socks5bare")


def request(ip, port, cmd=1):
    return b"\x05" + bytes([cmd]) + b"\x00\x01" + socket.inet_aton(ip) + struct.pack(">H", port)


def case_bare_socks5_curl(t):
    o = t.origin()
    port = start_bare(t)
    curl_ok("--socks5", f"127.0.0.1:{port}", o.url("/b"), want_body=o.body("/b"))


def case_bare_socks5_pieces_early_data_half_close(t):
    e = t.tcp_echo()  # echoes, and half-closes after the client's FIN
    port = start_bare(t)
    with connect(port) as s:
        s.sendall(b"\x05")
        s.sendall(b"\x01\x00")  # the greeting in two pieces
        check_eq(recv_exact(s, 2), b"\x05\x00", "method reply")
        req = request(LOOPBACK, e.port)
        s.sendall(req[:3])
        s.sendall(req[3:] + b"early ")  # bytes before the reply go to the target
        rep = recv_exact(s, 10)
        check_eq(rep[1], 0, "CONNECT reply code")
        payload = os.urandom(3_000_000)  # more than the socket buffers hold: partial writes
        s.sendall(payload)
        s.shutdown(socket.SHUT_WR)
        data, closed = recv_until_closed(s, timeout=20, limit=4 << 20)
        check(closed, "the target's FIN was not passed on")
        check_eq(len(data), len(payload) + 6, "bytes echoed after the half-close")
        check(data == b"early " + payload, "echoed bytes differ")


def case_bare_socks5_refusals(t):
    port = start_bare(t)
    with connect(port) as s:  # target refuses: reply 5, then closed
        s.sendall(b"\x05\x01\x00")
        recv_exact(s, 2)
        s.sendall(request(LOOPBACK, dead_port()))
        check_eq(recv_exact(s, 10)[1], 5, "reply to a refused CONNECT")
        check(recv_until_closed(s)[1], "still open after a refused CONNECT")
    with connect(port) as s:  # a domain name: not supported here, reply 8
        s.sendall(b"\x05\x01\x00")
        recv_exact(s, 2)
        s.sendall(b"\x05\x01\x00\x03\x09localhost\x00\x50")
        check_eq(recv_exact(s, 10)[1], 8, "reply to a domain name")
    with connect(port) as s:  # BIND: reply 7
        s.sendall(b"\x05\x01\x00")
        recv_exact(s, 2)
        s.sendall(request(LOOPBACK, 1, cmd=2))
        check_eq(recv_exact(s, 10)[1], 7, "reply to BIND")
    with connect(port) as s:  # no acceptable method: 0xff, then closed
        s.sendall(b"\x05\x01\x02")
        check_eq(recv_exact(s, 2), b"\x05\xff", "reply to username/password only")
        check(recv_until_closed(s)[1], "still open after no acceptable method")
    with connect(port) as s:  # not SOCKS5: closed without a reply
        s.sendall(b"GET / HTTP/1.1\r\n\r\n")
        data, closed = recv_until_closed(s)
        check(closed and data == b"", f"not closed silently: {data!r}")
    o = t.origin()  # and it still serves
    curl_ok("--socks5", f"127.0.0.1:{port}", o.url("/after"), want_body=o.body("/after"))


def loadgen_json(t, *args):
    r = subprocess.run([loadgen_path(t)] + [str(a) for a in args], capture_output=True, text=True, timeout=60)
    check(r.returncode == 0, f"gost_loadgen {args}: rc={r.returncode} {r.stderr.strip()}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def case_loadgen_connrate_and_latency(t):
    # The benchmark's connection-rate and latency modes, shortened, through gost and the bare relay.
    e = t.tcp_echo()
    g = t.gost("-L", "socks5://127.0.0.1:0")
    port = start_bare(t)
    for px in (f"socks5://{g.hostport()}", f"socks5://127.0.0.1:{port}"):
        r = loadgen_json(t, "connrate", px, e.addr, 2, 0.5)
        check(r["conns"] > 0 and r["errors"] == 0, f"connrate through {px}: {r}")
        r = loadgen_json(t, "latency", px, e.addr, 200, 64)
        check(0 < r["p50_us"] <= r["p99_us"], f"latency through {px}: {r}")


def idle_httpget(t, proxy_port, origin_port, n):
    """The load tool's idle mode with plain GETs: (return code, first stdout line, stderr)."""
    p = subprocess.Popen([loadgen_path(t), "idle", f"httpget://127.0.0.1:{proxy_port}", f"127.0.0.1:{origin_port}",
                          str(n)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = p.stdout.readline()  # "ready N", or nothing when it fails
        _, err = p.communicate(input="", timeout=30)  # closing its stdin ends it
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    return p.returncode, line.strip(), err.strip()


def case_loadgen_http_origin_keepalive_idle_and_reqrate(t):
    # The plain-HTTP scenarios' tools: the HTTP origin answers every request head on a
    # connection it keeps; the idle mode holds plain-GET connections through a proxy, and fails
    # when the proxy has closed them (no keep-alive), rather than measuring nothing; the
    # request-rate mode keeps its connections, or reconnects when the proxy closes them.
    origin = start_server(t, "http")
    with connect(origin) as s:
        s.sendall(b"GET /a HTTP/1.1\r\nHost: x\r\n\r\nGET /b HTTP/1.1\r\n")
        s.sendall(b"Host: x\r\n\r\n")  # the second head in two pieces
        resp = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong"
        check_eq(recv_exact(s, 2 * len(resp)), resp * 2, "two responses on one connection")
    g = t.gost("-L", "http://127.0.0.1:0")
    curl_ok("-x", f"http://{g.hostport()}", f"http://127.0.0.1:{origin}/c", want_body="pong")
    rc, line, err = idle_httpget(t, g.port(), origin, 20)
    check(rc == 0 and line == "ready 20", f"idle httpget through gost: rc={rc} {line!r} {err}")
    r = loadgen_json(t, "reqrate", f"httpget://{g.hostport()}", f"127.0.0.1:{origin}", 2, 0.5)
    check(r["requests"] > 0 and r["errors"] == 0 and r["reconnects"] == 0, f"reqrate through gost: {r}")
    # A "proxy" that answers once and closes.
    ls = socket.socket()
    ls.bind((LOOPBACK, 0))
    ls.listen(8)
    t.defer(ls.close)

    def close_after_one():
        for _ in range(100000):
            try:
                c, _ = ls.accept()
            except OSError:
                return
            with c:
                c.recv(4096)
                c.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\npong")
    th = threading.Thread(target=close_after_one, daemon=True)
    th.start()
    rc, line, err = idle_httpget(t, ls.getsockname()[1], origin, 3)
    check(rc != 0 and "closed by the proxy" in err, f"closing proxy not detected: rc={rc} {line!r} {err}")
    # The request-rate mode reconnects to it after every answer.
    r = loadgen_json(t, "reqrate", f"httpget://127.0.0.1:{ls.getsockname()[1]}", f"127.0.0.1:{origin}", 1, 0.3)
    check(r["requests"] > 0 and r["reconnects"] > 0 and r["errors"] == 0, f"reqrate through a closing proxy: {r}")


CASES = [
    case_bare_socks5_curl,
    case_bare_socks5_pieces_early_data_half_close,
    case_bare_socks5_refusals,
    case_loadgen_connrate_and_latency,
    case_loadgen_http_origin_keepalive_idle_and_reqrate,
]

if __name__ == "__main__":
    run(CASES)

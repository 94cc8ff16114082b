"""WebSocket transport: python3-websockets (Debian) against our ws listener and our ws dialer
against a python3-websockets server; ws chains with curl."""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Failure, Gost, Proc, Skip, check, check_eq, connect, curl_ok,  # noqa: E402
                     echo_roundtrip, recv_until_closed, run)

# The Debian package installs for the system interpreter.
SYS_PY = "/usr/bin/python3"

WS_SERVER = r'''
import asyncio, json, sys
import websockets

PATH = sys.argv[1]
CERT = sys.argv[2] if len(sys.argv) > 4 else None
KEY = sys.argv[3] if len(sys.argv) > 4 else None

async def handler(ws, path=None):
    p = path if path is not None else ws.path
    if p != PATH:
        await ws.close(code=4004)
        return
    h = ws.request_headers
    print("REQ " + json.dumps({"path": p, "host": h.get("Host", ""), "x-test": h.get("X-Test", ""),
                               "ua": h.get("User-Agent", "")}), flush=True)
    async for msg in ws:
        if isinstance(msg, str):
            msg = msg.encode()
        await ws.send(msg)

async def main():
    kw = {}
    if CERT:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(CERT, KEY)
        kw["ssl"] = ctx
    async with websockets.serve(handler, "127.0.0.1", 0, compression=None, max_size=None,
                                **kw) as srv:
        port = srv.sockets[0].getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.Future()

asyncio.run(main())
'''

WS_CLIENT = r'''
import asyncio, os, sys
import websockets

URL = sys.argv[1]
SIZE = int(sys.argv[2])

async def main():
    kw = {}
    if URL.startswith("wss:"):
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        kw["ssl"] = ctx
    async with websockets.connect(URL, compression=None, max_size=None, open_timeout=10, **kw) as ws:
        data = os.urandom(SIZE)
        # Several binary messages, a text one, and a ping in between.
        chunks = [data[i:i + 7000] for i in range(0, len(data), 7000)]
        for c in chunks[:len(chunks) // 2]:
            await ws.send(c)
        pong = await ws.ping(b"are-you-there")
        await asyncio.wait_for(pong, 10)
        for c in chunks[len(chunks) // 2:]:
            await ws.send(c)
        await ws.send("text-tail")
        want = data + b"text-tail"
        got = b""
        while len(got) < len(want):
            m = await asyncio.wait_for(ws.recv(), 10)
            got += m if isinstance(m, bytes) else m.encode()
        if got != want:
            print("MISMATCH", len(got), len(want), flush=True)
            sys.exit(1)
        await ws.close()
    print("OK", flush=True)

asyncio.run(main())
'''


def have_websockets():
    if not os.path.exists(SYS_PY):
        return False
    r = subprocess.run([SYS_PY, "-c", "import websockets"], capture_output=True, timeout=30)
    return r.returncode == 0


def need_websockets():
    if not have_websockets():
        raise Skip("python3-websockets not installed (scripts/setup.sh --test)")


_TLS = {}


def need_tls(t):
    """Skips when this gost build has no tls module (wss/mtls/mwss then fail at start-up)."""
    if "ok" not in _TLS:
        g = Gost(t.gost_bin, ["-L", "wss://127.0.0.1:0"], name="tls-probe", cwd=t.tmp())
        try:
            g.wait_ready(1)
            _TLS["ok"] = True
        except Failure:
            if "tls module" not in g.text():
                raise
            _TLS["ok"] = False
        finally:
            g.stop()
    if not _TLS["ok"]:
        raise Skip("this gost build has no tls module")


def self_signed(t):
    """A self-signed certificate for 127.0.0.1 made with the openssl CLI."""
    d = t.tmp()
    cert, key = os.path.join(d, "cert.pem"), os.path.join(d, "key.pem")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=127.0.0.1", "-keyout", key, "-out", cert],
                       capture_output=True, timeout=60)
    if r.returncode != 0:
        raise Skip("openssl CLI cannot make a certificate")
    return cert, key


def start_ws_server(t, path="/ws", tls=None):
    script = t.write("ws_server.py", WS_SERVER)
    argv = [SYS_PY, script, path] + (list(tls) + ["tls"] if tls else [])
    p = Proc(argv, "ws-server")
    t.defer(p.stop)
    line = p.wait_line(lambda _s, line: line.startswith("PORT "), what="ws server port", timeout=20)
    return p, int(line.split()[1])


def run_ws_client(t, url, size=100000):
    script = t.write("ws_client.py", WS_CLIENT)
    r = subprocess.run([SYS_PY, script, url, str(size)], capture_output=True, timeout=60)
    out = r.stdout.decode() + r.stderr.decode()
    check(r.returncode == 0 and "OK" in out, f"websockets client failed: {out[-2000:]}")


def case_ws_listener_python_client(t):
    need_websockets()
    e = t.tcp_echo()
    g = t.gost("-L", f"tcp+ws://127.0.0.1:0/{e.addr}")
    run_ws_client(t, f"ws://127.0.0.1:{g.port()}/ws", 100000)
    run_ws_client(t, f"ws://127.0.0.1:{g.port()}/ws", 1)


def case_ws_listener_custom_path_and_404(t):
    need_websockets()
    e = t.tcp_echo()
    g = t.gost("-L", f"tcp+ws://127.0.0.1:0/{e.addr}?path=/tunnel")
    run_ws_client(t, f"ws://127.0.0.1:{g.port()}/tunnel", 5000)
    with connect(g.port()) as s:
        s.sendall(b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
                  b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
        data, _ = recv_until_closed(s, 10)
    check(data.startswith(b"HTTP/1.1 404"), f"wrong path answered {data[:60]!r}")
    with connect(g.port()) as s:
        s.sendall(b"\x16\x03\x01garbage that is no HTTP\r\n\r\n")
        data, _ = recv_until_closed(s, 10)
    check(not data.startswith(b"HTTP/1.1 101"), "garbage upgraded")


def case_ws_dialer_python_server(t):
    need_websockets()
    srv, port = start_ws_server(t, "/ws")
    g = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9",
               "-F", f"forward+ws://127.0.0.1:{port}?host=cdn.example.test&header=X-Test:yes")
    for i in range(3):
        echo_roundtrip(g.port(), f"through python websockets {i}\n".encode() * 50)
    big = os.urandom(300000)
    with connect(g.port(), timeout=20) as s:
        s.sendall(big)
        got = b""
        s.settimeout(20)
        while len(got) < len(big):
            d = s.recv(65536)
            if not d:
                break
            got += d
    check(got == big, f"300 KB echo through ws: got {len(got)} bytes")
    line = srv.wait_line(lambda _s, line: line.startswith("REQ "), what="request line")
    import json
    req = json.loads(line[4:])
    check_eq(req["host"], "cdn.example.test", "Host header")
    check_eq(req["x-test"], "yes", "extra header")


def case_ws_dialer_custom_path(t):
    need_websockets()
    srv, port = start_ws_server(t, "/p/q")
    g = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9",
               "-F", f"forward+ws://127.0.0.1:{port}?path=/p/q")
    echo_roundtrip(g.port(), b"custom path\n")


def case_ws_chain_http_socks5(t):
    o = t.origin()
    a = t.gost("-L", "socks5+ws://127.0.0.1:0", name="hop-ws")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5+ws://{a.hostport()}", name="entry")
    for i in range(3):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/w{i}"), want_body=o.body(f"/w{i}"))
    curl_ok("-p", "-x", f"http://{e.hostport()}", o.url("/tun"), want_body=o.body("/tun"))
    b = t.gost("-L", "http+ws://127.0.0.1:0?path=/x", name="hop-ws2")
    e2 = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"http+ws://{b.hostport()}?path=/x",
                name="entry2")
    curl_ok("--socks5-hostname", e2.hostport(), o.url("/s"), want_body=o.body("/s"))


def case_ws_wrong_path_fails_cleanly(t):
    o = t.origin()
    a = t.gost("-L", "http+ws://127.0.0.1:0?path=/right", name="hop-ws")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+ws://{a.hostport()}?path=/wrong",
               name="entry")
    from harness import curl
    r = curl("-x", f"http://{e.hostport()}", o.url("/x"), timeout=20)
    check(r.code != 200, f"request through a wrong ws path succeeded: {r!r}")


def case_wss_listener_python_client(t):
    need_websockets()
    need_tls(t)
    e = t.tcp_echo()
    g = t.gost("-L", f"tcp+wss://127.0.0.1:0/{e.addr}")
    run_ws_client(t, f"wss://127.0.0.1:{g.port()}/ws", 100000)


def case_wss_dialer_python_server(t):
    need_websockets()
    need_tls(t)
    cert, key = self_signed(t)
    srv, port = start_ws_server(t, "/ws", tls=(cert, key))
    g = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9", "-F", f"forward+wss://127.0.0.1:{port}")
    echo_roundtrip(g.port(), b"through wss to python websockets\n" * 100)


def case_wss_chain(t):
    need_tls(t)
    o = t.origin()
    a = t.gost("-L", "socks5+wss://127.0.0.1:0", name="hop-wss")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5+wss://{a.hostport()}", name="entry")
    for i in range(3):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/s{i}"), want_body=o.body(f"/s{i}"))


CASES = [
    case_ws_listener_python_client,
    case_ws_listener_custom_path_and_404,
    case_ws_dialer_python_server,
    case_ws_dialer_custom_path,
    case_ws_chain_http_socks5,
    case_ws_wrong_path_fails_cleanly,
    case_wss_listener_python_client,
    case_wss_dialer_python_server,
    case_wss_chain,
]

if __name__ == "__main__":
    run(CASES)

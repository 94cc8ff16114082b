"""sni handler and connector: routing by HTTP Host and by TLS SNI (curl, openssl s_client),
GOST's domain fronting (sni connector -> sni handler) for HTTP and TLS, bypass, bad input.

GOST routes a ClientHello to <SNI>:443 (the SNI carries no port), so the TLS cases put an
openssl s_server on 127.0.0.1:443 and skip when that port cannot be bound."""

import os
import socket
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Peer, Skip, check, check_eq, connect, curl, curl_ok, need,  # noqa: E402
                     recv_until_closed, run, wait_until, which)


def make_cert(t, cn="localhost"):
    need("openssl")
    cert = os.path.join(t.tmp(), "srv.pem")
    key = os.path.join(t.tmp(), "srv.key")
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", "2", "-subj", f"/CN={cn}",
                        "-addext", f"subjectAltName=DNS:{cn}", "-keyout", key, "-out", cert],
                       capture_output=True, timeout=30)
    if r.returncode != 0:
        raise Skip(f"openssl CLI cannot make a certificate: {r.stderr[-300:]!r}")
    return cert, key


def start_https_443(t):
    """openssl s_server -www on 127.0.0.1:443 (GOST's sni target port)."""
    need("openssl")
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", 443))
        except OSError as e:
            raise Skip(f"cannot bind 127.0.0.1:443 for the sni target: {e}")
    cert, key = make_cert(t)
    p = Peer([which("openssl"), "s_server", "-accept", "127.0.0.1:443", "-cert", cert, "-key",
              key, "-www", "-quiet"], "s_server", 443)
    t.defer(lambda: p.stop(5))
    p.wait_port(443, timeout=15)
    return p


def case_http_by_host(t):
    o = t.origin()
    g = t.gost("-L", "sni://127.0.0.1:0")
    curl_ok(f"http://127.0.0.1:{g.port()}/a", "-H", f"Host: {o.addr}", want_body=o.body("/a"))
    # Several requests on one connection go to the same target.
    r = curl(f"http://127.0.0.1:{g.port()}/b", f"http://127.0.0.1:{g.port()}/c", "-H",
             f"Host: {o.addr}")
    check(r.rc == 0 and [c for c, _ in r.codes] == [200, 200], f"keep-alive: {r!r}")
    check_eq(r.out, [o.body("/b"), o.body("/c")], "bodies")


def case_http_bypass(t):
    o = t.origin()
    g = t.gost("-L", "sni://127.0.0.1:0?bypass=127.0.0.1")
    r = curl(f"http://127.0.0.1:{g.port()}/a", "-H", f"Host: {o.addr}", timeout=10)
    check(r.rc != 0 or r.code != 200, f"bypassed target answered: {r!r}")
    check_eq(o.connections, 0, "origin connections")


def case_tls_by_sni_curl(t):
    start_https_443(t)
    g = t.gost("-L", "sni://127.0.0.1:0")
    r = curl_ok("-k", "--connect-to", f"localhost:443:127.0.0.1:{g.port()}", "https://localhost/")
    check("s_server" in r.out[0] or "Cipher" in r.out[0], f"not s_server's page: {r!r}")


def case_tls_by_sni_s_client(t):
    start_https_443(t)
    g = t.gost("-L", "sni://127.0.0.1:0")
    need("openssl")
    p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{g.port()}",
                        "-servername", "localhost", "-quiet"],
                       input=b"GET / HTTP/1.0\r\n\r\n", capture_output=True, timeout=30)
    check(b"HTTP/1.0 200" in p.stdout, f"s_client via sni: {p.stdout[:200]!r} {p.stderr[-300:]!r}")


def case_fronting_http(t):
    """curl -> http proxy A -(sni connector, host=cdn.example)-> sni handler B -> origin.
    The origin must see its own Host again, and no Gost-Target header."""
    o = t.origin()
    b = t.gost("-L", "sni://127.0.0.1:0", name="sni-B")
    a = t.gost("-L", "http://127.0.0.1:0", "-F", f"sni://127.0.0.1:{b.port()}?host=cdn.example",
               name="http-A")
    curl_ok("-x", f"http://127.0.0.1:{a.port()}", o.url("/front"), want_body=o.body("/front"))
    reqs = o.requests
    check_eq(len(reqs), 1, "origin requests")
    headers = {k.lower(): v for k, v in reqs[0][2].items()}
    check_eq(headers.get("host"), o.addr, "Host seen by the origin")
    check("gost-target" not in headers, f"Gost-Target leaked: {headers}")


def case_fronting_tls(t):
    """curl -> http proxy A (CONNECT localhost:443) -(sni connector)-> sni handler B, which finds
    the real name in the ClientHello's 0xFFFE extension."""
    start_https_443(t)
    b = t.gost("-L", "sni://127.0.0.1:0", name="sni-B")
    a = t.gost("-L", "http://127.0.0.1:0", "-F", f"sni://127.0.0.1:{b.port()}?host=cdn.example",
               name="http-A")
    curl_ok("-k", "-x", f"http://127.0.0.1:{a.port()}", "https://localhost/")


def case_through_chain_with_tls_hop(t):
    """The sni handler dials through its chain: sni -> socks5+tls hop -> origin."""
    o = t.origin()
    c = t.gost("-L", "socks5+tls://127.0.0.1:0", name="socks5-tls")
    g = t.gost("-L", "sni://127.0.0.1:0", "-F", f"socks5+tls://127.0.0.1:{c.port()}",
               name="sni")
    curl_ok(f"http://127.0.0.1:{g.port()}/chain", "-H", f"Host: {o.addr}",
            want_body=o.body("/chain"))
    check_eq(o.connections, 1, "origin connections")
    # The hop logged the connection it carried to the origin (so the route was not direct).
    wait_until(lambda: o.addr in c.text(), 10, what=f"{o.addr} in the socks5+tls hop's log")


def case_garbage_and_silence(t):
    """Bytes that are neither a ClientHello nor an HTTP head, and a client that sends nothing,
    are dropped (readTimeout) without taking gost down."""
    o = t.origin()
    g = t.gost("-L", "sni://127.0.0.1:0?readTimeout=1s")
    with connect(g.port(), timeout=10) as s:
        s.sendall(b"\x16\x03\x01\x00\x05\x01\x00\x00\x01\x00")  # a broken ClientHello
        data, closed = recv_until_closed(s, 8)
        check_eq(data, b"", "reply to a broken ClientHello")
        check(closed, "a broken ClientHello did not end the connection")
    with connect(g.port(), timeout=10) as s:
        data, closed = recv_until_closed(s, 8)  # silent client: closed after readTimeout
        check_eq(data, b"", "reply to a silent client")
        check(closed, "a silent client was not dropped after readTimeout")
    curl_ok(f"http://127.0.0.1:{g.port()}/ok", "-H", f"Host: {o.addr}", want_body=o.body("/ok"))


if __name__ == "__main__":
    run([case_http_by_host, case_http_bypass, case_tls_by_sni_curl, case_tls_by_sni_s_client,
         case_fronting_http, case_fronting_tls, case_through_chain_with_tls_hop,
         case_garbage_and_silence])

"""GOST's SOCKS5 and HTTP extensions: SOCKS5 UDP-over-TCP (command 0xF3) through chains, from a
raw client and with the standard UDP ASSOCIATE kept for relay=udp, and UDP over HTTP
(X-Gost-Protocol: udp) in the http handler and connector."""

import os
import socket
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOOPBACK, Failure, Socks5Udp, check, check_eq, connect,  # noqa: E402
                     curl, curl_ok, recv_exact, recv_until_closed, run, udp_client,
                     udp_roundtrip)




def expect_no_udp(s, port, payload, timeout=1.5):
    s.sendto(payload, (LOOPBACK, port))
    s.settimeout(timeout)
    try:
        d, src = s.recvfrom(65536)
    except socket.timeout:
        return
    raise Failure(f"unexpected datagram {d[:40]!r} from {src}")


def tun_frame(host, port, data):
    """GOST UDP-tun frame: RSV = len(data), FRAG = 0xFF, SOCKS5 address, data."""
    return (struct.pack(">H", len(data)) + b"\xff\x01" + socket.inet_aton(host) +
            struct.pack(">H", port) + data)


def read_tun_frame(s, timeout=5.0):
    hdr = recv_exact(s, 4, timeout)
    n = struct.unpack(">H", hdr[:2])[0]
    check_eq(hdr[2], 0xFF, "FRAG of a UDP-tun frame")
    atyp = hdr[3]
    if atyp == 1:
        a = recv_exact(s, 6, timeout)
        host, port = socket.inet_ntoa(a[:4]), struct.unpack(">H", a[4:])[0]
    elif atyp == 4:
        a = recv_exact(s, 18, timeout)
        host, port = socket.inet_ntop(socket.AF_INET6, a[:16]), struct.unpack(">H", a[16:])[0]
    else:
        ln = recv_exact(s, 1, timeout)[0]
        a = recv_exact(s, ln + 2, timeout)
        host, port = a[:ln].decode(), struct.unpack(">H", a[ln:])[0]
    return host, port, recv_exact(s, n, timeout)


def socks5_udp_tun(port, host="0.0.0.0", want_port=0):
    """Greets a SOCKS5 server (no auth) and sends command 0xF3; returns (socket, REP)."""
    s = connect(port)
    s.sendall(b"\x05\x01\x00")
    check_eq(recv_exact(s, 2), b"\x05\x00", "method reply")
    s.sendall(b"\x05\xf3\x00\x01" + socket.inet_aton(host) + struct.pack(">H", want_port))
    rep = recv_exact(s, 4)
    more = {1: 6, 4: 18}.get(rep[3])
    check(more is not None, f"reply ATYP {rep[3]}")
    recv_exact(s, more)
    return s, rep[1]


# ------------------------------------------------------------------------------ SOCKS5 0xF3

def case_socks5_udp_tun_raw(t):
    u = t.udp_echo()
    g = t.gost("-L", "socks5://127.0.0.1:0?udp=true")
    s, rep = socks5_udp_tun(g.port())
    with s:
        check_eq(rep, 0, "0xF3 reply")
        for i in range(3):
            msg = f"tun {i}".encode()
            s.sendall(tun_frame(LOOPBACK, u.port, msg))
            check_eq(read_tun_frame(s), (LOOPBACK, u.port, msg), "echoed frame")
        big = os.urandom(20000)
        s.sendall(tun_frame(LOOPBACK, u.port, big))
        check_eq(read_tun_frame(s)[2], big, "20000-byte datagram")
    # Refused (0x02) when udp is off.
    off = t.gost("-L", "socks5://127.0.0.1:0", name="off")
    s2, rep2 = socks5_udp_tun(off.port())
    s2.close()
    check_eq(rep2, 2, "0xF3 reply with udp off")


def case_udp_forward_via_socks5_chain_udp_tun(t):
    u = t.udp_echo()
    h2 = t.gost("-L", "socks5://127.0.0.1:0?udp=true", name="h2")
    h1 = t.gost("-L", "socks5://127.0.0.1:0?udp=true", name="h1")
    for hops, args in ((1, ["-F", f"socks5://{h2.hostport()}"]),
                       (2, ["-F", f"socks5://{h1.hostport()}", "-F", f"socks5://{h2.hostport()}"])):
        g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", *args, name=f"fwd{hops}")
        c = udp_client()
        try:
            for i in range(3):
                udp_roundtrip(c, g.port(), f"udp-tun {hops} hops {i}".encode())
            udp_roundtrip(c, g.port(), b"q" * 1400)
        finally:
            c.close()
    # All of it went over TCP: the echo saw only the last hop's sockets, which never used a
    # SOCKS5 UDP relay port (0xF3 needs none).
    check(len(u.senders()) > 0, "echo saw no datagram")


def case_udp_forward_via_socks5_relay_udp_still_standard(t):
    # relay=udp: standard UDP ASSOCIATE; a server that only does 0xF3 would not serve this.
    u = t.udp_echo()
    hop = t.gost("-L", "socks5://127.0.0.1:0?udp=true", name="hop")
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"socks5://{hop.hostport()}?relay=udp",
               name="fwd")
    c = udp_client()
    try:
        udp_roundtrip(c, g.port(), b"standard associate")
    finally:
        c.close()


def case_socks5_udp_associate_front_over_socks5_udp_tun(t):
    # A standard SOCKS5 UDP client at the front; the chain carries it with 0xF3.
    u = t.udp_echo()
    hop = t.gost("-L", "socks5://127.0.0.1:0?udp=true", name="hop")
    front = t.gost("-L", "socks5://127.0.0.1:0?udp=true", "-F", f"socks5://{hop.hostport()}",
                   name="front")
    cl = Socks5Udp(front.port())
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply")
        got = None
        for _ in range(3):
            cl.send(LOOPBACK, u.port, b"front over tun")
            got = cl.recv(2)
            if got is not None:
                break
        check(got is not None and got[2] == b"front over tun", f"echo through the chain: {got}")
        check_eq((got[0], got[1]), (LOOPBACK, u.port), "reply source")
    finally:
        cl.close()


# ------------------------------------------------------------------ SOCKS5 TLS methods 0x80/0x82

def socks5_method(port, methods):
    with connect(port) as s:
        s.sendall(bytes([5, len(methods)]) + bytes(methods))
        return recv_exact(s, 2)[1]


def case_socks5_tls_methods(t):
    o = t.origin()
    g = t.gost("-L", "socks5://127.0.0.1:0", name="tls")
    nt = t.gost("-L", "socks5://127.0.0.1:0?notls=true", name="notls")
    a = t.gost("-L", "socks5://alice:s3cret@127.0.0.1:0", name="auth")
    check_eq(socks5_method(g.port(), [0x00, 0x80]), 0x80, "method for a GOST offer")
    check_eq(socks5_method(g.port(), [0x00]), 0x00, "method for a plain offer")
    check_eq(socks5_method(nt.port(), [0x00, 0x80]), 0x00, "method with notls")
    check_eq(socks5_method(a.port(), [0x00, 0x02, 0x80, 0x82]), 0x82, "method with auth")
    # curl -> http front -> socks5 (TLS-wrapped between gost peers) -> origin, and every mix.
    for name, hop, q in (("tls", g, ""), ("notls-server", nt, ""), ("notls-client", g, "?notls=true"),
                         ("auth", a, "")):
        cred = "alice:s3cret@" if name == "auth" else ""
        front = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://{cred}{hop.hostport()}{q}",
                       name=f"front-{name}")
        curl_ok("-x", f"http://127.0.0.1:{front.port()}", f"http://{o.addr}/{name}",
                want_body=o.body(f"/{name}"))
    bad = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://alice:nope@{a.hostport()}",
                  name="front-bad")
    r = curl("-x", f"http://127.0.0.1:{bad.port()}", f"http://{o.addr}/bad")
    check(r.code != 200, f"wrong credentials inside TLS accepted: {r!r}")


# ----------------------------------------------------------------------------- UDP over HTTP

def http_udp_request(port, extra=""):
    s = connect(port)
    s.sendall(("CONNECT 0.0.0.0:0 HTTP/1.1\r\nHost: 0.0.0.0:0\r\nX-Gost-Protocol: udp\r\n"
               f"{extra}\r\n").encode())
    head = b""
    for _ in range(100):
        head += s.recv(1)
        if head.endswith(b"\r\n\r\n"):
            break
    return s, head.decode("latin-1")


def case_http_udp_raw(t):
    u = t.udp_echo()
    g = t.gost("-L", "http://127.0.0.1:0?udp=true")
    s, head = http_udp_request(g.port())
    with s:
        check(head.startswith("HTTP/1.1 200"), f"response head {head!r}")
        for i in range(3):
            msg = f"http udp {i}".encode()
            s.sendall(tun_frame(LOOPBACK, u.port, msg))
            check_eq(read_tun_frame(s), (LOOPBACK, u.port, msg), "echoed frame")
    off = t.gost("-L", "http://127.0.0.1:0", name="off")
    s2, head2 = http_udp_request(off.port())
    with s2:
        check(head2.startswith("HTTP/1.1 403"), f"response with udp off {head2!r}")
        _, closed = recv_until_closed(s2, 5)
        check(closed, "connection not closed after 403")


def case_udp_forward_via_http(t):
    u = t.udp_echo()
    hop = t.gost("-L", "http://127.0.0.1:0?udp=true", name="hop")
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"http://{hop.hostport()}", name="fwd")
    c = udp_client()
    try:
        for i in range(3):
            udp_roundtrip(c, g.port(), f"via http {i}".encode())
    finally:
        c.close()
    # With udp off at the hop nothing comes back.
    off = t.gost("-L", "http://127.0.0.1:0", name="off")
    g2 = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"http://{off.hostport()}",
                name="fwd-off")
    c2 = udp_client()
    try:
        expect_no_udp(c2, g2.port(), b"should not pass")
    finally:
        c2.close()


def case_udp_forward_via_http_auth_and_mixed_chain(t):
    u = t.udp_echo()
    hop = t.gost("-L", "http://uu:pp@127.0.0.1:0?udp=true", name="hop")
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"http://uu:pp@{hop.hostport()}",
               name="fwd")
    c = udp_client()
    try:
        udp_roundtrip(c, g.port(), b"http udp with auth")
    finally:
        c.close()
    # http (CONNECT) -> socks5 (0xF3) -> echo
    s5 = t.gost("-L", "socks5://127.0.0.1:0?udp=true", name="s5")
    h = t.gost("-L", "http://127.0.0.1:0", name="h")
    g2 = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"http://{h.hostport()}", "-F",
                f"socks5://{s5.hostport()}", name="mixed")
    c2 = udp_client()
    try:
        udp_roundtrip(c2, g2.port(), b"http then socks5")
    finally:
        c2.close()


def case_socks5_front_over_http_udp(t):
    u = t.udp_echo()
    hop = t.gost("-L", "http://127.0.0.1:0?udp=true", name="hop")
    front = t.gost("-L", "socks5://127.0.0.1:0?udp=true", "-F", f"http://{hop.hostport()}",
                   name="front")
    cl = Socks5Udp(front.port())
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply")
        got = None
        for _ in range(3):
            cl.send(LOOPBACK, u.port, b"socks5 over http udp")
            got = cl.recv(2)
            if got is not None:
                break
        check(got is not None and got[2] == b"socks5 over http udp", f"echo: {got}")
    finally:
        cl.close()


if __name__ == "__main__":
    run([v for k, v in sorted(globals().items()) if k.startswith("case_")])

"""GOST relay protocol: curl through http -> relay chains of 1-3 hops, authentication, UDP through
a udp forwarder, the UDP association behind a SOCKS5 front, forward targets, a target that
speaks first, and bad requests that must be closed while the service keeps serving."""

import os
import socket
import struct
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOOPBACK, Failure, Socks5Udp, check, check_eq, connect, curl,  # noqa: E402
                     curl_ok, echo_roundtrip, recv_exact, recv_until_closed, run,
                     udp_client, udp_roundtrip)




def relay_request(host, port, cmd=1, user=None, password=None):
    feats = b""
    if user is not None:
        d = bytes([len(user)]) + user.encode() + bytes([len(password)]) + password.encode()
        feats += b"\x01" + struct.pack(">H", len(d)) + d
    a = bytes([1]) + socket.inet_aton(host) + struct.pack(">H", port)
    feats += b"\x02" + struct.pack(">H", len(a)) + a
    return bytes([1, cmd]) + struct.pack(">H", len(feats)) + feats


class BannerServer:
    """Writes a banner to every client at once, then echoes."""

    def __init__(self, banner=b"SSH-2.0-gost-test\r\n"):
        self.banner = banner
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    def _loop(self):
        while not self.stop.is_set():
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(10)
            c.sendall(self.banner)
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop.set()
        self.t.join(2)
        self.sock.close()


def chain_of_relays(t, hops, last_args=""):
    """Starts `hops` relay servers, each forwarding through the next; returns the first."""
    nxt = t.gost("-L", f"relay://127.0.0.1:0{last_args}", name=f"relay{hops - 1}")
    for i in range(hops - 2, -1, -1):
        nxt = t.gost("-L", "relay://127.0.0.1:0", "-F", f"relay://{nxt.hostport()}",
                     name=f"relay{i}")
    return nxt


def case_curl_http_relay_one_to_three_hops(t):
    o = t.origin()
    for hops in (1, 2, 3):
        # The front http proxy's chain holds every relay node (GOST's -F -F -F).
        relays = [t.gost("-L", "relay://127.0.0.1:0", name=f"r{hops}-{i}") for i in range(hops)]
        args = ["-L", "http://127.0.0.1:0"]
        for r in relays:
            args += ["-F", f"relay://{r.hostport()}"]
        front = t.gost(*args, name=f"front{hops}")
        curl_ok("-x", f"http://127.0.0.1:{front.port()}", f"http://{o.addr}/hops{hops}",
                want_body=o.body(f"/hops{hops}"))
        # CONNECT tunnels (curl -p) as well.
        curl_ok("-p", "-x", f"http://127.0.0.1:{front.port()}", f"http://{o.addr}/tunnel{hops}",
                want_body=o.body(f"/tunnel{hops}"))


def case_curl_relay_nested_servers(t):
    # Each relay server has its own chain to the next one.
    o = t.origin()
    first = chain_of_relays(t, 3)
    front = t.gost("-L", "http://127.0.0.1:0", "-F", f"relay://{first.hostport()}", name="front")
    curl_ok("-x", f"http://127.0.0.1:{front.port()}", f"http://{o.addr}/nested",
            want_body=o.body("/nested"))


def case_relay_auth(t):
    o = t.origin()
    r = t.gost("-L", "relay://alice:s3cret@127.0.0.1:0", name="relay")
    good = t.gost("-L", "http://127.0.0.1:0", "-F", f"relay://alice:s3cret@{r.hostport()}",
                  name="good")
    curl_ok("-x", f"http://127.0.0.1:{good.port()}", f"http://{o.addr}/auth",
            want_body=o.body("/auth"))
    for creds in ("alice:wrong@", "bob:s3cret@", ""):
        bad = t.gost("-L", "http://127.0.0.1:0", "-F", f"relay://{creds}{r.hostport()}",
                     name=f"bad-{creds or 'none'}")
        res = curl("-x", f"http://127.0.0.1:{bad.port()}", f"http://{o.addr}/auth")
        check(res.code != 200, f"curl with relay credentials {creds!r} succeeded: {res!r}")
    # The raw answer to wrong credentials is Unauthorized (status 2).
    with connect(r.port()) as s:
        s.sendall(relay_request(LOOPBACK, 80, user="alice", password="nope"))
        check_eq(recv_exact(s, 4), b"\x01\x02\x00\x00", "relay response to bad credentials")


def case_relay_nodelay_both_ways(t):
    e = t.tcp_echo()
    for server_nd in ("false", "true"):
        r = t.gost("-L", f"relay://127.0.0.1:0?nodelay={server_nd}", name=f"relay-{server_nd}")
        for client_nd in ("false", "true"):
            g = t.gost("-L", f"tcp://127.0.0.1:0/{e.addr}", "-F",
                       f"relay://{r.hostport()}?nodelay={client_nd}",
                       name=f"fwd-{server_nd}-{client_nd}")
            echo_roundtrip(g.port(), f"nodelay {server_nd}/{client_nd}\n".encode())


def case_relay_target_speaks_first(t):
    b = BannerServer()
    t.defer(b.close)
    r = t.gost("-L", "relay://127.0.0.1:0", name="relay")
    for nd in ("false", "true"):
        g = t.gost("-L", f"tcp://127.0.0.1:0/{LOOPBACK}:{b.port}", "-F",
                   f"relay://{r.hostport()}?nodelay={nd}", name=f"fwd-{nd}")
        with connect(g.port(), timeout=5) as s:
            check_eq(recv_exact(s, len(b.banner), 5), b.banner, f"banner (nodelay={nd})")
            s.sendall(b"after banner")
            check_eq(recv_exact(s, 12, 5), b"after banner", "echo after the banner")


def case_relay_udp_through_udp_forwarder(t):
    u = t.udp_echo()
    r = t.gost("-L", "relay://127.0.0.1:0", name="relay")
    for nd in ("false", "true"):
        g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"relay://{r.hostport()}?nodelay={nd}",
                   name=f"fwd-{nd}")
        c = udp_client()
        try:
            for i in range(3):
                udp_roundtrip(c, g.port(), f"relay udp {nd} {i}".encode())
            udp_roundtrip(c, g.port(), b"y" * 1400)
        finally:
            c.close()


def case_relay_udp_two_hops(t):
    u = t.udp_echo()
    first = chain_of_relays(t, 2)
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"relay://{first.hostport()}",
               name="fwd")
    c = udp_client()
    try:
        udp_roundtrip(c, g.port(), b"two relay hops")
    finally:
        c.close()


def case_socks5_udp_associate_over_relay(t):
    # The SOCKS5 front's UDP relay goes through the relay node's UDP association (BIND|FUDP).
    u = t.udp_echo()
    r = t.gost("-L", "relay://127.0.0.1:0?bind=true", name="relay")
    front = t.gost("-L", "socks5://127.0.0.1:0?udp=true", "-F", f"relay://{r.hostport()}",
                   name="front")
    cl = Socks5Udp(front.port())
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply")
        for i in range(3):
            msg = f"assoc over relay {i}".encode()
            got = None
            for _ in range(3):
                cl.send(LOOPBACK, u.port, msg)
                got = cl.recv(2)
                if got is not None:
                    break
            check(got is not None, f"no reply to datagram {i}")
            check_eq(got[2], msg, "echoed payload")
            check_eq((got[0], got[1]), (LOOPBACK, u.port), "reply source")
    finally:
        cl.close()
    # Without bind=true on the relay server the association is refused.
    r2 = t.gost("-L", "relay://127.0.0.1:0", name="relay-nobind")
    front2 = t.gost("-L", "socks5://127.0.0.1:0?udp=true", "-F", f"relay://{r2.hostport()}",
                    name="front2")
    cl2 = Socks5Udp(front2.port())
    try:
        check(cl2.rep != 0, "UDP ASSOCIATE over a relay without bind succeeded")
    finally:
        cl2.close()


def case_relay_forward_targets(t):
    e = t.tcp_echo()
    u = t.udp_echo()
    rt = t.gost("-L", f"relay://127.0.0.1:0/{e.addr}", name="relay-tcp")
    ru = t.gost("-L", f"relay://127.0.0.1:0/{u.addr}", name="relay-udp")
    # The client's own target does not matter: the relay server forwards to its node.
    g = t.gost("-L", "tcp://127.0.0.1:0/192.0.2.1:9", "-F", f"relay://{rt.hostport()}", name="ft")
    for i in range(3):
        echo_roundtrip(g.port(), f"forwarded {i}\n".encode())
    check_eq(e.accepts, 3, "connections at the forward target")
    gu = t.gost("-L", "udp://127.0.0.1:0/192.0.2.1:9", "-F", f"relay://{ru.hostport()}",
                name="fu")
    c = udp_client()
    try:
        udp_roundtrip(c, gu.port(), b"forwarded datagram")
    finally:
        c.close()


def case_relay_bad_input(t):
    e = t.tcp_echo()
    r = t.gost("-L", "relay://127.0.0.1:0?readTimeout=1s", name="relay")
    bad = [
        b"\x05\x01\x00\x00",                          # bad version
        b"\x01\x01\x00\x04\x02\x00\x07\x01",          # feature longer than the block
        b"\x01\x01\x00\x03\x09\x00\x00",              # unknown feature
        b"\x01\x01\x00\x0a\x02",                      # truncated: closed at readTimeout
        b"\x01\x01\xff\xff" + b"\x02\x00\x07" * 100,  # oversized announcement, never completed
        b"\x02" + os.urandom(2047),                  # garbage
    ]
    for i, b in enumerate(bad):
        with connect(r.port(), timeout=5) as s:
            try:
                s.sendall(b)
            except OSError:
                pass
            data, closed = recv_until_closed(s, 5)
            check(closed, f"bad input #{i} not closed")
            check(len(data) <= 4, f"bad input #{i} got {data[:20]!r}")
    # No address: BadRequest (1).
    with connect(r.port()) as s:
        s.sendall(b"\x01\x01\x00\x00")
        check_eq(recv_exact(s, 4), b"\x01\x01\x00\x00", "response to a request without address")
    # Still serving.
    with connect(r.port()) as s:
        s.sendall(relay_request(LOOPBACK, e.port) + b"ping")
        check_eq(recv_exact(s, 8), b"\x01\x00\x00\x00ping", "response and echo after bad input")


if __name__ == "__main__":
    run([v for k, v in sorted(globals().items()) if k.startswith("case_")])

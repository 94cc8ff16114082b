"""UDP: port forwarding (direct, through a SOCKS5 hop: gost udp=true and dante), session ttl,
and SOCKS5 UDP ASSOCIATE driven by a raw RFC 1928 client."""

import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOOPBACK, Failure, Socks5Udp, check, check_eq, run, udp_client,  # noqa: E402
                     udp_roundtrip, wait_until)




def expect_no_udp(s, timeout=1.0):
    s.settimeout(timeout)
    try:
        d, src = s.recvfrom(65536)
    except socket.timeout:
        return
    raise Failure(f"unexpected datagram {d[:40]!r} from {src}")


def case_udp_forward_direct(t):
    u = t.udp_echo()
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}")
    c1, c2 = udp_client(), udp_client()
    try:
        for i in range(5):
            udp_roundtrip(c1, g.port(), f"c1 #{i}".encode())
        udp_roundtrip(c2, g.port(), b"c2")
        udp_roundtrip(c1, g.port(), b"c1 again")
        udp_roundtrip(c1, g.port(), b"x" * 1400)
        ups = {p for p in u.senders()}
        check_eq(len(ups), 2, f"distinct upstream sockets for two clients ({ups})")
    finally:
        c1.close()
        c2.close()


def case_udp_forward_many_clients(t):
    u = t.udp_echo()
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}")
    cs = [udp_client() for _ in range(20)]
    try:
        for i, c in enumerate(cs):
            udp_roundtrip(c, g.port(), f"client {i}".encode())
        for i, c in enumerate(cs):
            udp_roundtrip(c, g.port(), f"client {i} b".encode())
        check_eq(len(set(u.senders())), 20, "distinct upstream sockets")
    finally:
        for c in cs:
            c.close()


def case_udp_forward_two_targets_round_robin(t):
    a, b = t.udp_echo(), t.udp_echo()
    g = t.gost("-L", f"udp://127.0.0.1:0/{a.addr},{b.addr}")
    cs = [udp_client() for _ in range(4)]
    try:
        for i, c in enumerate(cs):
            udp_roundtrip(c, g.port(), f"s{i}".encode())
        check(a.senders() and b.senders(),
              f"round robin over two UDP targets used only one ({len(a.senders())}, "
              f"{len(b.senders())})")
    finally:
        for c in cs:
            c.close()


def _ttl_observation(t, ttl_arg, idle):
    """Returns (upstream before idle, upstream after idle) as seen by the echo server."""
    u = t.udp_echo()
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}?ttl={ttl_arg}")
    c = udp_client()
    try:
        udp_roundtrip(c, g.port(), b"first")
        udp_roundtrip(c, g.port(), b"second")
        s = u.senders()
        check_eq(s[0], s[-1], "upstream socket within the ttl (session reused)")
        # The session expiry is time itself: idle longer than ttl, then send again.
        time.sleep(idle)
        udp_roundtrip(c, g.port(), b"after idle")
        return s[0], u.senders()[-1]
    finally:
        c.close()


def case_udp_forward_ttl_expiry(t):
    before, after = _ttl_observation(t, "1s", 2.5)
    check(before != after, f"after ttl idle the session kept its upstream socket {before}")


def case_udp_forward_ttl_not_expired(t):
    before, after = _ttl_observation(t, "30s", 2.5)
    check_eq(after, before, "upstream socket after an idle shorter than ttl")


def case_udp_forward_via_gost_socks5(t):
    u = t.udp_echo()
    hop = t.gost("-L", "socks5://127.0.0.1:0?udp=true", name="hop")
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"socks5://{hop.hostport()}",
               name="fwd")
    c = udp_client()
    try:
        for i in range(3):
            udp_roundtrip(c, g.port(), f"via gost socks5 {i}".encode())
    finally:
        c.close()


def case_udp_forward_via_gost_socks5_relay_udp(t):
    # relay=udp: the standard UDP ASSOCIATE path (what third-party servers speak).
    u = t.udp_echo()
    hop = t.gost("-L", "socks5://127.0.0.1:0?udp=true", name="hop")
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F",
               f"socks5://{hop.hostport()}?relay=udp", name="fwd")
    c = udp_client()
    try:
        for i in range(3):
            udp_roundtrip(c, g.port(), f"relay=udp {i}".encode())
    finally:
        c.close()


def case_udp_forward_via_gost_socks5_auth(t):
    u = t.udp_echo()
    hop = t.gost("-L", "socks5://uu:pp@127.0.0.1:0?udp=true", name="hop")
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F",
               f"socks5://uu:pp@{hop.hostport()}?relay=udp", name="fwd")
    c = udp_client()
    try:
        udp_roundtrip(c, g.port(), b"auth + udp")
    finally:
        c.close()


def case_udp_forward_via_dante(t):
    u = t.udp_echo()
    d = t.danted()
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"socks5://{d.addr}?relay=udp")
    c = udp_client()
    try:
        for i in range(3):
            udp_roundtrip(c, g.port(), f"via dante {i}".encode())
    finally:
        c.close()


def case_udp_forward_via_hop_without_udp(t):
    # The hop refuses UDP ASSOCIATE: nothing comes back, and both gosts stay healthy.
    u = t.udp_echo()
    hop = t.gost("-L", "socks5://127.0.0.1:0", name="hop")
    g = t.gost("-L", f"udp://127.0.0.1:0/{u.addr}", "-F", f"socks5://{hop.hostport()}?relay=udp",
               name="fwd")
    c = udp_client()
    try:
        c.sendto(b"refused", (LOOPBACK, g.port()))
        expect_no_udp(c, 2.0)
        check_eq(u.senders(), [], "datagrams at the echo server")
    finally:
        c.close()


def case_socks5_udp_associate_ipv4(t):
    u = t.udp_echo()
    g = t.gost("-L", "socks5://127.0.0.1:0?udp=true")
    cl = Socks5Udp(g.port())
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply")
        for i in range(3):
            msg = f"assoc {i}".encode()
            cl.send(LOOPBACK, u.port, msg)
            r = cl.recv(3)
            check(r is not None, f"no reply to datagram {i}")
            h, p, data = r
            check_eq(data, msg, "echoed payload")
            check_eq((h, p), (LOOPBACK, u.port), "reply source address in the SOCKS5 header")
        cl.send(LOOPBACK, u.port, b"z" * 1400)
        r = cl.recv(3)
        check(r is not None and r[2] == b"z" * 1400, "1400-byte datagram not echoed")
    finally:
        cl.close()


def case_socks5_udp_associate_domain(t):
    u = t.udp_echo()
    g = t.gost("-L", "socks5://127.0.0.1:0?udp=true")
    cl = Socks5Udp(g.port())
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply")
        cl.send("localhost", u.port, b"by name")
        r = cl.recv(3)
        check(r is not None, "no reply to a datagram addressed to localhost")
        check_eq(r[2], b"by name", "echoed payload")
        check_eq(r[1], u.port, "reply source port")
    finally:
        cl.close()


def case_socks5_udp_associate_two_targets(t):
    a, b = t.udp_echo(), t.udp_echo()
    g = t.gost("-L", "socks5://127.0.0.1:0?udp=true")
    cl = Socks5Udp(g.port())
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply")
        for i in range(3):
            for e in (a, b):
                cl.send(LOOPBACK, e.port, f"to {e.port} {i}".encode())
                r = cl.recv(3)
                check(r is not None, f"no reply from {e.port}")
                check_eq((r[1], r[2]), (e.port, f"to {e.port} {i}".encode()), "reply")
    finally:
        cl.close()


def case_socks5_udp_associate_auth(t):
    u = t.udp_echo()
    g = t.gost("-L", "socks5://uu:pp@127.0.0.1:0?udp=true")
    cl = Socks5Udp(g.port(), user="uu", password="pp")
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply")
        cl.send(LOOPBACK, u.port, b"authed")
        r = cl.recv(3)
        check(r is not None and r[2] == b"authed", f"no echo: {r}")
    finally:
        cl.close()


def case_socks5_udp_associate_refused(t):
    g = t.gost("-L", "socks5://127.0.0.1:0")
    cl = Socks5Udp(g.port())
    try:
        check(cl.rep == 0x02, f"UDP ASSOCIATE without udp=true answered {cl.rep:#04x}, GOST answers 0x02")
    finally:
        cl.close()


def case_socks5_udp_associate_ends_with_tcp(t):
    u = t.udp_echo()
    g = t.gost("-L", "socks5://127.0.0.1:0?udp=true")
    cl = Socks5Udp(g.port())
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply")
        cl.send(LOOPBACK, u.port, b"alive")
        check(cl.recv(3) is not None, "no echo while the control connection is open")
        cl.ctrl.close()

        def relay_gone():
            cl.send(LOOPBACK, u.port, b"after close")
            return cl.recv(0.3) is None

        wait_until(relay_gone, 10, interval=0.05, what="the association to end after TCP close")
        # Once gone it stays gone.
        cl.send(LOOPBACK, u.port, b"still?")
        check(cl.recv(0.5) is None, "relay answered again after the association ended")
    finally:
        cl.close()


def case_auto_udp_associate(t):
    u = t.udp_echo()
    g = t.gost("-L", "auto://127.0.0.1:0?udp=true")
    cl = Socks5Udp(g.port())
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply through auto")
        cl.send(LOOPBACK, u.port, b"auto udp")
        r = cl.recv(3)
        check(r is not None and r[2] == b"auto udp", f"no echo: {r}")
    finally:
        cl.close()


def case_socks5_udp_associate_dante_reference(t):
    # The same raw client against dante: proves the client speaks standard SOCKS5 UDP.
    u = t.udp_echo()
    d = t.danted()
    cl = Socks5Udp(d.port)
    try:
        check_eq(cl.rep, 0, "dante UDP ASSOCIATE reply")
        cl.send(LOOPBACK, u.port, b"dante")
        r = cl.recv(3)
        check(r is not None and r[2] == b"dante", f"no echo through dante: {r}")
    finally:
        cl.close()


CASES = [
    case_udp_forward_direct,
    case_udp_forward_many_clients,
    case_udp_forward_two_targets_round_robin,
    case_udp_forward_ttl_expiry,
    case_udp_forward_ttl_not_expired,
    case_udp_forward_via_gost_socks5,
    case_udp_forward_via_gost_socks5_relay_udp,
    case_udp_forward_via_gost_socks5_auth,
    case_udp_forward_via_dante,
    case_udp_forward_via_hop_without_udp,
    case_socks5_udp_associate_ipv4,
    case_socks5_udp_associate_domain,
    case_socks5_udp_associate_two_targets,
    case_socks5_udp_associate_auth,
    case_socks5_udp_associate_refused,
    case_socks5_udp_associate_ends_with_tcp,
    case_auto_udp_associate,
    case_socks5_udp_associate_dante_reference,
]

if __name__ == "__main__":
    run(CASES)

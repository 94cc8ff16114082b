"""curl and a raw SOCKS5 client through gost's socks4/socks4a/socks5 and auto handlers."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOOPBACK, Failure, check, check_eq, connect, curl, curl_ok,  # noqa: E402
                     dead_port, recv_exact, recv_until_closed, run, socks5_connect,
                     socks5_greet, socks5_request, wait_until)


def case_socks5_hostname(t):
    o = t.origin()
    g = t.gost("-L", "socks5://127.0.0.1:0")
    curl_ok("--socks5-hostname", g.hostport(), o.url("/h"), want_body=o.body("/h"))
    # A domain name resolved by the proxy.
    curl_ok("--socks5-hostname", g.hostport(), o.url("/l", host="localhost"),
            want_body=o.body("/l"))


def case_socks5_local_resolve(t):
    o = t.origin()
    g = t.gost("-L", "socks5://127.0.0.1:0")
    curl_ok("--socks5", g.hostport(), o.url("/ip"), want_body=o.body("/ip"))


def case_socks_alias_scheme(t):
    # "socks" is GOST's alias of socks5.
    o = t.origin()
    g = t.gost("-L", "socks://127.0.0.1:0")
    curl_ok("--socks5-hostname", g.hostport(), o.url(), want_body=o.body())


def case_socks5_auth_right(t):
    o = t.origin()
    g = t.gost("-L", "socks5://alice:s3cret@127.0.0.1:0")
    curl_ok("--socks5-hostname", f"alice:s3cret@{g.hostport()}", o.url(), want_body=o.body())
    curl_ok("-x", f"socks5h://alice:s3cret@{g.hostport()}", o.url("/2"), want_body=o.body("/2"))


def case_socks5_auth_wrong(t):
    o = t.origin()
    g = t.gost("-L", "socks5://alice:s3cret@127.0.0.1:0")
    r = curl("--socks5-hostname", f"alice:wrong@{g.hostport()}", o.url())
    check(r.rc != 0, f"wrong password accepted: {r!r}")
    r = curl("--socks5-hostname", f"mallory:s3cret@{g.hostport()}", o.url())
    check(r.rc != 0, f"wrong user accepted: {r!r}")
    with connect(g.port()) as s:
        err = ""
        try:
            socks5_greet(s, "alice", "wrong")
        except Failure as e:
            err = str(e)
        check("rejected" in err, f"raw RFC 1929 auth with a wrong password: {err or 'accepted'}")
    check_eq(len(o.requests), 0, "requests that reached the origin")


def case_socks5_auth_missing(t):
    o = t.origin()
    g = t.gost("-L", "socks5://alice:s3cret@127.0.0.1:0")
    r = curl("--socks5-hostname", g.hostport(), o.url())
    check(r.rc != 0, f"no credentials but accepted: {r!r}")
    with connect(g.port()) as s:
        s.sendall(b"\x05\x01\x00")  # offers only "no authentication"
        ver, method = recv_exact(s, 2)
        check_eq((ver, method), (5, 0xFF), "method reply when only no-auth is offered")
    check_eq(len(o.requests), 0, "requests that reached the origin")


def case_socks5_raw_connect_domain_and_ipv4(t):
    e = t.tcp_echo()
    g = t.gost("-L", "socks5://127.0.0.1:0")
    for host in ("localhost", LOOPBACK):
        with socks5_connect(g.port(), host, e.port) as s:
            s.sendall(b"ping " + host.encode())
            check_eq(recv_exact(s, 5 + len(host)), b"ping " + host.encode(), f"echo via {host}")
            # Half-close: the echo server closes after our FIN, gost relays the EOF back.
            s.shutdown(1)
            data, closed = recv_until_closed(s, 5)
            check(closed and data == b"", f"EOF not relayed after half-close (data={data!r})")


def case_socks5_connect_dead_target(t):
    port = dead_port()
    g = t.gost("-L", "socks5://127.0.0.1:0")
    with connect(g.port()) as s:
        socks5_greet(s)
        rep, _, _ = socks5_request(s, 1, LOOPBACK, port)
        check(rep != 0, "CONNECT to a dead port replied success")
    o = t.origin()
    curl_ok("--socks5-hostname", g.hostport(), o.url(), want_body=o.body())


def case_socks5_two_requests_one_tunnel(t):
    o = t.origin()
    g = t.gost("-L", "socks5://127.0.0.1:0")
    r = curl("--socks5-hostname", g.hostport(), o.url("/1"), o.url("/2"))
    check(r.rc == 0 and [c[0] for c in r.codes] == [200, 200], f"two requests: {r!r}")
    check_eq(r.out, [o.body("/1"), o.body("/2")], "bodies")
    check_eq(o.connections, 1, "origin connections")


def case_socks5_bind(t):
    g = t.gost("-L", "socks5://127.0.0.1:0?bind=true")
    with connect(g.port()) as s:
        socks5_greet(s)
        rep, bh, bp = socks5_request(s, 2, LOOPBACK, 0)
        check_eq(rep, 0, "BIND first reply")
        if bh in ("0.0.0.0", "::"):
            bh = LOOPBACK
        check(bp != 0, "BIND reply carries port 0")
        with connect(bp, bh) as peer:
            # Second reply: the address of the peer that connected.
            ver, rep2, _ = recv_exact(s, 3)
            check_eq((ver, rep2), (5, 0), "BIND second reply")
            atyp = recv_exact(s, 1)[0]
            alen = {1: 4, 4: 16}.get(atyp)
            if alen is None:
                alen = recv_exact(s, 1)[0]
            recv_exact(s, alen + 2)
            peer.sendall(b"from peer")
            check_eq(recv_exact(s, 9), b"from peer", "peer -> client")
            s.sendall(b"from client")
            check_eq(recv_exact(peer, 11), b"from client", "client -> peer")


def case_socks5_bind_disabled(t):
    g = t.gost("-L", "socks5://127.0.0.1:0")
    with connect(g.port()) as s:
        socks5_greet(s)
        rep, _, _ = socks5_request(s, 2, LOOPBACK, 0)
        check(rep == 0x02, f"BIND without bind=true answered {rep:#x}, GOST answers 0x02")


def case_socks5_bypass(t):
    o = t.origin()
    g = t.gost("-L", "socks5://127.0.0.1:0?bypass=127.0.0.2")
    with connect(g.port()) as s:
        socks5_greet(s)
        rep, _, _ = socks5_request(s, 1, "127.0.0.2", o.port)
        check(rep != 0, "CONNECT to a bypassed target replied success")
    r = curl("--socks5-hostname", g.hostport(), f"http://127.0.0.2:{o.port}/")
    check(r.rc != 0, f"curl to a bypassed target succeeded: {r!r}")
    curl_ok("--socks5-hostname", g.hostport(), o.url(), want_body=o.body())


def case_socks5_target_writes_after_client_closed(t):
    # The target answers after the client has gone: gost's writes to the closed client fail
    # (RST, then EPIPE) and gost must survive.
    srv = t.late_reply()
    g = t.gost("-L", "socks5://127.0.0.1:0")
    for i in range(3):
        with socks5_connect(g.port(), LOOPBACK, srv.port) as s:
            s.sendall(b"hello\n")
        wait_until(lambda: not g.alive() or srv.finished >= i + 1, 10,
                   what="the target to finish its late reply")
        check(g.alive(), f"gost died after its client closed (rc={g.p.returncode}; "
                         "-13 = SIGPIPE)")
    o = t.origin()
    curl_ok("--socks5-hostname", g.hostport(), o.url(), want_body=o.body())


def case_socks4(t):
    o = t.origin()
    g = t.gost("-L", "socks4://127.0.0.1:0")
    curl_ok("--socks4", g.hostport(), o.url("/4"), want_body=o.body("/4"))
    curl_ok("--socks4a", g.hostport(), o.url("/4a", host="localhost"), want_body=o.body("/4a"))


def case_socks4a_scheme(t):
    o = t.origin()
    g = t.gost("-L", "socks4a://127.0.0.1:0")
    curl_ok("--socks4a", g.hostport(), o.url("/4a", host="localhost"), want_body=o.body("/4a"))
    curl_ok("--socks4", g.hostport(), o.url("/4"), want_body=o.body("/4"))


def case_socks4_dead_target(t):
    port = dead_port()
    g = t.gost("-L", "socks4://127.0.0.1:0")
    with connect(g.port()) as s:
        s.sendall(b"\x04\x01" + port.to_bytes(2, "big") + bytes([127, 0, 0, 1]) + b"u\x00")
        vn, cd = recv_exact(s, 8)[:2]
        check_eq(vn, 0, "SOCKS4 reply VN")
        check(cd != 0x5A, "SOCKS4 CONNECT to a dead port granted")
    o = t.origin()
    curl_ok("--socks4a", g.hostport(), o.url(), want_body=o.body())


def case_socks4_raw_echo(t):
    e = t.tcp_echo()
    g = t.gost("-L", "socks4://127.0.0.1:0")
    with connect(g.port()) as s:
        # SOCKS4a: IP 0.0.0.1 + user id + domain.
        s.sendall(b"\x04\x01" + e.port.to_bytes(2, "big") + b"\x00\x00\x00\x01" + b"id\x00"
                  + b"localhost\x00")
        rep = recv_exact(s, 8)
        check_eq(rep[:2], b"\x00\x5a", "SOCKS4a reply")
        s.sendall(b"abc" * 1000)
        check_eq(recv_exact(s, 3000), b"abc" * 1000, "echo")


def case_auto_all_protocols(t):
    o = t.origin()
    g = t.gost("-L", "auto://127.0.0.1:0")
    hp = g.hostport()
    curl_ok("--socks4a", hp, o.url("/4a", host="localhost"), want_body=o.body("/4a"))
    curl_ok("--socks4", hp, o.url("/4"), want_body=o.body("/4"))
    curl_ok("--socks5-hostname", hp, o.url("/5h"), want_body=o.body("/5h"))
    curl_ok("-x", f"http://{hp}", o.url("/http"), want_body=o.body("/http"))
    r = curl_ok("-p", "-x", f"http://{hp}", o.url("/connect"), want_body=o.body("/connect"))
    check_eq(r.connect_code, 200, "CONNECT status")


def case_auto_bare_address(t):
    # GOST: "-L 127.0.0.1:0" (no scheme) is auto + tcp.
    o = t.origin()
    g = t.gost("-L", "127.0.0.1:0")
    curl_ok("--socks5-hostname", g.hostport(), o.url(), want_body=o.body())
    curl_ok("-x", f"http://{g.hostport()}", o.url(), want_body=o.body())
    curl_ok("--socks4a", g.hostport(), o.url(), want_body=o.body())


def case_auto_with_auth(t):
    o = t.origin()
    g = t.gost("-L", "auto://alice:s3cret@127.0.0.1:0")
    hp = g.hostport()
    curl_ok("--socks5-hostname", f"alice:s3cret@{hp}", o.url(), want_body=o.body())
    curl_ok("-x", f"http://alice:s3cret@{hp}", o.url(), want_body=o.body())
    r = curl("-x", f"http://alice:bad@{hp}", o.url())
    check_eq(r.code, 407, f"http through auto with a wrong password ({r!r})")
    r = curl("--socks5-hostname", f"alice:bad@{hp}", o.url())
    check(r.rc != 0, f"socks5 through auto with a wrong password succeeded: {r!r}")


def case_socks5_many_sequential(t):
    e = t.tcp_echo()
    g = t.gost("-L", "socks5://127.0.0.1:0")
    for i in range(50):
        with socks5_connect(g.port(), LOOPBACK, e.port) as s:
            msg = f"n{i}".encode()
            s.sendall(msg)
            check_eq(recv_exact(s, len(msg)), msg, f"echo #{i}")
    check_eq(e.accepts, 50, "connections at the echo server")


CASES = [
    case_socks5_hostname,
    case_socks5_local_resolve,
    case_socks_alias_scheme,
    case_socks5_auth_right,
    case_socks5_auth_wrong,
    case_socks5_auth_missing,
    case_socks5_raw_connect_domain_and_ipv4,
    case_socks5_connect_dead_target,
    case_socks5_two_requests_one_tunnel,
    case_socks5_bind,
    case_socks5_bind_disabled,
    case_socks5_bypass,
    case_socks5_target_writes_after_client_closed,
    case_socks4,
    case_socks4a_scheme,
    case_socks4_dead_target,
    case_socks4_raw_echo,
    case_auto_all_protocols,
    case_auto_bare_address,
    case_auto_with_auth,
    case_socks5_many_sequential,
]

if __name__ == "__main__":
    run(CASES)

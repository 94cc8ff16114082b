"""Remote port forwarding (rtcp / rudp): a port bound on a relay or SOCKS5 server (relay BIND, SOCKS5
MUX-BIND 0xF2, UDP-tun 0xF3 with a port) whose connections and datagrams come back through the
control connection to a local target; re-binding when the server comes and goes; refused binds;
bad hellos on the reversed session; the local bind when there is no chain."""

import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOOPBACK, check, check_eq, connect, echo_roundtrip, free_port,  # noqa: E402
                     parse_log_line, recv_exact, run, run_threads, split_hostport, udp_client,
                     udp_roundtrip)


def bound_port(g, start=0, timeout=15):
    """Waits for the rtcp/rudp listener's `msg=bound` line and returns the bound port."""
    line = g.wait_line(lambda _s, t: parse_log_line(t).get("msg") == "bound", timeout,
                       what="msg=bound", start=start)
    return split_hostport(parse_log_line(line)["addr"])[1]


def bulk_echo(port, size=1 << 20):
    data = os.urandom(size)
    with connect(port, timeout=10) as s:
        t = threading.Thread(target=s.sendall, args=(data,), daemon=True)
        t.start()
        got = recv_exact(s, len(data), 20)
        t.join(10)
    check(got == data, "1 MiB through the remote port came back intact")


def parallel_echo(port, n=20):
    errors = []

    def one(i):
        try:
            echo_roundtrip(port, f"conn {i}\n".encode() * 50)
        except Exception as e:  # noqa: BLE001
            errors.append(f"{i}: {e}")

    run_threads([lambda i=i: one(i) for i in range(n)], 20, "parallel connections")
    check(not errors, f"parallel connections through the remote port failed: {errors[:3]}")


SERVERS = {
    "relay": "relay://127.0.0.1:0?bind=true",
    "socks5": "socks5://127.0.0.1:0?bind=true",
    "socks5-notls": "socks5://127.0.0.1:0?bind=true&notls=true",
}


def client_node(kind, server):
    scheme = "relay" if kind == "relay" else "socks5"
    extra = "?notls=true" if kind == "socks5-notls" else ""
    return f"{scheme}://{server.hostport()}{extra}"


def case_rtcp_through_relay_and_socks5(t):
    e = t.tcp_echo()
    for kind, url in SERVERS.items():
        srv = t.gost("-L", url, name=f"srv-{kind}")
        cli = t.gost("-L", f"rtcp://127.0.0.1:0/{e.addr}", "-F", client_node(kind, srv),
                     name=f"cli-{kind}")
        port = bound_port(cli)
        echo_roundtrip(port, f"remote {kind}\n".encode())
        parallel_echo(port)
        bulk_echo(port)
        t.check_gost_exit(cli)
        t.check_gost_exit(srv)


def case_rtcp_mux_version2_and_auth(t):
    e = t.tcp_echo()
    srv = t.gost("-L", "relay://bob:pw@127.0.0.1:0?bind=true&mux.version=2", name="srv")
    cli = t.gost("-L", f"rtcp://127.0.0.1:0/{e.addr}", "-F",
                 f"relay://bob:pw@{srv.hostport()}?mux.version=2", name="cli")
    port = bound_port(cli)
    bulk_echo(port)
    # Wrong credentials: the bind is refused and retried, nothing is bound.
    bad = t.gost("-L", f"rtcp://127.0.0.1:0/{e.addr}", "-F", f"relay://bob:nope@{srv.hostport()}",
                 name="bad")
    bad.wait_line(lambda _s, x: parse_log_line(x).get("msg") == "bind failed, retrying", 10,
                  what="a refused bind")
    echo_roundtrip(port, b"still serving\n")


def case_rudp_through_relay_and_socks5(t):
    u = t.udp_echo()
    for kind, url in SERVERS.items():
        srv = t.gost("-L", url, name=f"srv-{kind}")
        # SOCKS5 UDP-tun with port 0 is an association (GOST's meaning), not a bind: name one.
        want = 0 if kind == "relay" else free_port(socket.SOCK_DGRAM)
        cli = t.gost("-L", f"rudp://127.0.0.1:{want}/{u.addr}", "-F", client_node(kind, srv),
                     name=f"cli-{kind}")
        port = bound_port(cli)
        if want:
            check_eq(port, want, "bound UDP port")
        # Two peers at once, each gets its own answers.
        a, b = udp_client(), udp_client()
        try:
            for i in range(5):
                udp_roundtrip(a, port, f"a{kind}{i}".encode())
                udp_roundtrip(b, port, f"b{kind}{i}".encode() * 100)
        finally:
            a.close()
            b.close()


def case_rtcp_server_down_then_up_then_restarted(t):
    e = t.tcp_echo()
    sport = free_port()
    rport = free_port()
    cli = t.gost("-L", f"rtcp://127.0.0.1:{rport}/{e.addr}", "-F", f"relay://127.0.0.1:{sport}",
                 name="cli")
    cli.wait_line(lambda _s, x: parse_log_line(x).get("msg") == "bind failed, retrying", 10,
                  what="a failed bind while the server is down")
    srv = t.gost("-L", f"relay://127.0.0.1:{sport}?bind=true", name="srv1")
    check_eq(bound_port(cli, timeout=20), rport, "bound port")
    echo_roundtrip(rport, b"first server\n")
    n = len(cli.lines)
    t.check_gost_exit(srv)
    cli.wait_line(lambda _s, x: parse_log_line(x).get("msg") == "bound listener ended, binding again",
                  10, what="the end of the bound listener", start=n)
    srv2 = t.gost("-L", f"relay://127.0.0.1:{sport}?bind=true", name="srv2")
    check_eq(bound_port(cli, start=n, timeout=20), rport, "bound port after the restart")
    echo_roundtrip(rport, b"second server\n")
    t.check_gost_exit(srv2)


def case_bind_disabled_is_refused(t):
    e = t.tcp_echo()
    for url in ("relay://127.0.0.1:0", "socks5://127.0.0.1:0?notls=true"):
        srv = t.gost("-L", url, name="srv")
        node = url.split("://")[0] + "://" + srv.hostport() + ("?notls=true" if "socks5" in url else "")
        cli = t.gost("-L", f"rtcp://127.0.0.1:0/{e.addr}", "-F", node, name="cli")
        cli.wait_line(lambda _s, x: parse_log_line(x).get("msg") == "bind failed, retrying", 10,
                      what="a refused bind")
        t.check_gost_exit(cli)
        t.check_gost_exit(srv)


def case_rtcp_without_chain_binds_locally(t):
    e = t.tcp_echo()
    cli = t.gost("-L", f"rtcp://127.0.0.1:0/{e.addr}", name="cli")
    port = bound_port(cli)
    echo_roundtrip(port, b"local bind\n")
    u = t.udp_echo()
    cu = t.gost("-L", f"rudp://127.0.0.1:0/{u.addr}", name="cu")
    uport = bound_port(cu)
    s = udp_client()
    try:
        udp_roundtrip(s, uport, b"local udp")
    finally:
        s.close()


def case_rtcp_from_a_config_file_with_listener_chain(t):
    e = t.tcp_echo()
    srv = t.gost("-L", "relay://127.0.0.1:0?bind=true", name="srv")
    text = f"""
services:
- name: remote
  addr: 127.0.0.1:0
  handler: {{type: rtcp}}
  listener: {{type: rtcp, chain: to-server}}
  forwarder:
    nodes:
    - {{name: target, addr: "{e.addr}"}}
chains:
- name: to-server
  hops:
  - name: hop-0
    nodes:
    - name: relay
      addr: "{srv.hostport()}"
      connector: {{type: relay}}
      dialer: {{type: tcp}}
"""
    cli = t.gost("-C", t.write("rtcp.yaml", text), services=["remote"], name="cli")
    echo_roundtrip(bound_port(cli), b"from a config file\n")


def socks5_reply(addr_port):
    return b"\x05\x00\x00\x01" + socket.inet_aton(LOOPBACK) + struct.pack(">H", addr_port)


def smux_frame(cmd, sid, data=b"", ver=1):
    return struct.pack("<BBHI", ver, cmd, len(data), sid) + data


def case_bad_hellos_from_a_fake_mux_bind_server(t):
    """A fake SOCKS5 server accepts MUX-BIND, then opens smux streams with a missing, bad and
    good hello: the bad streams are dropped, the good one is served, the client keeps going."""
    e = t.tcp_echo()
    ls = socket.socket()
    ls.bind((LOOPBACK, 0))
    ls.listen(4)
    ls.settimeout(10)
    t.defer(ls.close)
    cli = t.gost("-L", f"rtcp://127.0.0.1:0/{e.addr}", "-F",
                 f"socks5://127.0.0.1:{ls.getsockname()[1]}?notls=true", name="cli")
    c, _ = ls.accept()
    t.defer(c.close)
    c.settimeout(10)
    check_eq(recv_exact(c, 3), b"\x05\x01\x00", "method offer")
    c.sendall(b"\x05\x00")
    req = recv_exact(c, 10)
    check_eq(req[:4], b"\x05\xf2\x00\x01", "MUX-BIND request")
    c.sendall(socks5_reply(40000))
    bound_port(cli)
    # Stream 1: garbage hello. Stream 3: a failure reply. Stream 5: good.
    c.sendall(smux_frame(0, 1) + smux_frame(2, 1, b"\x04garbage"))
    c.sendall(smux_frame(0, 3) + smux_frame(2, 3, b"\x05\x05\x00\x01\x00\x00\x00\x00\x00\x00"))
    c.sendall(smux_frame(0, 5) + smux_frame(2, 5, socks5_reply(5555) + b"ping"))
    # The echo target answers through stream 5 (smux data frames from the client side).
    buf = b""
    for _ in range(200):
        if b"ping" in buf:
            break
        d = c.recv(4096)
        if not d:
            break
        buf += d
    check(b"ping" in buf, f"echo of stream 5 came back over the session (got {buf[:80]!r})")


if __name__ == "__main__":
    run([v for k, v in sorted(globals().items()) if k.startswith("case_")])

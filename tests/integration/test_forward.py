"""TCP port forwarding: direct, with a dead target, through chains, and the target selector."""

import os
import socket
import struct
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Skip, check, check_eq, clean_env, connect, curl_ok, dead_port,  # noqa: E402
                     echo_roundtrip, have_ipv6, recv_exact, recv_until_closed, run, run_gost_once, run_threads,
                     wait_until)


def which_target(targets, port, payload=b"which?"):
    """Makes one echo round trip through port; returns the index of the target that served it."""
    before = [x.accepts for x in targets]
    echo_roundtrip(port, payload)
    after = [x.accepts for x in targets]
    hit = [i for i in range(len(targets)) if after[i] != before[i]]
    check_eq(len(hit), 1, "targets that saw the connection")
    return hit[0]


def case_tcp_forward_direct(t):
    e = t.tcp_echo()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{e.addr}")
    for i in range(5):
        echo_roundtrip(g.port(), f"msg {i}\n".encode())
    check_eq(e.accepts, 5, "connections at the echo server")


def case_tcp_forward_large_and_half_close(t):
    e = t.tcp_echo()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{e.addr}")
    data = os.urandom(1 << 20)
    with connect(g.port(), timeout=20) as s:
        got = []

        def reader():
            d, _ = recv_until_closed(s, 20, limit=len(data) + 10)
            got.append(d)

        th = threading.Thread(target=reader)
        th.start()
        s.sendall(data)
        s.shutdown(1)  # our FIN must reach the echo server, and its FIN must come back
        th.join(25)
        check(not th.is_alive(), "reader did not finish")
        check_eq(len(got[0]), len(data), "bytes echoed before EOF")
        check(got[0] == data, "echoed data differs")


def pinned_threads(pid):
    """The CPUs of gost's threads that may run on one CPU only."""
    pinned = []
    for tid in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{tid}/status") as f:
            cpus = [ln.split(":", 1)[1].strip() for ln in f if ln.startswith("Cpus_allowed_list:")][0]
        if "," not in cpus and "-" not in cpus:
            pinned.append(int(cpus))
    return pinned


def case_tcp_forward_concurrent(t):
    # Connections steered by CPU (the default), threads not pinned.
    g = concurrent_echoes(t)
    if len(os.sched_getaffinity(0)) > 1:
        check_eq(pinned_threads(g.pid), [], "no thread pinned by default")


def case_tcp_forward_concurrent_hash_spread(t):
    concurrent_echoes(t, env=clean_env({"GOST_CPU_STEERING": "0"}))


def case_tcp_forward_concurrent_cpu_affinity(t):
    # Threads pinned, each connection steered to the thread on the CPU that took it in.
    g = concurrent_echoes(t, env=clean_env({"GOST_CPU_AFFINITY": "1"}))
    allowed = len(os.sched_getaffinity(0))
    pinned = pinned_threads(g.pid)
    check_eq(len(set(pinned)), allowed, f"runtime threads pinned one to each CPU (got {pinned})")


def case_tcp_forward_concurrent_balance_min_idle(t):
    # Balancing by the connection counts alone, busy cores or not.
    concurrent_echoes(t, env=clean_env({"GOST_BALANCE_MIN_IDLE": "0"}))
    for bad in ("-1", "x", "50%", ""):
        rc, _, err = run_gost_once(t.gost_bin, ["-L", "tcp://127.0.0.1:0/127.0.0.1:9"], timeout=15,
                                   env=clean_env({"GOST_BALANCE_MIN_IDLE": bad}))
        check(rc != 0 and "GOST_BALANCE_MIN_IDLE" in err, f"GOST_BALANCE_MIN_IDLE={bad!r}: rc={rc} {err.strip()[-300:]}")


def concurrent_echoes(t, env=None):
    e = t.tcp_echo()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{e.addr}", env=env)
    errors = []

    def worker(i):
        try:
            for j in range(5):
                echo_roundtrip(g.port(), f"w{i}-{j}-".encode() * 100)
        except Exception as ex:  # noqa: BLE001
            errors.append(f"worker {i}: {ex}")

    run_threads([lambda i=i: worker(i) for i in range(20)], 60, "workers")
    check(not errors, "; ".join(errors[:3]))
    check_eq(e.accepts, 100, "connections at the echo server")
    return g


def case_tcp_forward_curl_origin(t):
    o = t.origin()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{o.addr}")
    curl_ok(f"http://127.0.0.1:{g.port()}/fwd", want_body=o.body("/fwd"))


def case_tcp_forward_two_services(t):
    e1, e2 = t.tcp_echo(), t.tcp_echo()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{e1.addr}", "-L", f"tcp://127.0.0.1:0/{e2.addr}",
               services=2)
    echo_roundtrip(g.port(0), b"one")
    echo_roundtrip(g.port(1), b"two")
    check_eq((e1.accepts, e2.accepts), (1, 1), "connections per echo server")


def case_tcp_forward_dead_target_skipped(t):
    e = t.tcp_echo()
    port = dead_port()
    g = t.gost("-L", f"tcp://127.0.0.1:0/127.0.0.1:{port},{e.addr}")
    for i in range(6):
        echo_roundtrip(g.port(), f"try {i}".encode())
    check_eq(e.accepts, 6, "connections at the live target")


def case_tcp_forward_all_targets_dead(t):
    port = dead_port()
    g = t.gost("-L", f"tcp://127.0.0.1:0/127.0.0.1:{port}")
    with connect(g.port()) as s:
        s.sendall(b"x")
        data, closed = recv_until_closed(s, 10)
        check(closed and data == b"", f"connection to a dead target not closed (data={data!r})")
    # Still serving.
    with connect(g.port()) as s:
        _, closed = recv_until_closed(s, 10)
        check(closed, "second connection not closed")


def case_tcp_forward_via_gost_socks5(t):
    e = t.tcp_echo()
    hop = t.gost("-L", "socks5://127.0.0.1:0", name="hop")
    g = t.gost("-L", f"tcp://127.0.0.1:0/{e.addr}", "-F", f"socks5://{hop.hostport()}",
               name="fwd")
    for i in range(3):
        echo_roundtrip(g.port(), f"chain {i}".encode())


def case_tcp_forward_via_2hops(t):
    e = t.tcp_echo()
    a = t.gost("-L", "http://127.0.0.1:0", name="hop-a")
    b = t.gost("-L", "socks5://u:p@127.0.0.1:0", name="hop-b")
    g = t.gost("-L", f"tcp://127.0.0.1:0/{e.addr}", "-F", f"http://{a.hostport()}",
               "-F", f"socks5://u:p@{b.hostport()}", name="fwd")
    echo_roundtrip(g.port(), b"two hops " * 1000)


def case_tcp_forward_via_microsocks(t):
    e = t.tcp_echo()
    m = t.microsocks()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{e.addr}", "-F", f"socks5://{m.addr}")
    echo_roundtrip(g.port(), b"via microsocks")


def case_tcp_forward_via_dante(t):
    e = t.tcp_echo()
    d = t.danted()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{e.addr}", "-F", f"socks5://{d.addr}")
    echo_roundtrip(g.port(), b"via dante")


def case_tcp_forward_via_chain_dead_target_skipped(t):
    e = t.tcp_echo()
    port = dead_port()
    hop = t.gost("-L", "socks5://127.0.0.1:0", name="hop")
    g = t.gost("-L", f"tcp://127.0.0.1:0/127.0.0.1:{port},{e.addr}",
               "-F", f"socks5://{hop.hostport()}", name="fwd")
    for i in range(4):
        echo_roundtrip(g.port(), f"c{i}".encode())
    check_eq(e.accepts, 4, "connections at the live target")


def case_tcp_forward_target_writes_after_client_closed(t):
    # The client sends a line and closes; the target answers afterwards in several writes.
    # gost's writes towards the closed client fail (RST, then EPIPE): gost must survive that.
    srv = t.late_reply()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{srv.addr}")
    for i in range(3):
        with connect(g.port()) as s:
            s.sendall(b"hello\n")
        wait_until(lambda: not g.alive() or srv.finished >= i + 1, 10,
                   what="the target to finish its late reply")
        check(g.alive(), f"gost died after its client closed (rc={g.p.returncode}; "
                         "-13 = SIGPIPE)")
    # The same service still relays a late reply to a client that only half-closed.
    with connect(g.port()) as s:
        s.sendall(b"hello\n")
        s.shutdown(socket.SHUT_WR)
        data, closed = recv_until_closed(s, 10)
    check(closed and data.count(b"late reply") == 4, f"late reply after half-close: {data!r}")


def case_selector_round_robin(t):
    a, b = t.tcp_echo(), t.tcp_echo()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{a.addr},{b.addr}")
    seq = [which_target([a, b], g.port()) for _ in range(6)]
    check(all(seq[i] != seq[i + 1] for i in range(len(seq) - 1)),
          f"round robin (default) does not alternate: {seq}")


def case_selector_round_explicit(t):
    a, b = t.tcp_echo(), t.tcp_echo()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{a.addr},{b.addr}?strategy=round")
    seq = [which_target([a, b], g.port()) for _ in range(4)]
    check(all(seq[i] != seq[i + 1] for i in range(len(seq) - 1)),
          f"strategy=round does not alternate: {seq}")


def case_selector_fifo(t):
    a, b = t.tcp_echo(), t.tcp_echo()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{a.addr},{b.addr}?strategy=fifo")
    seq = [which_target([a, b], g.port()) for _ in range(5)]
    check_eq(seq, [0] * 5, "fifo targets (sticks to the first)")


def case_selector_fifo_failover(t):
    b = t.tcp_echo()
    port = dead_port()
    g = t.gost("-L", f"tcp://127.0.0.1:0/127.0.0.1:{port},{b.addr}?strategy=fifo")
    for i in range(4):
        echo_roundtrip(g.port(), f"f{i}".encode())
    check_eq(b.accepts, 4, "connections at the second (live) target")


def case_selector_random_uses_both(t):
    a, b = t.tcp_echo(), t.tcp_echo()
    g = t.gost("-L", f"tcp://127.0.0.1:0/{a.addr},{b.addr}?strategy=rand")
    seq = [which_target([a, b], g.port()) for _ in range(40)]
    # P(all 40 the same | uniform) = 2^-39.
    check(0 in seq and 1 in seq, f"strategy=rand never picked one of two targets: {seq}")


def case_tcp_forward_ipv6_target(t):
    if not have_ipv6():
        raise Skip("no ::1 in this sandbox")
    e = t.tcp_echo("::1")
    g = t.gost("-L", f"tcp://127.0.0.1:0/[::1]:{e.port}")
    echo_roundtrip(g.port(), b"v6 target")


def _abort(s):
    """Closes s with a reset (SO_LINGER 0)."""
    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()


def _outcome(s, timeout=5.0):
    """Reads s to its end: "reset", "eof" or "timeout"."""
    s.settimeout(timeout)
    try:
        while True:
            if not s.recv(4096):
                return "eof"
    except ConnectionResetError:
        return "reset"
    except socket.timeout:
        return "timeout"


def case_tcp_forward_reset_propagates(t):
    # An abort on one side is an abort on the other (as haproxy does), a close stays a close; and
    # the service keeps serving. Checked in both directions.
    with socket.socket() as ls:
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        g = t.gost("-L", f"tcp://127.0.0.1:0/127.0.0.1:{ls.getsockname()[1]}")
        ls.settimeout(5)
        for who, how, want in (("client", "abort", "reset"), ("target", "abort", "reset"),
                               ("client", "close", "eof"), ("target", "close", "eof")):
            c = connect(g.port())
            c.sendall(b"x")
            srv, _ = ls.accept()
            check_eq(recv_exact(srv, 1), b"x", "first byte at the target")
            srv.sendall(b"y")
            check_eq(recv_exact(c, 1), b"y", "first byte at the client")
            closer, other = (c, srv) if who == "client" else (srv, c)
            if how == "abort":
                _abort(closer)
            else:
                closer.close()
            got = _outcome(other)
            other.close()
            check_eq(got, want, f"what the {'target' if who == 'client' else 'client'} saw after "
                                f"the {who}'s {how}")
        echo_roundtrip_ok = t.tcp_echo()
        g2 = t.gost("-L", f"tcp://127.0.0.1:0/{echo_roundtrip_ok.addr}")
        echo_roundtrip(g2.port(), b"still serving")
        check(g.alive(), "gost exited")


def case_gomaxprocs_sets_threads(t):
    # GOMAXPROCS caps the Go tool's threads; it sets the number of runtime threads here.
    def threads(n):
        g = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9", env=clean_env({"GOMAXPROCS": str(n)}))
        count = len(os.listdir(f"/proc/{g.pid}/task"))
        g.stop()
        return count
    one, four = threads(1), threads(4)
    check_eq(four - one, 3, f"extra threads with GOMAXPROCS=4 over GOMAXPROCS=1 ({four} vs {one})")


CASES = [
    case_tcp_forward_direct,
    case_tcp_forward_large_and_half_close,
    case_tcp_forward_concurrent,
    case_tcp_forward_concurrent_hash_spread,
    case_tcp_forward_concurrent_cpu_affinity,
    case_tcp_forward_concurrent_balance_min_idle,
    case_tcp_forward_curl_origin,
    case_tcp_forward_two_services,
    case_tcp_forward_dead_target_skipped,
    case_tcp_forward_all_targets_dead,
    case_tcp_forward_via_gost_socks5,
    case_tcp_forward_via_2hops,
    case_tcp_forward_via_microsocks,
    case_tcp_forward_via_dante,
    case_tcp_forward_via_chain_dead_target_skipped,
    case_tcp_forward_target_writes_after_client_closed,
    case_selector_round_robin,
    case_selector_round_explicit,
    case_selector_fifo,
    case_selector_fifo_failover,
    case_selector_random_uses_both,
    case_tcp_forward_ipv6_target,
    case_tcp_forward_reset_propagates,
    case_gomaxprocs_sets_threads,
]

if __name__ == "__main__":
    run(CASES)

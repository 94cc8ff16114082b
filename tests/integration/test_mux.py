"""smux transports (mtcp, mws, mtls, mwss): chains with curl, session sharing, large transfers
with half-close, concurrency, smux v2."""

import os
import re
import subprocess
import sys
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_ws import need_tls  # noqa: E402
from harness import (Skip, check, check_eq, connect, curl, curl_ok, echo_roundtrip,  # noqa: E402
                     recv_until_closed, run, run_threads)


def through(o, entry, n=3, connect_too=True):
    for i in range(n):
        curl_ok("-x", f"http://{entry}", o.url(f"/m{i}"), want_body=o.body(f"/m{i}"))
    if connect_too:
        r = curl_ok("-p", "-x", f"http://{entry}", o.url("/tun"), want_body=o.body("/tun"))
        check_eq(r.connect_code, 200, "CONNECT status")


def client_ports(g):
    """Client ports the server gost logged for finished connections."""
    ports = []
    for line in g.text().splitlines():
        m = re.search(r'client=(?:\[[^\]]*\]|[0-9.]+):(\d+)', line)
        if m and "connection closed" in line:
            ports.append(int(m.group(1)))
    return ports


def server_conns(port):
    """Established TCP connections whose local (server) port is port, as `ss` sees them."""
    r = subprocess.run(["ss", "-Htn", "state", "established", f"( sport = :{port} )"],
                       capture_output=True, text=True, timeout=10)
    check(r.returncode == 0, f"ss failed: {r.stderr}")
    return [line for line in r.stdout.splitlines() if line.strip()]


def need_two_threads():
    # gost runs one runtime thread per core (there is no thread-count option, as in GOST).
    if (os.cpu_count() or 1) < 2:
        raise Skip("one core: gost runs a single runtime thread")


def parallel(n, fn):
    """Runs fn(i) for i in range(n) on n threads started together; returns the errors."""
    errors = []
    start = threading.Barrier(n)

    def worker(i):
        try:
            start.wait(10)
            fn(i)
        except Exception as ex:  # noqa: BLE001
            errors.append(f"worker {i}: {ex}")

    run_threads([lambda i=i: worker(i) for i in range(n)], 90, "workers")
    return errors


def one_session_echo(t, scheme):
    """Many parallel connections into a 2-thread gost chained over one mux node: the node sees
    exactly one TCP connection carrying every stream."""
    need_two_threads()
    echo = t.tcp_echo()
    a = t.gost("-L", f"tcp+{scheme}://127.0.0.1:0/{echo.addr}", name=f"hop-{scheme}")
    e = t.gost("-L", f"tcp://127.0.0.1:0/{echo.addr}", "-F", f"forward+{scheme}://{a.hostport()}",
               name="entry")
    n, rounds = 32, 4

    def fn(i):
        for j in range(rounds):
            echo_roundtrip(e.port(), f"{scheme}-{i}-{j}|".encode() * (50 + 37 * i), timeout=20)

    errors = parallel(n, fn)
    check(not errors, "; ".join(errors[:3]))
    conns = server_conns(a.port())
    check_eq(len(conns), 1, f"TCP connections at the {scheme} node ({conns})")
    a.wait_line(lambda _s, line: len(client_ports(a)) >= n * rounds, what="connection logs",
                timeout=10)
    ports = set(client_ports(a))
    check_eq(len(ports), 1, f"client ports of the streams the {scheme} node served")
    # Still one session for the next burst.
    errors = parallel(8, fn)
    check(not errors, "; ".join(errors[:3]))
    check_eq(len(server_conns(a.port())), 1, "TCP connections after a second burst")


def case_mtcp_one_session_two_threads(t):
    one_session_echo(t, "mtcp")


def case_mtls_one_session_two_threads(t):
    need_tls(t)
    one_session_echo(t, "mtls")


def case_mtls_one_session_parallel_curl(t):
    need_tls(t)
    need_two_threads()
    o = t.origin()
    a = t.gost("-L", "http+mtls://127.0.0.1:0", name="hop-mtls")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+mtls://{a.hostport()}", name="entry")

    def fn(i):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/p{i}"), want_body=o.body(f"/p{i}"))
        curl_ok("-p", "-x", f"http://{e.hostport()}", o.url(f"/q{i}"), want_body=o.body(f"/q{i}"))

    errors = parallel(16, fn)
    check(not errors, "; ".join(errors[:3]))
    check_eq(len(server_conns(a.port())), 1, "TCP connections at the mtls node")


def big_echo(port, size=1 << 20):
    data = os.urandom(size)
    with connect(port, timeout=30) as s:
        got = []

        def reader():
            d, _ = recv_until_closed(s, 30, limit=len(data) + 10)
            got.append(d)

        th = threading.Thread(target=reader)
        th.start()
        s.sendall(data)
        s.shutdown(1)  # the FIN must travel through the mux stream and come back
        th.join(35)
        check(not th.is_alive(), "reader did not finish")
    check_eq(len(got[0]), len(data), "bytes echoed before EOF")
    check(got[0] == data, "echoed data differs")


def case_mws_http_chain(t):
    o = t.origin()
    a = t.gost("-L", "http+mws://127.0.0.1:0", name="hop-mws")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+mws://{a.hostport()}", name="entry")
    through(o, e.hostport())


def case_mtcp_socks5_chain(t):
    o = t.origin()
    a = t.gost("-L", "socks5+mtcp://127.0.0.1:0", name="hop-mtcp")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5+mtcp://{a.hostport()}", name="entry")
    through(o, e.hostport())
    e2 = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"socks5+mtcp://{a.hostport()}", name="entry2")
    curl_ok("--socks5-hostname", e2.hostport(), o.url("/s5"), want_body=o.body("/s5"))


def case_mux_session_is_shared(t):
    o = t.origin()
    a = t.gost("-L", "http+mws://127.0.0.1:0", name="hop-mws")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+mws://{a.hostport()}", name="entry")
    n = 12
    for i in range(n):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/s{i}"), want_body=o.body(f"/s{i}"))
    a.wait_line(lambda _s, line: len(client_ports(a)) >= n, what="connection logs", timeout=10)
    ports = set(client_ports(a))
    # One session per node: one transport connection for every request.
    check_eq(len(ports), 1, f"transport connections for {n} requests ({sorted(ports)})")


def case_mux_concurrent_and_large(t):
    echo = t.tcp_echo()
    a = t.gost("-L", f"tcp+mtcp://127.0.0.1:0/{echo.addr}", name="hop-mtcp")
    e = t.gost("-L", f"tcp://127.0.0.1:0/{echo.addr}", "-F", f"forward+mtcp://{a.hostport()}",
               name="entry")
    big_echo(e.port())
    errors = []

    def worker(i):
        try:
            for j in range(5):
                echo_roundtrip(e.port(), f"w{i}-{j}-".encode() * 200, timeout=20)
        except Exception as ex:  # noqa: BLE001
            errors.append(f"worker {i}: {ex}")

    run_threads([lambda i=i: worker(i) for i in range(20)], 90, "workers")
    check(not errors, "; ".join(errors[:3]))


def case_mux_v2(t):
    echo = t.tcp_echo()
    o = t.origin()
    a = t.gost("-L", f"tcp+mws://127.0.0.1:0/{echo.addr}?mux.version=2&mux.maxStreamBuffer=65536",
               name="hop-v2")
    e = t.gost("-L", f"tcp://127.0.0.1:0/{echo.addr}",
               "-F", f"forward+mws://{a.hostport()}?mux.version=2", name="entry")
    big_echo(e.port(), 2 << 20)
    b = t.gost("-L", "http+mtcp://127.0.0.1:0?mux.version=2", name="hop-http-v2")
    e2 = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+mtcp://{b.hostport()}?mux.version=2",
                name="entry2")
    through(o, e2.hostport())


def case_mux_version_mismatch_fails(t):
    o = t.origin()
    a = t.gost("-L", "http+mtcp://127.0.0.1:0?mux.version=2", name="hop-v2")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+mtcp://{a.hostport()}", name="entry")
    r = curl("-x", f"http://{e.hostport()}", o.url("/x"), timeout=20)
    check(r.code != 200, f"v1 client through a v2 server succeeded: {r!r}")


def case_mux_garbage_to_listener(t):
    a = t.gost("-L", "http+mtcp://127.0.0.1:0", name="hop")
    for junk in (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", b"\x02" + os.urandom(4096), b"\x01\x09\x00\x00\x01\x00\x00\x00"):
        with connect(a.port()) as s:
            s.sendall(junk)
            recv_until_closed(s, 10)
    o = t.origin()
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+mtcp://{a.hostport()}", name="entry")
    through(o, e.hostport(), n=1, connect_too=False)


def case_mtls_http_chain(t):
    need_tls(t)
    o = t.origin()
    a = t.gost("-L", "http+mtls://127.0.0.1:0", name="hop-mtls")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"http+mtls://{a.hostport()}", name="entry")
    through(o, e.hostport())


def case_mwss_socks5_chain(t):
    need_tls(t)
    o = t.origin()
    echo = t.tcp_echo()
    a = t.gost("-L", "socks5+mwss://127.0.0.1:0", name="hop-mwss")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5+mwss://{a.hostport()}", name="entry")
    through(o, e.hostport())
    b = t.gost("-L", f"tcp+mwss://127.0.0.1:0/{echo.addr}", name="hop-fwd")
    f = t.gost("-L", f"tcp://127.0.0.1:0/{echo.addr}", "-F", f"forward+mwss://{b.hostport()}",
               name="entry-fwd")
    big_echo(f.port())


CASES = [
    case_mws_http_chain,
    case_mtcp_socks5_chain,
    case_mux_session_is_shared,
    case_mux_concurrent_and_large,
    case_mux_v2,
    case_mux_version_mismatch_fails,
    case_mux_garbage_to_listener,
    case_mtls_http_chain,
    case_mwss_socks5_chain,
    case_mtcp_one_session_two_threads,
    case_mtls_one_session_two_threads,
    case_mtls_one_session_parallel_curl,
]

if __name__ == "__main__":
    run(CASES)

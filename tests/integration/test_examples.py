"""The example programs (built with GOST_BUILD_EXAMPLES=ON) against real peers: the embedded
SOCKS5 server with curl and a raw UDP ASSOCIATE client, and the two-hop chain dialer through the
embedded server and a gost HTTP hop. Skipped when the examples were not built."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOOPBACK, Failure, Skip, Socks5Udp, check, check_eq, curl,  # noqa: E402
                     curl_ok, run, run_gost_once, split_hostport)


def start_embedded(t, *args):
    p = t.example("embed_socks5_server", "127.0.0.1:0", *args)
    line = p.wait_line(lambda s, ln: s == "stdout" and ln.startswith("listening "),
                       what="'listening <addr>' on stdout")
    host, port = split_hostport(line.split(" ", 1)[1])
    return p, port


def case_embedded_socks5_curl(t):
    o = t.origin()
    _, port = start_embedded(t)
    curl_ok("--socks5-hostname", f"127.0.0.1:{port}", o.url("/e"), want_body=o.body("/e"))
    curl_ok("--socks5", f"127.0.0.1:{port}", o.url("/e2"), want_body=o.body("/e2"))


def case_embedded_socks5_auth(t):
    o = t.origin()
    _, port = start_embedded(t, "alice", "secret")
    curl_ok("--socks5-hostname", f"alice:secret@127.0.0.1:{port}", o.url(), want_body=o.body())
    r = curl("--socks5-hostname", f"alice:nope@127.0.0.1:{port}", o.url())
    check(r.rc != 0, f"wrong password accepted by the embedded server: {r!r}")


def case_embedded_socks5_udp(t):
    u = t.udp_echo()
    _, port = start_embedded(t)
    cl = Socks5Udp(port)
    try:
        check_eq(cl.rep, 0, "UDP ASSOCIATE reply")
        cl.send(LOOPBACK, u.port, b"embedded udp")
        r = cl.recv(3)
        check(r is not None and r[2] == b"embedded udp", f"no echo: {r}")
    finally:
        cl.close()


def case_two_hop_chain_example(t):
    # two_hop_chain half-closes after its message and reads until EOF, so both hops must relay a
    # half-close: the embedded server and gost's HTTP handler do (microsocks and tinyproxy
    # close both directions on the first EOF, so they cannot be used here).
    e = t.tcp_echo()
    _, port = start_embedded(t)
    hop2 = t.gost("-L", "http://127.0.0.1:0", name="http-hop")
    d = t.examples_dir
    path = os.path.join(d, "two_hop_chain") if d else None
    if not path or not os.path.exists(path):
        raise Skip("example two_hop_chain not built")
    rc, out, err = run_gost_once(path, [f"127.0.0.1:{port}", hop2.hostport(), e.addr,
                                        "through two hops"], timeout=30)
    if rc != 0:
        raise Failure(f"two_hop_chain rc={rc}: {out} {err[-800:]}")
    check_eq(out.strip(), "through two hops", "reply printed by two_hop_chain")
    check_eq(e.accepts, 1, "connections at the echo target")


CASES = [
    case_embedded_socks5_curl,
    case_embedded_socks5_auth,
    case_embedded_socks5_udp,
    case_two_hop_chain_example,
]

if __name__ == "__main__":
    run(CASES)

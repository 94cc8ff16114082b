"""Chains of gost hops (http/socks5/socks4a) and third-party hops (microsocks, dante, tinyproxy),
hop bypass, and node selection inside a hop."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import check, check_eq, curl, curl_ok, dead_port, run  # noqa: E402


def through_entry(o, entry_scheme, hp, path="/c", host=None):
    """curl through an entry proxy of the given scheme; checks the origin's body."""
    url = o.url(path, host=host)
    if entry_scheme == "http":
        curl_ok("-x", f"http://{hp}", url, want_body=o.body(path))
        r = curl_ok("-p", "-x", f"http://{hp}", url, want_body=o.body(path))
        check_eq(r.connect_code, 200, "CONNECT status")
    elif entry_scheme == "socks5":
        curl_ok("--socks5-hostname", hp, url, want_body=o.body(path))
    elif entry_scheme == "socks4a":
        curl_ok("--socks4a", hp, url, want_body=o.body(path))
    else:
        raise ValueError(entry_scheme)


def case_chain_1hop_http_to_socks5(t):
    o = t.origin()
    a = t.gost("-L", "socks5://127.0.0.1:0", name="hop-a")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://{a.hostport()}", name="entry")
    through_entry(o, "http", e.hostport())
    check_eq(o.connections, 2, "origin connections")


def case_chain_1hop_socks5_to_http(t):
    o = t.origin()
    a = t.gost("-L", "http://127.0.0.1:0", name="hop-a")
    e = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"http://{a.hostport()}", name="entry")
    through_entry(o, "socks5", e.hostport(), host="localhost")


def case_chain_1hop_socks4a_hop(t):
    o = t.origin()
    a = t.gost("-L", "socks4://127.0.0.1:0", name="hop-a")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks4a://{a.hostport()}", name="entry")
    through_entry(o, "http", e.hostport(), host="localhost")
    e2 = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks4://{a.hostport()}", name="entry4")
    through_entry(o, "http", e2.hostport())


def case_chain_2hops_http_socks4a(t):
    o = t.origin()
    a = t.gost("-L", "http://127.0.0.1:0", name="hop-a")
    b = t.gost("-L", "socks4a://127.0.0.1:0", name="hop-b")
    e = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"http://{a.hostport()}",
               "-F", f"socks4a://{b.hostport()}", name="entry")
    through_entry(o, "socks5", e.hostport(), host="localhost")


def case_chain_2hops_socks5_socks5(t):
    o = t.origin()
    a = t.gost("-L", "socks5://127.0.0.1:0", name="hop-a")
    b = t.gost("-L", "socks5://127.0.0.1:0", name="hop-b")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://{a.hostport()}",
               "-F", f"socks5://{b.hostport()}", name="entry")
    through_entry(o, "http", e.hostport())


def case_chain_3hops_mixed(t):
    o = t.origin()
    a = t.gost("-L", "socks5://127.0.0.1:0", name="hop-a")
    b = t.gost("-L", "socks4a://127.0.0.1:0", name="hop-b")
    c = t.gost("-L", "http://127.0.0.1:0", name="hop-c")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://{a.hostport()}",
               "-F", f"socks4a://{b.hostport()}", "-F", f"http://{c.hostport()}", name="entry")
    through_entry(o, "http", e.hostport())
    r = curl("-x", f"http://{e.hostport()}", o.url("/k1"), o.url("/k2"))
    check(r.rc == 0 and [x[0] for x in r.codes] == [200, 200], f"two requests: {r!r}")


def case_chain_3hops_auth(t):
    o = t.origin()
    a = t.gost("-L", "http://ua:pa@127.0.0.1:0", name="hop-a")
    b = t.gost("-L", "socks5://ub:pb@127.0.0.1:0", name="hop-b")
    c = t.gost("-L", "auto://uc:pc@127.0.0.1:0", name="hop-c")
    e = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"http://ua:pa@{a.hostport()}",
               "-F", f"socks5://ub:pb@{b.hostport()}", "-F", f"socks5://uc:pc@{c.hostport()}",
               name="entry")
    through_entry(o, "socks5", e.hostport())
    # A wrong password on the middle hop breaks the chain.
    bad = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"http://ua:pa@{a.hostport()}",
                 "-F", f"socks5://ub:WRONG@{b.hostport()}", "-F", f"socks5://uc:pc@{c.hostport()}",
                 name="entry-bad")
    r = curl("--socks5-hostname", bad.hostport(), o.url("/x"))
    check(r.rc != 0, f"chain with a wrong hop password worked: {r!r}")
    check_eq(len([q for q in o.requests if q[1] == "/x"]), 0, "requests through the bad chain")


def case_chain_microsocks(t):
    o = t.origin()
    m = t.microsocks()
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://{m.addr}")
    through_entry(o, "http", e.hostport())


def case_chain_microsocks_auth(t):
    o = t.origin()
    m = t.microsocks("mu", "mp")
    e = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"socks5://mu:mp@{m.addr}")
    through_entry(o, "socks5", e.hostport(), host="localhost")
    bad = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"socks5://mu:WRONG@{m.addr}", name="bad")
    r = curl("--socks5-hostname", bad.hostport(), o.url("/bad"))
    check(r.rc != 0, f"wrong microsocks password worked: {r!r}")


def case_chain_gost_then_microsocks(t):
    o = t.origin()
    m = t.microsocks()
    a = t.gost("-L", "socks5://127.0.0.1:0", name="hop-a")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://{a.hostport()}",
               "-F", f"socks5://{m.addr}", name="entry")
    through_entry(o, "http", e.hostport())


def case_chain_dante(t):
    o = t.origin()
    d = t.danted()
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://{d.addr}")
    through_entry(o, "http", e.hostport())
    e2 = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"socks5://{d.addr}", name="entry-socks")
    through_entry(o, "socks5", e2.hostport(), host="localhost")


def case_chain_gost_then_dante(t):
    o = t.origin()
    d = t.danted()
    a = t.gost("-L", "http://127.0.0.1:0", name="hop-a")
    e = t.gost("-L", "socks4a://127.0.0.1:0", "-F", f"http://{a.hostport()}",
               "-F", f"socks5://{d.addr}", name="entry")
    through_entry(o, "socks4a", e.hostport())


def case_chain_dante_username_sent(t):
    # dante checks RFC 1929 credentials against system accounts; with a user that does not
    # exist the chain must fail, and dante's log shows the username gost sent.
    o = t.origin()
    d = t.danted(method="username")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://nosuchuser:pw@{d.addr}")
    r = curl("-x", f"http://{e.hostport()}", o.url())
    check(r.code != 200, f"dante accepted a non-existent user: {r!r}")
    check_eq(len(o.requests), 0, "requests at the origin")
    d.wait_line(lambda s, ln: "nosuchuser" in ln, timeout=10,
                what="dante log line with the username gost sent")


def case_chain_tinyproxy(t):
    o = t.origin()
    p = t.tinyproxy()
    e = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"http://{p.addr}")
    through_entry(o, "socks5", e.hostport())
    e2 = t.gost("-L", "http://127.0.0.1:0", "-F", f"http://{p.addr}", name="entry-http")
    through_entry(o, "http", e2.hostport())


def case_chain_gost_tinyproxy_microsocks(t):
    o = t.origin()
    p = t.tinyproxy()
    m = t.microsocks()
    a = t.gost("-L", "socks5://127.0.0.1:0", name="hop-a")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://{a.hostport()}",
               "-F", f"http://{p.addr}", "-F", f"socks5://{m.addr}", name="entry")
    through_entry(o, "http", e.hostport())


def case_chain_dead_hop_fails_cleanly(t):
    o = t.origin()
    port = dead_port()
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://127.0.0.1:{port}")
    r = curl("-x", f"http://{e.hostport()}", o.url())
    check(500 <= r.code < 600, f"dead hop: want a 5xx, got {r!r}")
    r = curl("-p", "-x", f"http://{e.hostport()}", o.url())
    check(r.rc != 0 and 500 <= r.connect_code < 600, f"dead hop CONNECT: want 5xx, got {r!r}")
    check_eq(o.connections, 0, "origin connections")


def case_hop_bypass_goes_direct(t):
    # The only hop is dead: a target that matches the hop's bypass must go direct (works);
    # a target that does not match goes to the dead hop (fails).
    o = t.origin()
    port = dead_port()
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://127.0.0.1:{port}?bypass=127.0.0.1")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/direct"), want_body=o.body("/direct"))
    curl_ok("-p", "-x", f"http://{e.hostport()}", o.url("/direct"), want_body=o.body("/direct"))
    r = curl("-x", f"http://{e.hostport()}", o.url("/via", host="localhost"))
    check(r.code != 200, f"target outside the hop bypass did not use the (dead) hop: {r!r}")


def case_hop_bypass_whitelist(t):
    o = t.origin()
    port = dead_port()
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://127.0.0.1:{port}?bypass=~localhost")
    # Whitelist: only "localhost" is proxied (dead hop -> fails); everything else is direct.
    curl_ok("-x", f"http://{e.hostport()}", o.url("/direct"), want_body=o.body("/direct"))
    r = curl("-x", f"http://{e.hostport()}", o.url("/via", host="localhost"))
    check(r.code != 200, f"whitelisted target did not use the (dead) hop: {r!r}")


def case_hop_bypass_with_live_hop(t):
    # With a live hop both paths work; microsocks as the hop shows nothing, so the direct path
    # is told apart by a hop that requires credentials the entry does not have.
    o = t.origin()
    a = t.gost("-L", "socks5://hu:hp@127.0.0.1:0", name="hop-a")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5://{a.hostport()}?bypass=127.0.0.1",
               name="entry")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/direct"), want_body=o.body("/direct"))
    r = curl("-x", f"http://{e.hostport()}", o.url("/via", host="localhost"))
    check(r.code != 200, f"non-bypassed target did not go through the hop: {r!r}")


def case_hop_two_nodes_one_dead(t):
    # Two nodes in one hop, one dead; with retries=1 every request succeeds (the failed node
    # is marked and skipped).
    o = t.origin()
    a = t.gost("-L", "socks5://127.0.0.1:0", name="hop-a")
    port = dead_port()
    e = t.gost("-L", "http://127.0.0.1:0?retries=1",
               "-F", f"socks5://127.0.0.1:{port},{a.hostport()}", name="entry")
    for i in range(6):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/n{i}"), want_body=o.body(f"/n{i}"))


CASES = [
    case_chain_1hop_http_to_socks5,
    case_chain_1hop_socks5_to_http,
    case_chain_1hop_socks4a_hop,
    case_chain_2hops_http_socks4a,
    case_chain_2hops_socks5_socks5,
    case_chain_3hops_mixed,
    case_chain_3hops_auth,
    case_chain_microsocks,
    case_chain_microsocks_auth,
    case_chain_gost_then_microsocks,
    case_chain_dante,
    case_chain_gost_then_dante,
    case_chain_dante_username_sent,
    case_chain_tinyproxy,
    case_chain_gost_tinyproxy_microsocks,
    case_chain_dead_hop_fails_cleanly,
    case_hop_bypass_goes_direct,
    case_hop_bypass_whitelist,
    case_hop_bypass_with_live_hop,
    case_hop_two_nodes_one_dead,
]

if __name__ == "__main__":
    run(CASES)

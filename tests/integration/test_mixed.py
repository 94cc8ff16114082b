"""Chains of one to three hops that mix protocols and transports (tls, ws/wss, mux, h2c), TCP and
UDP, each hop a gost service of its own: every layer must stack on every other."""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_ws import need_tls  # noqa: E402
from harness import (curl_ok, echo_roundtrip, run, udp_client, udp_roundtrip)  # noqa: E402

SS = "aes-128-gcm:mixed-pass"


def through(o, entry, tag):
    curl_ok("-x", f"http://{entry}", o.url(f"/{tag}"), want_body=o.body(f"/{tag}"))
    curl_ok("-p", "-x", f"http://{entry}", o.url(f"/{tag}-tun"), want_body=o.body(f"/{tag}-tun"))


def case_http_relay_mwss_socks5_tls(t):
    """The chain from the issue: http -> relay+mwss -> socks5+tls -> target."""
    need_tls(t)
    o = t.origin()
    c = t.gost("-L", "socks5+tls://127.0.0.1:0", name="hop-socks5-tls")
    b = t.gost("-L", "relay+mwss://127.0.0.1:0", name="hop-relay-mwss")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"relay+mwss://{b.hostport()}",
               "-F", f"socks5+tls://{c.hostport()}", name="entry")
    through(o, e.hostport(), "a")


def case_three_hops_h2c_ws_tls(t):
    need_tls(t)
    o = t.origin()
    c = t.gost("-L", "relay+tls://127.0.0.1:0", name="hop-relay-tls")
    b = t.gost("-L", "socks5+ws://127.0.0.1:0", name="hop-socks5-ws")
    a = t.gost("-L", "http+h2c://127.0.0.1:0", name="hop-http-h2c")
    e = t.gost("-L", "socks5://127.0.0.1:0", "-F", f"http+h2c://{a.hostport()}",
               "-F", f"socks5+ws://{b.hostport()}", "-F", f"relay+tls://{c.hostport()}", name="entry")
    curl_ok("--socks5-hostname", e.hostport(), o.url("/h3"), want_body=o.body("/h3"))


def case_relay_wss_forward_target(t):
    """-L relay+wss://:P/target: the relay server ignores the asked address and forwards."""
    need_tls(t)
    echo = t.tcp_echo()
    r = t.gost("-L", f"relay+wss://127.0.0.1:0/127.0.0.1:{echo.port}", name="relay-fwd")
    # The entry asks for a port nobody listens on; the relay's forward target answers.
    e = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9", "-F", f"relay+wss://{r.hostport()}", name="entry")
    echo_roundtrip(e.port(), b"through relay+wss to its forward target\n")


def case_ss_over_mtls_and_ws(t):
    need_tls(t)
    o = t.origin()
    b = t.gost("-L", f"ss+ws://{SS}@127.0.0.1:0", name="hop-ss-ws")
    a = t.gost("-L", f"ss+mtls://{SS}@127.0.0.1:0", name="hop-ss-mtls")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"ss+mtls://{SS}@{a.hostport()}",
               "-F", f"ss+ws://{SS}@{b.hostport()}", name="entry")
    through(o, e.hostport(), "ss")


def case_udp_through_relay_mwss_and_socks5_tls(t):
    need_tls(t)
    echo = t.udp_echo()
    b = t.gost("-L", "socks5+tls://127.0.0.1:0?udp=true", name="hop-socks5-tls")
    a = t.gost("-L", "relay+mwss://127.0.0.1:0?bind=true", name="hop-relay-mwss")
    e = t.gost("-L", f"udp://127.0.0.1:0/127.0.0.1:{echo.port}", "-F", f"relay+mwss://{a.hostport()}",
               "-F", f"socks5+tls://{b.hostport()}", name="entry")
    s = udp_client()
    try:
        for i in range(5):
            udp_roundtrip(s, e.port(), f"datagram {i} through relay+mwss and socks5+tls".encode())
    finally:
        s.close()


def case_auto_over_tls_with_http2_hop(t):
    need_tls(t)
    o = t.origin()
    a = t.gost("-L", "http2://127.0.0.1:0", name="hop-http2")
    front = t.gost("-L", "tls://127.0.0.1:0", "-F", f"http2://{a.hostport()}", name="front-auto-tls")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5+tls://{front.hostport()}", name="entry")
    through(o, e.hostport(), "auto")


if __name__ == "__main__":
    run([v for k, v in sorted(globals().items()) if k.startswith("case_")])

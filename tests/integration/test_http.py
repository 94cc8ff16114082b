"""curl through the gost HTTP proxy handler: absolute-URI, CONNECT, auth, keep-alive, bypass."""

import base64
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Skip, check, check_eq, connect, curl, curl_ok, dead_port,  # noqa: E402
                     have_ipv6, http_request, read_http_head, run, wait_until)


def case_http_absolute_uri(t):
    o = t.origin()
    g = t.gost("-L", "http://127.0.0.1:0")
    curl_ok("-x", f"http://{g.hostport()}", o.url("/abs"), want_body=o.body("/abs"))
    reqs = o.requests
    check_eq(len(reqs), 1, "requests seen by the origin")
    # The proxy must rewrite the absolute URI to origin-form for the origin server.
    check_eq(reqs[0][1], "/abs", "request path at the origin")


def case_http_connect(t):
    o = t.origin()
    g = t.gost("-L", "http://127.0.0.1:0")
    r = curl_ok("-p", "-x", f"http://{g.hostport()}", o.url("/tunnel"), want_body=o.body("/tunnel"))
    check_eq(r.connect_code, 200, "CONNECT status")


def case_http_auth_right(t):
    o = t.origin()
    g = t.gost("-L", "http://alice:s3cret@127.0.0.1:0")
    curl_ok("-x", f"http://alice:s3cret@{g.hostport()}", o.url("/a"), want_body=o.body("/a"))
    hdrs = {k.lower() for k in o.requests[0][2]}
    check("proxy-authorization" not in hdrs, "Proxy-Authorization was forwarded to the origin")
    r = curl_ok("-p", "-x", f"http://alice:s3cret@{g.hostport()}", o.url("/b"),
                want_body=o.body("/b"))
    check_eq(r.connect_code, 200, "CONNECT status")


def case_http_auth_wrong(t):
    o = t.origin()
    g = t.gost("-L", "http://alice:s3cret@127.0.0.1:0")
    r = curl("-x", f"http://alice:wrong@{g.hostport()}", o.url("/a"))
    check_eq(r.code, 407, f"status with a wrong password ({r!r})")
    r = curl("-p", "-x", f"http://alice:wrong@{g.hostport()}", o.url("/b"))
    check(r.rc != 0, f"CONNECT with a wrong password succeeded: {r!r}")
    check_eq(r.connect_code, 407, f"CONNECT status with a wrong password ({r!r})")
    r = curl("-x", f"http://bob:s3cret@{g.hostport()}", o.url("/c"))
    check_eq(r.code, 407, f"status with a wrong user ({r!r})")
    check_eq(len(o.requests), 0, "requests that reached the origin")


def case_http_auth_missing_challenge(t):
    o = t.origin()
    g = t.gost("-L", "http://alice:s3cret@127.0.0.1:0")
    st, hdrs, _ = http_request(g.port(), f"GET {o.url('/x')} HTTP/1.1\r\nHost: {o.addr}\r\n\r\n"
                               .encode())
    check_eq(st, 407, "status without credentials")
    check("basic" in hdrs.get("proxy-authenticate", "").lower(),
          f"407 without a Basic Proxy-Authenticate challenge: {hdrs}")
    st, _, _ = http_request(g.port(), f"CONNECT {o.addr} HTTP/1.1\r\nHost: {o.addr}\r\n\r\n"
                            .encode())
    check_eq(st, 407, "CONNECT status without credentials")
    check_eq(len(o.requests), 0, "requests that reached the origin")


def case_http_auth_query_base64(t):
    # GOST accepts ?auth=base64(user:pass) as an alternative to URL userinfo.
    o = t.origin()
    tok = base64.b64encode(b"carol:pw").decode()
    g = t.gost("-L", f"http://127.0.0.1:0?auth={tok}")
    curl_ok("-x", f"http://carol:pw@{g.hostport()}", o.url(), want_body=o.body())
    r = curl("-x", f"http://carol:nope@{g.hostport()}", o.url())
    check_eq(r.code, 407, "status with a wrong password")


def case_http_two_requests_one_connection_absolute(t):
    o = t.origin()
    g = t.gost("-L", "http://127.0.0.1:0")
    r = curl("-v", "-x", f"http://{g.hostport()}", o.url("/one"), o.url("/two"))
    check(r.rc == 0 and [c[0] for c in r.codes] == [200, 200], f"two requests: {r!r}")
    check_eq(r.out, [o.body("/one"), o.body("/two")], "bodies")
    check("Re-using existing connection" in r.err or "Reusing existing connection" in r.err,
          "curl did not reuse its proxy connection for the second request (keep-alive broken)")


def case_http_two_requests_one_connection_connect(t):
    o = t.origin()
    g = t.gost("-L", "http://127.0.0.1:0")
    r = curl("-p", "-x", f"http://{g.hostport()}", o.url("/one"), o.url("/two"))
    check(r.rc == 0 and [c[0] for c in r.codes] == [200, 200], f"two requests: {r!r}")
    check_eq(r.out, [o.body("/one"), o.body("/two")], "bodies")
    check_eq(o.connections, 1, "origin connections (one tunnel carries both requests)")


def case_http_post_and_large_body(t):
    o = t.origin()
    g = t.gost("-L", "http://127.0.0.1:0")
    data = "d" * 300000
    path = t.write("post.txt", data)
    for mode in ([], ["-p"]):
        r = curl(*mode, "-x", f"http://{g.hostport()}", "--data-binary", f"@{path}", o.url("/p"))
        check(r.rc == 0 and r.code == 200, f"POST {mode}: {r!r}")
        check_eq(len(r.out[0]), len("echo:") + len(data), f"echoed POST length {mode}")
        r = curl(*mode, "-x", f"http://{g.hostport()}", o.url("/big/2000000"))
        check(r.rc == 0 and r.code == 200, f"large GET {mode}: {r!r}")
        check_eq(len(r.out[0]), 2000000, f"large body length {mode}")


def case_http_connect_target_writes_after_client_closed(t):
    # The target answers after the client has gone: gost's writes to the closed client fail
    # (RST, then EPIPE) and gost must survive.
    srv = t.late_reply()
    g = t.gost("-L", "http://127.0.0.1:0")
    for i in range(3):
        with connect(g.port()) as s:
            s.sendall(f"CONNECT {srv.addr} HTTP/1.1\r\nHost: {srv.addr}\r\n\r\n".encode())
            st, _, _ = read_http_head(s)
            check_eq(st, 200, "CONNECT status")
            s.sendall(b"hello\n")
        wait_until(lambda: not g.alive() or srv.finished >= i + 1, 10,
                   what="the target to finish its late reply")
        check(g.alive(), f"gost died after its client closed (rc={g.p.returncode}; "
                         "-13 = SIGPIPE)")
    o = t.origin()
    curl_ok("-x", f"http://{g.hostport()}", o.url(), want_body=o.body())


def case_http_dead_target(t):
    port = dead_port()
    g = t.gost("-L", "http://127.0.0.1:0")
    r = curl("-p", "-x", f"http://{g.hostport()}", f"http://127.0.0.1:{port}/")
    check(r.rc != 0 and 500 <= r.connect_code < 600,
          f"CONNECT to a dead port should fail with 5xx: {r!r}")
    r = curl("-x", f"http://{g.hostport()}", f"http://127.0.0.1:{port}/")
    check(500 <= r.code < 600, f"GET to a dead port should give 5xx: {r!r}")
    # The service still works afterwards.
    o = t.origin()
    curl_ok("-x", f"http://{g.hostport()}", o.url(), want_body=o.body())


def case_http_bypass_refused(t):
    o = t.origin()
    g = t.gost("-L", "http://127.0.0.1:0?bypass=127.0.0.2")
    # The refused target is never dialed, so no traffic leaves loopback 127.0.0.1.
    r = curl("-x", f"http://{g.hostport()}", f"http://127.0.0.2:{o.port}/")
    check_eq(r.code, 403, f"absolute-URI to a bypassed target ({r!r})")
    r = curl("-p", "-x", f"http://{g.hostport()}", f"http://127.0.0.2:{o.port}/")
    check(r.rc != 0, "CONNECT to a bypassed target succeeded")
    check_eq(r.connect_code, 403, f"CONNECT to a bypassed target ({r!r})")
    curl_ok("-x", f"http://{g.hostport()}", o.url(), want_body=o.body())


def case_http_bypass_whitelist(t):
    o = t.origin()
    g = t.gost("-L", f"http://127.0.0.1:0?bypass=~127.0.0.1:{o.port}")
    curl_ok("-x", f"http://{g.hostport()}", o.url(), want_body=o.body())
    other = t.origin(tag="o2")
    r = curl("-x", f"http://{g.hostport()}", other.url())
    check_eq(r.code, 403, f"target outside a whitelist bypass ({r!r})")
    check_eq(other.connections, 0, "connections to the non-whitelisted origin")


def case_http_ipv6_loopback(t):
    if not have_ipv6():
        raise Skip("no ::1 in this sandbox")
    o = t.origin()
    g = t.gost("-L", "http://[::1]:0")
    curl_ok("-x", f"http://[::1]:{g.port()}", o.url(), want_body=o.body())
    curl_ok("-p", "-x", f"http://[::1]:{g.port()}", o.url(), want_body=o.body())


CASES = [
    case_http_absolute_uri,
    case_http_connect,
    case_http_auth_right,
    case_http_auth_wrong,
    case_http_auth_missing_challenge,
    case_http_auth_query_base64,
    case_http_two_requests_one_connection_absolute,
    case_http_two_requests_one_connection_connect,
    case_http_post_and_large_body,
    case_http_connect_target_writes_after_client_closed,
    case_http_dead_target,
    case_http_bypass_refused,
    case_http_bypass_whitelist,
    case_http_ipv6_loopback,
]

if __name__ == "__main__":
    run(CASES)

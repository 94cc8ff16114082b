"""TLS transport: HTTPS proxy with curl, openssl s_client against our tls listener, our tls
dialer against openssl s_server (verification, serverName, mutual TLS), chains with tls hops."""

import os
import select
import socket
import ssl
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Failure, Peer, Skip, _start_with_port, check, check_eq, curl,  # noqa: E402
                     curl_ok, echo_roundtrip, need, run, which)


def make_cert(t, name, cn="127.0.0.1", days=2):
    """A self-signed certificate (also usable as its own CA) made with the openssl CLI."""
    need("openssl")
    cert = os.path.join(t.tmp(), f"{name}.pem")
    key = os.path.join(t.tmp(), f"{name}.key")
    san = f"IP:{cn}" if cn.replace(".", "").isdigit() else f"DNS:{cn}"
    r = subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-days", str(days), "-subj",
                        f"/CN={cn}", "-addext", f"subjectAltName={san}", "-keyout", key,
                        "-out", cert], capture_output=True, timeout=30)
    if r.returncode != 0:
        raise Skip(f"openssl CLI cannot make a certificate: {r.stderr[-300:]!r}")
    return cert, key


def s_client_roundtrip(port, payload, extra=(), timeout=15):
    """openssl s_client to 127.0.0.1:port: sends payload, returns (rc-or-None, stdout bytes) once
    len(payload) bytes came back or the client exited."""
    need("openssl")
    argv = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-quiet"] + list(extra)
    p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE)
    out = b""
    try:
        p.stdin.write(payload)
        p.stdin.flush()
        deadline = time.monotonic() + timeout
        while len(out) < len(payload) and time.monotonic() < deadline:
            r, _, _ = select.select([p.stdout], [], [], 0.2)
            if r:
                chunk = os.read(p.stdout.fileno(), 65536)
                if not chunk:
                    break
                out += chunk
            elif p.poll() is not None:
                break
    finally:
        rc = p.poll()
        if rc is None:
            p.kill()
        p.wait(10)
        err = p.stderr.read().decode("utf-8", "replace")
    return rc, out, err


def start_s_server(t, cert, key, extra=()):
    """openssl s_server in -rev mode (answers each line reversed) on a free loopback port."""
    need("openssl")

    def make(port):
        argv = [which("openssl"), "s_server", "-accept", f"127.0.0.1:{port}", "-cert", cert,
                "-key", key, "-rev", "-quiet"] + list(extra)
        p = Peer(argv, "s_server", port)
        t.defer(lambda: p.stop(5))
        return p

    return _start_with_port(make, "openssl s_server")


def rev_roundtrip(port, line=b"hello tls\n", timeout=10):
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(line)
        got = b""
        deadline = time.monotonic() + timeout
        while not got.endswith(b"\n") and time.monotonic() < deadline:
            try:
                d = s.recv(4096)
            except ConnectionResetError:
                break
            if not d:
                break
            got += d
        return got


def case_https_proxy_curl(t):
    o = t.origin()
    g = t.gost("-L", "https://127.0.0.1:0")
    for i in range(3):
        curl_ok("--proxy", f"https://127.0.0.1:{g.port()}", "--proxy-insecure", o.url(f"/p{i}"),
                want_body=o.body(f"/p{i}"))


def case_tls_scheme_alone_is_auto_handler(t):
    """-L tls://addr (no forward path) is auto+tls: an HTTPS proxy for curl."""
    o = t.origin()
    g = t.gost("-L", "tls://127.0.0.1:0")
    curl_ok("--proxy", f"https://127.0.0.1:{g.port()}", "--proxy-insecure", o.url("/auto"),
            want_body=o.body("/auto"))


def case_https_proxy_own_cert_secure_curl(t):
    cert, key = make_cert(t, "srv")
    o = t.origin()
    g = t.gost("-L", f"https://127.0.0.1:0?cert={cert}&key={key}")
    curl_ok("--proxy", f"https://127.0.0.1:{g.port()}", "--proxy-cacert", cert, o.url("/s"),
            want_body=o.body("/s"))
    # Without --proxy-insecure or the CA, curl must refuse the certificate.
    r = curl("--proxy", f"https://127.0.0.1:{g.port()}", o.url("/x"))
    check(r.rc != 0, f"curl accepted an untrusted proxy certificate: {r!r}")


def case_s_client_against_tls_forward(t):
    e = t.tcp_echo()
    g = t.gost("-L", f"tls://127.0.0.1:0/{e.addr}")
    payload = b"through a tls channel\n" * 50
    rc, out, err = s_client_roundtrip(g.port(), payload, ["-servername", "gost.test"])
    check_eq(out, payload, f"echo through s_client (rc={rc}, stderr={err[-300:]!r})")


def case_forward_tls_listener_python_ssl(t):
    e = t.tcp_echo()
    g = t.gost("-L", f"forward+tls://127.0.0.1:0/{e.addr}")
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    data = os.urandom(1 << 20)
    with socket.create_connection(("127.0.0.1", g.port()), timeout=20) as raw:
        with ctx.wrap_socket(raw, server_hostname="gost.test") as s:
            s.sendall(data)
            got = b""
            while len(got) < len(data):
                d = s.recv(65536)
                if not d:
                    break
                got += d
    check(got == data, f"echoed {len(got)} of {len(data)} bytes, or different bytes")


def case_mtls_listener(t):
    srv_cert, srv_key = make_cert(t, "srv")
    cli_cert, cli_key = make_cert(t, "cli", cn="client")
    other_cert, other_key = make_cert(t, "other", cn="other")
    e = t.tcp_echo()
    g = t.gost("-L", f"tls://127.0.0.1:0/{e.addr}?cert={srv_cert}&key={srv_key}&ca={cli_cert}")
    payload = b"mutual\n"
    rc, out, err = s_client_roundtrip(g.port(), payload, ["-cert", cli_cert, "-key", cli_key])
    check_eq(out, payload, f"echo with the client certificate (stderr={err[-300:]!r})")
    rc, out, err = s_client_roundtrip(g.port(), payload, timeout=5)
    check(out != payload, "the listener accepted a client without a certificate")
    rc, out, err = s_client_roundtrip(g.port(), payload, ["-cert", other_cert, "-key", other_key],
                                      timeout=5)
    check(out != payload, "the listener accepted a client certificate from another CA")


def case_tls_dialer_against_s_server(t):
    cert, key = make_cert(t, "srv")
    srv = start_s_server(t, cert, key)
    g = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9", "-F", f"forward+tls://{srv.addr}")
    check_eq(rev_roundtrip(g.port(), b"abc\n"), b"cba\n", "reversed line through the tls dialer")


def case_tls_dialer_secure(t):
    cert, key = make_cert(t, "srv", cn="gost.test")
    other, _ = make_cert(t, "other", cn="gost.test")
    srv = start_s_server(t, cert, key)
    ok = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9", "-F",
                f"forward+tls://{srv.addr}?secure=true&ca={cert}&serverName=gost.test",
                name="secure-ok")
    check_eq(rev_roundtrip(ok.port(), b"xyz\n"), b"zyx\n", "secure dial with the right CA")
    bad_ca = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9", "-F",
                    f"forward+tls://{srv.addr}?secure=true&ca={other}&serverName=gost.test",
                    name="wrong-ca")
    check_eq(rev_roundtrip(bad_ca.port(), b"xyz\n", timeout=5), b"", "secure dial, wrong CA")
    bad_name = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9", "-F",
                      f"forward+tls://{srv.addr}?secure=true&ca={cert}&serverName=wrong.test",
                      name="wrong-name")
    check_eq(rev_roundtrip(bad_name.port(), b"xyz\n", timeout=5), b"", "secure dial, wrong name")


def case_tls_dialer_mtls_s_server(t):
    cert, key = make_cert(t, "srv")
    cli_cert, cli_key = make_cert(t, "cli", cn="client")
    srv = start_s_server(t, cert, key, ["-Verify", "1", "-CAfile", cli_cert])
    g = t.gost("-L", "tcp://127.0.0.1:0/127.0.0.1:9", "-F",
               f"forward+tls://{srv.addr}?cert={cli_cert}&key={cli_key}")
    check_eq(rev_roundtrip(g.port(), b"mtls\n"), b"sltm\n", "through s_server requiring a cert")


def case_chain_http_socks5_tls(t):
    o = t.origin()
    a = t.gost("-L", "socks5+tls://127.0.0.1:0", name="hop-tls")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5+tls://{a.hostport()}", name="entry")
    for i in range(3):
        curl_ok("-x", f"http://{e.hostport()}", o.url(f"/c{i}"), want_body=o.body(f"/c{i}"))


def case_chain_two_tls_hops(t):
    o = t.origin()
    b = t.gost("-L", "http+tls://127.0.0.1:0", name="hop-b")
    a = t.gost("-L", "socks5+tls://127.0.0.1:0", name="hop-a")
    e = t.gost("-L", "http://127.0.0.1:0", "-F", f"socks5+tls://{a.hostport()}",
               "-F", f"http+tls://{b.hostport()}", name="entry")
    curl_ok("-x", f"http://{e.hostport()}", o.url("/two"), want_body=o.body("/two"))


def case_slow_client_does_not_stall_accept(t):
    e = t.tcp_echo()
    g = t.gost("-L", f"forward+tls://127.0.0.1:0/{e.addr}")
    idle = [socket.create_connection(("127.0.0.1", g.port()), timeout=5) for _ in range(5)]
    try:
        rc, out, err = s_client_roundtrip(g.port(), b"still served\n")
        check_eq(out, b"still served\n", f"echo while 5 clients stall (stderr={err[-200:]!r})")
    finally:
        for s in idle:
            s.close()


def case_config_tls_blocks(t):
    """YAML: a listener tls block (mutual TLS), the top-level default certificate, a dialer tls
    block with secure/serverName/caFile; then -O output loads back."""
    srv_cert, srv_key = make_cert(t, "srv", cn="gost.test")
    def_cert, def_key = make_cert(t, "def", cn="default.test")
    cli_cert, cli_key = make_cert(t, "cli", cn="client")
    e = t.tcp_echo()
    cfg = t.write("server.yaml", f"""
tls: {{certFile: {def_cert}, keyFile: {def_key}}}
services:
- name: mtls
  addr: 127.0.0.1:0
  handler: {{type: forward}}
  listener: {{type: tls, tls: {{certFile: {srv_cert}, keyFile: {srv_key}, caFile: {cli_cert}}}}}
  forwarder: {{nodes: [{{name: echo, addr: "{e.addr}"}}]}}
- name: default-cert
  addr: 127.0.0.1:0
  handler: {{type: forward}}
  listener: {{type: tls}}
  forwarder: {{nodes: [{{name: echo, addr: "{e.addr}"}}]}}
""")
    g = t.gost("-C", cfg, services=2)
    ports = [g.port(0), g.port(1)]
    # The service with its own tls block wants a client certificate.
    rc, out, err = s_client_roundtrip(ports[0], b"m\n", ["-cert", cli_cert, "-key", cli_key])
    check_eq(out, b"m\n", f"mtls service with a client certificate ({err[-200:]!r})")
    rc, out, err = s_client_roundtrip(ports[0], b"m\n", timeout=5)
    check(out != b"m\n", "mtls service accepted a client without a certificate")
    # The other one serves the top-level default certificate: a secure dialer trusting it works.
    client = t.write("client.yaml", f"""
services:
- name: entry
  addr: 127.0.0.1:0
  handler: {{type: forward, chain: c}}
  listener: {{type: tcp}}
  forwarder: {{nodes: [{{name: any, addr: "127.0.0.1:9"}}]}}
chains:
- name: c
  hops:
  - name: h
    nodes:
    - name: n
      addr: 127.0.0.1:{ports[1]}
      connector: {{type: forward}}
      dialer: {{type: tls, tls: {{secure: true, serverName: default.test, caFile: {def_cert}}}}}
""")
    c = t.gost("-C", client, name="client")
    echo_roundtrip(c.port(), b"default certificate, verified\n")
    # -O prints the configuration; it must load again and work the same.
    r = subprocess.run([t.gost_bin, "-C", client, "-O", "yaml"], capture_output=True, timeout=30)
    check(r.returncode == 0, f"-O failed: {r.stderr[-300:]!r}")
    out_cfg = r.stdout.decode()
    check("secure: true" in out_cfg and "default.test" in out_cfg and def_cert in out_cfg,
          f"-O output lost the dialer tls block:\n{out_cfg}")
    again = t.write("again.yaml", out_cfg)
    c2 = t.gost("-C", again, name="client-again")
    echo_roundtrip(c2.port(), b"round trip\n")


CASES = [
    case_https_proxy_curl,
    case_tls_scheme_alone_is_auto_handler,
    case_https_proxy_own_cert_secure_curl,
    case_s_client_against_tls_forward,
    case_forward_tls_listener_python_ssl,
    case_mtls_listener,
    case_tls_dialer_against_s_server,
    case_tls_dialer_secure,
    case_tls_dialer_mtls_s_server,
    case_chain_http_socks5_tls,
    case_chain_two_tls_hops,
    case_slow_client_does_not_stall_accept,
    case_config_tls_blocks,
]

if __name__ == "__main__":
    run(CASES)

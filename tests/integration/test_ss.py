"""Shadowsocks: interop with shadowsocks-libev in both directions for every AEAD cipher (TCP with
curl, UDP with a real echo), the 2022 edition with several users, ssu over a stream, chains,
replayed / tampered / garbage streams (never answered), and the -L ss://.../target forward form."""

import base64
import os
import socket
import sys
import threading
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (LOOPBACK, Failure, Peer, Skip, Socks5Udp, _start_with_port,  # noqa: E402
                     check, check_eq, connect, curl_ok, curl, echo_roundtrip, free_port, need,
                     run, which)

AEAD = ["aes-128-gcm", "aes-256-gcm", "chacha20-ietf-poly1305"]
PSK16 = base64.b64encode(bytes(range(16))).decode()
PSK32 = base64.b64encode(bytes(range(32))).decode()
USER_A = base64.b64encode(bytes(range(16, 32))).decode()
USER_B = base64.b64encode(bytes(range(32, 48))).decode()


def q(s):
    return urllib.parse.quote(s, safe="")


def ss_local(t, server_port, method, password="pass", udp=False):
    need("ss-local")

    def make(port):
        argv = [which("ss-local"), "-s", LOOPBACK, "-p", str(server_port), "-b", LOOPBACK,
                "-l", str(port), "-k", password, "-m", method]
        if udp:
            argv.append("-u")
        return Peer(argv, "ss-local", port)

    p = _start_with_port(make, "ss-local")
    t.defer(lambda: p.stop(5))
    return p


def ss_server(t, method, password="pass"):
    need("ss-server")

    def make(port):
        argv = [which("ss-server"), "-s", LOOPBACK, "-p", str(port), "-k", password, "-m",
                method, "-u"]
        return Peer(argv, "ss-server", port)

    p = _start_with_port(make, "ss-server")
    t.defer(lambda: p.stop(5))
    return p


def udp_roundtrip(port, payload, host=LOOPBACK, timeout=5.0, tries=3):
    """Sends payload to host:port over UDP and waits for the same bytes back (a few tries)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout / tries)
        for _ in range(tries):
            s.sendto(payload, (host, port))
            try:
                d, _ = s.recvfrom(65536)
            except socket.timeout:
                continue
            check_eq(d, payload, "udp echo")
            return
    raise Failure(f"no UDP echo through 127.0.0.1:{port}")


def gost_ss_server(t, method, password="pass", extra="", udp=True):
    """gost serving ss (TCP) and, on the same port, ssu (UDP)."""
    for _ in range(3):
        port = free_port()
        args = ["-L", f"ss://{method}:{q(password)}@{LOOPBACK}:{port}{extra}"]
        if udp:
            args += ["-L", f"ssu://{method}:{q(password)}@{LOOPBACK}:{port}{extra}"]
        try:
            return t.gost(*args, services=len(args) // 2), port
        except Failure:
            continue
    raise Failure("gost ss server did not start")


def make_libev_to_gost(method):
    def case(t):
        o = t.origin()
        e = t.udp_echo()
        g, port = gost_ss_server(t, method)
        sl = ss_local(t, port, method, udp=True)
        for _ in range(3):
            curl_ok("-x", f"socks5h://{sl.addr}", o.url(), want_body=o.body())
        big = curl("-x", f"socks5h://{sl.addr}", o.url("/big/3000000"))
        check(big.rc == 0 and big.code == 200, f"large download failed: {big!r}")
        u = Socks5Udp(sl.port)
        try:
            check_eq(u.rep, 0, "ss-local UDP ASSOCIATE reply")
            for i in range(3):
                payload = f"ping {i} via {method}".encode()
                got = None
                for _ in range(3):
                    u.send(LOOPBACK, e.port, payload)
                    got = u.recv(2.0)
                    if got:
                        break
                check(got is not None, "no UDP echo through ss-local -> gost ssu")
                check_eq(got[2], payload, "UDP echo payload")
                check_eq(got[1], e.port, "UDP echo source port")
        finally:
            u.close()
    case.__name__ = f"case_libev_local_to_gost_{method.replace('-', '_')}"
    return case


def make_gost_to_libev(method):
    def case(t):
        o = t.origin()
        e = t.udp_echo()
        srv = ss_server(t, method)
        g = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F", f"ss://{method}:pass@{srv.addr}")
        for _ in range(3):
            curl_ok("-x", f"socks5h://{g.hostport()}", o.url(), want_body=o.body())
        big = curl("-x", f"socks5h://{g.hostport()}", o.url("/big/3000000"))
        check(big.rc == 0 and big.code == 200, f"large download failed: {big!r}")
        # UDP: a local UDP port forwarded to the echo through ss-server (ssu over UDP).
        gu = t.gost("-L", f"udp://{LOOPBACK}:0/{e.addr}", "-F",
                    f"ssu://{method}:pass@{srv.addr}")
        for i in range(3):
            udp_roundtrip(gu.port(), f"dgram {i} {method}".encode())
    case.__name__ = f"case_gost_to_libev_server_{method.replace('-', '_')}"
    return case


def case_sip002_userinfo(t):
    o = t.origin()
    srv = ss_server(t, "aes-256-gcm", "p@ss:word")
    ui = base64.urlsafe_b64encode(b"aes-256-gcm:p@ss:word").decode().rstrip("=")
    g = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F", f"ss://{ui}@{srv.addr}")
    curl_ok("-x", f"socks5h://{g.hostport()}", o.url(), want_body=o.body())


def case_2022_several_users(t):
    o = t.origin()
    users = f"alice:{USER_A},bob:{USER_B}"
    srv = t.gost("-L", f"ss://2022-blake3-aes-128-gcm:{q(PSK16)}@{LOOPBACK}:0?users={q(users)}")
    for upsk in (USER_A, USER_B):
        c = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F",
                   f"ss://2022-blake3-aes-128-gcm:{q(PSK16 + ':' + upsk)}@{srv.hostport()}")
        curl_ok("-x", f"socks5h://{c.hostport()}", o.url(), want_body=o.body())
        big = curl("-x", f"socks5h://{c.hostport()}", o.url("/big/2000000"))
        check(big.rc == 0 and big.code == 200, f"large download failed: {big!r}")
    # A user the server does not know gets nothing.
    stranger = base64.b64encode(bytes(range(100, 116))).decode()
    c = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F",
               f"ss://2022-blake3-aes-128-gcm:{q(PSK16 + ':' + stranger)}@{srv.hostport()}")
    r = curl("-x", f"socks5h://{c.hostport()}", "-m", "3", o.url())
    check(r.rc != 0 or r.code != 200, f"unknown user was served: {r!r}")


def case_2022_aes256_single_key(t):
    o = t.origin()
    srv = t.gost("-L", f"ss://2022-blake3-aes-256-gcm:{q(PSK32)}@{LOOPBACK}:0")
    c = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F",
               f"ss://2022-blake3-aes-256-gcm:{q(PSK32)}@{srv.hostport()}")
    curl_ok("-x", f"socks5h://{c.hostport()}", o.url(), want_body=o.body())


def case_ssu_over_stream(t):
    e = t.udp_echo()
    for method, pw in (("chacha20-ietf-poly1305", "pass"), ("2022-blake3-aes-128-gcm", PSK16)):
        srv = t.gost("-L", f"ssu+tcp://{method}:{q(pw)}@{LOOPBACK}:0")
        c = t.gost("-L", f"udp://{LOOPBACK}:0/{e.addr}", "-F",
                   f"ssu+tcp://{method}:{q(pw)}@{srv.hostport()}")
        for i in range(3):
            udp_roundtrip(c.port(), f"tun {i} {method}".encode())


def case_2022_udp_with_users(t):
    e = t.udp_echo()
    users = f"alice:{USER_A},bob:{USER_B}"
    srv = t.gost("-L", f"ssu://2022-blake3-aes-128-gcm:{q(PSK16)}@{LOOPBACK}:0?users={q(users)}")
    for upsk in (USER_A, USER_B):
        c = t.gost("-L", f"udp://{LOOPBACK}:0/{e.addr}", "-F",
                   f"ssu://2022-blake3-aes-128-gcm:{q(PSK16 + ':' + upsk)}@{srv.hostport()}")
        for i in range(3):
            udp_roundtrip(c.port(), f"2022 dgram {i}".encode())


def case_over_websocket(t):
    """ss and ssu over another transport (ws; the CLI falls back to tcp where ws is not built)."""
    o = t.origin()
    e = t.udp_echo()
    srv = t.gost("-L", f"ss+ws://aes-256-gcm:pass@{LOOPBACK}:0")
    c = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F", f"ss+ws://aes-256-gcm:pass@{srv.hostport()}")
    curl_ok("-x", f"socks5h://{c.hostport()}", o.url(), want_body=o.body())
    big = curl("-x", f"socks5h://{c.hostport()}", o.url("/big/1000000"))
    check(big.rc == 0 and big.code == 200, f"large download failed: {big!r}")
    su = t.gost("-L", f"ssu+ws://2022-blake3-aes-128-gcm:{q(PSK16)}@{LOOPBACK}:0")
    cu = t.gost("-L", f"udp://{LOOPBACK}:0/{e.addr}", "-F",
                f"ssu+ws://2022-blake3-aes-128-gcm:{q(PSK16)}@{su.hostport()}")
    for i in range(3):
        udp_roundtrip(cu.port(), f"ws dgram {i}".encode())


def case_chain_of_two_ss_hops(t):
    o = t.origin()
    h2 = t.gost("-L", f"ss://aes-128-gcm:two@{LOOPBACK}:0")
    h1 = t.gost("-L", f"ss://chacha20-ietf-poly1305:one@{LOOPBACK}:0")
    c = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F",
               f"ss://chacha20-ietf-poly1305:one@{h1.hostport()}", "-F",
               f"ss://aes-128-gcm:two@{h2.hostport()}")
    curl_ok("-x", f"socks5h://{c.hostport()}", o.url(), want_body=o.body())


def case_forward_path(t):
    e = t.tcp_echo()
    g = t.gost("-L", f"ss://aes-128-gcm:pass@{LOOPBACK}:0/{e.addr}")
    echo_roundtrip(g.port(), b"forwarded\n")


class Recorder:
    """A TCP relay that keeps what the first client sent."""

    def __init__(self, upstream_port):
        self.up = upstream_port
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.sent = bytearray()
        self.done = threading.Event()
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        c, _ = self.sock.accept()
        u = socket.create_connection((LOOPBACK, self.up))

        def pump(a, b, keep):
            try:
                while True:
                    d = a.recv(65536)
                    if not d:
                        break
                    if keep:
                        self.sent.extend(d)
                    b.sendall(d)
                b.shutdown(socket.SHUT_WR)
            except OSError:
                pass

        th = threading.Thread(target=pump, args=(u, c, False), daemon=True)
        th.start()
        pump(c, u, True)
        th.join(10)
        c.close()
        u.close()
        self.done.set()

    def close(self):
        self.sock.close()


def silent_for(port, data, seconds):
    """Sends data; checks the server neither answers nor closes for `seconds`."""
    s = connect(port)
    try:
        s.sendall(data)
        s.settimeout(seconds)
        try:
            d = s.recv(4096)
        except socket.timeout:
            return s
        raise Failure(f"server {'closed at once' if not d else 'answered'}: {d[:40]!r}")
    except Failure:
        s.close()
        raise


def case_replayed_tampered_and_garbage_streams_get_no_answer(t):
    o = t.origin()
    g, port = gost_ss_server(t, "aes-128-gcm", extra="?readTimeout=4s", udp=False)
    rec = Recorder(port)
    t.defer(rec.close)
    sl = ss_local(t, rec.port, "aes-128-gcm")
    curl_ok("-x", f"socks5h://{sl.addr}", o.url(), want_body=o.body())
    check(rec.done.wait(10), "recorded connection did not finish")
    data = bytes(rec.sent)
    check(len(data) > 40, "nothing recorded")
    socks = [silent_for(port, data, 1.5)]                      # replay
    bad = bytearray(data)
    bad[30] ^= 0x01
    socks.append(silent_for(port, bytes(bad), 1.5))            # tampered
    socks.append(silent_for(port, os.urandom(300), 1.5))       # garbage
    # The server gives up (closes) after readTimeout, still without answering.
    for s in socks:
        s.settimeout(10)
        try:
            d = s.recv(4096)
        except (socket.timeout, ConnectionResetError):
            d = b""
        check_eq(d, b"", "what the server sent before closing")
        s.close()
    # A fresh, valid connection still works.
    c = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F", f"ss://aes-128-gcm:pass@{LOOPBACK}:{port}")
    curl_ok("-x", f"socks5h://{c.hostport()}", o.url(), want_body=o.body())


def case_wrong_password_client_gets_nothing(t):
    o = t.origin()
    g, port = gost_ss_server(t, "aes-256-gcm", udp=False)
    c = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F", f"ss://aes-256-gcm:wrong@{LOOPBACK}:{port}")
    r = curl("-x", f"socks5h://{c.hostport()}", "-m", "3", o.url())
    check(r.rc != 0, f"wrong password was served: {r!r}")


class BannerServer:
    """Speaks first: sends a banner on accept, then echoes."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind((LOOPBACK, 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.t = threading.Thread(target=self._run, daemon=True)
        self.t.start()

    def _run(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.sendall(b"220 banner\n")
            while True:
                d = c.recv(4096)
                if not d:
                    break
                c.sendall(d)
        except OSError:
            pass
        c.close()

    def close(self):
        self.sock.close()


def case_server_speaks_first(t):
    b = BannerServer()
    t.defer(b.close)
    srv = ss_server(t, "aes-128-gcm")
    g, port = gost_ss_server(t, "chacha20-ietf-poly1305", udp=False)
    for fwd in (f"ss://aes-128-gcm:pass@{srv.addr}",
                f"ss://chacha20-ietf-poly1305:pass@{LOOPBACK}:{port}"):
        c = t.gost("-L", f"tcp://{LOOPBACK}:0/{LOOPBACK}:{b.port}", "-F", fwd)
        with connect(c.port()) as s:
            s.settimeout(5)
            got = b""
            while len(got) < 11:
                d = s.recv(100)
                check(d, "closed before the banner")
                got += d
            check_eq(got, b"220 banner\n", "banner through " + fwd)
            s.sendall(b"after\n")
            got = b""
            while len(got) < 6:
                d = s.recv(100)
                check(d, "closed before the echo")
                got += d
            check_eq(got, b"after\n", "echo")


def case_yaml_config_2022_users(t):
    o = t.origin()
    port = free_port()
    cfg = t.write("ss.yaml", f"""services:
- name: ss2022
  addr: "{LOOPBACK}:{port}"
  handler:
    type: ss
    auth: {{username: 2022-blake3-aes-128-gcm, password: "{PSK16}"}}
    metadata:
      users: {{alice: "{USER_A}", bob: "{USER_B}"}}
  listener: {{type: tcp}}
""")
    t.gost("-C", cfg)
    c = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F",
               f"ss://2022-blake3-aes-128-gcm:{q(PSK16 + ':' + USER_B)}@{LOOPBACK}:{port}")
    curl_ok("-x", f"socks5h://{c.hostport()}", o.url(), want_body=o.body())


def case_method_none(t):
    o = t.origin()
    e = t.udp_echo()
    g, port = gost_ss_server(t, "none", password="x")
    c = t.gost("-L", f"socks5://{LOOPBACK}:0", "-F", f"ss://none:x@{LOOPBACK}:{port}")
    curl_ok("-x", f"socks5h://{c.hostport()}", o.url(), want_body=o.body())
    cu = t.gost("-L", f"udp://{LOOPBACK}:0/{e.addr}", "-F", f"ssu://none:x@{LOOPBACK}:{port}")
    udp_roundtrip(cu.port(), b"clear datagram")


def case_config_errors(t):
    from harness import run_gost_once
    rc, _, err = run_gost_once(t.gost_bin, ["-L", f"ss://{LOOPBACK}:0"], timeout=10)
    check(rc != 0 and "auth" in err, f"ss without method:password: rc={rc} {err[-300:]}")
    rc, _, err = run_gost_once(t.gost_bin, ["-L", f"ss://rc4-md5:x@{LOOPBACK}:0"], timeout=10)
    check(rc != 0 and "rc4-md5" in err, f"unknown method: rc={rc} {err[-300:]}")


CASES = ([make_libev_to_gost(m) for m in AEAD] + [make_gost_to_libev(m) for m in AEAD] + [
    case_sip002_userinfo, case_2022_several_users, case_2022_aes256_single_key,
    case_ssu_over_stream, case_2022_udp_with_users, case_over_websocket,
    case_chain_of_two_ss_hops, case_forward_path,
    case_replayed_tampered_and_garbage_streams_get_no_answer,
    case_wrong_password_client_gets_nothing, case_server_speaks_first,
    case_yaml_config_2022_users, case_method_none, case_config_errors])

if __name__ == "__main__":
    run(CASES)

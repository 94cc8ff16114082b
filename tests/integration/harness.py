"""Shared harness for the gost end-to-end integration tests (Python 3 standard library only).

Every test script builds a list of case functions and calls ``run(cases)``.  Each case gets a
``Case`` object that owns everything the case starts (gost processes, third-party peers, local
servers, temporary files) and tears it down at the end.  Teardown stops every gost with SIGTERM
(by PID), waits for it (bounded) and fails the case if gost exited non-zero or printed a sanitizer
report (ASan, UBSan "runtime error:", LeakSanitizer).

Run one script by hand:  python3 tests/integration/test_http.py --gost build/dev/cli/gost
  [--examples-dir build/dev/examples] [-k <substring of case names>] [-v]
Whole output of a gost that failed a case is saved under $GOST_ITEST_LOGDIR
(default /tmp/gost-itest-logs).

Rules the harness keeps: loopback only (127.0.0.1 / ::1), port 0 wherever the program can bind it,
readiness by log line or by a bounded connect loop (never a blind sleep), every loop bounded in
time and in count.
"""

import argparse
import http.server
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import socketserver
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

LOOPBACK = "127.0.0.1"
READY_TIMEOUT = 30.0  # gost with ASan under a loaded machine may take a while to start
STOP_TIMEOUT = 15.0
SANITIZER_MARKS = ("AddressSanitizer", "runtime error:", "LeakSanitizer", "ThreadSanitizer",
                   "UndefinedBehaviorSanitizer")

# Peers installed by scripts/setup.sh --test.
PEERS = {
    "curl": "curl",
    "microsocks": "microsocks",
    "danted": "danted",
    "tinyproxy": "tinyproxy",
}


class Skip(Exception):
    """Raised by a case when a peer program it needs is absent."""


class Failure(AssertionError):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def check_eq(got, want, what):
    if got != want:
        raise Failure(f"{what}: got {_short(got)}, want {_short(want)}")


def _short(v, n=300):
    s = repr(v)
    return s if len(s) <= n else s[:n] + f"...({len(s)} chars)"


def which(name):
    return shutil.which(PEERS.get(name, name)) or (
        shutil.which(name, path="/usr/sbin:/usr/bin:/sbin:/bin"))


def need(*names):
    for n in names:
        if not which(n):
            raise Skip(f"{n} not installed (scripts/setup.sh --test)")


def wait_until(pred, timeout, interval=0.02, what="condition"):
    """Polls pred() until it returns a truthy value or timeout elapses (bounded count too)."""
    deadline = time.monotonic() + timeout
    max_iter = int(timeout / interval) + 10
    for _ in range(max_iter):
        v = pred()
        if v:
            return v
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    raise Failure(f"timed out after {timeout:.1f}s waiting for {what}")


def free_port(kind=socket.SOCK_STREAM, host=LOOPBACK):
    """A port that was free a moment ago; only for peers that cannot bind port 0."""
    fam = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(fam, kind) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def split_hostport(addr):
    addr = addr.strip()
    if addr.startswith("["):
        host, _, port = addr[1:].partition("]:")
        return host, int(port)
    host, _, port = addr.rpartition(":")
    return host, int(port)


def clean_env(extra=None):
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy",
                                "ftp_proxy", "socks_proxy")}
    env.setdefault("ASAN_OPTIONS", "detect_leaks=1:abort_on_error=0")
    env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    if extra:
        env.update(extra)
    return env


# ------------------------------------------------------------------------------------------------
# Log parsing

_LOGFMT = re.compile(r'([A-Za-z0-9_.\-/]+)=("(?:[^"\\]|\\.)*"|\S*)')


def parse_log_line(line):
    """Parses one logfmt (key=value, values may be quoted) or JSON log line into a dict of str."""
    s = line.strip()
    if s.startswith("{"):
        try:
            d = json.loads(s)
            if isinstance(d, dict):
                return {str(k): (v if isinstance(v, str) else json.dumps(v)) for k, v in d.items()}
        except ValueError:
            pass
    out = {}
    for m in _LOGFMT.finditer(s):
        k, v = m.group(1), m.group(2)
        if v.startswith('"') and v.endswith('"') and len(v) >= 2:
            try:
                v = json.loads(v)
            except ValueError:
                v = v[1:-1]
        out[k] = v
    return out


# ------------------------------------------------------------------------------------------------
# Processes


class Proc:
    """A child process whose stdout/stderr lines are collected by reader threads."""

    def __init__(self, argv, name, env=None, cwd=None, stdin_data=None):
        self.argv = [str(a) for a in argv]
        self.name = name
        self.lines = []  # (stream, text)
        self.cond = threading.Condition()
        self.stopped = False
        self.p = subprocess.Popen(self.argv, stdin=subprocess.PIPE if stdin_data is not None
                                  else subprocess.DEVNULL,
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  env=env if env is not None else clean_env(), cwd=cwd)
        self.pid = self.p.pid
        self._readers = []
        for stream, f in (("stdout", self.p.stdout), ("stderr", self.p.stderr)):
            t = threading.Thread(target=self._read, args=(stream, f), daemon=True)
            t.start()
            self._readers.append(t)
        if stdin_data is not None:
            try:
                self.p.stdin.write(stdin_data.encode() if isinstance(stdin_data, str)
                                   else stdin_data)
                self.p.stdin.close()
            except OSError:
                pass

    def _read(self, stream, f):
        for raw in iter(f.readline, b""):
            with self.cond:
                self.lines.append((stream, raw.decode("utf-8", "replace").rstrip("\n")))
                self.cond.notify_all()
        with self.cond:
            self.cond.notify_all()

    def text(self, stream=None):
        with self.cond:
            return "\n".join(t for s, t in self.lines if stream is None or s == stream)

    def tail(self, n=40, stream=None):
        with self.cond:
            sel = [t for s, t in self.lines if stream is None or s == stream]
        return "\n".join(sel[-n:])

    def alive(self):
        return self.p.poll() is None

    def wait_line(self, pred, timeout=READY_TIMEOUT, what="log line", start=0):
        """Waits for a line (from index start) for which pred(stream, text) is true."""
        deadline = time.monotonic() + timeout
        i = start
        for _ in range(100000):
            with self.cond:
                while i < len(self.lines):
                    s, t = self.lines[i]
                    i += 1
                    if pred(s, t):
                        return t
                if not self.alive() and all(not r.is_alive() for r in self._readers):
                    raise Failure(f"{self.name} exited (rc={self.p.returncode}) before {what}:\n"
                                  f"{self.tail()}")
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                self.cond.wait(min(left, 0.2))
        raise Failure(f"{self.name}: no {what} within {timeout:.0f}s:\n{self.tail()}")

    def wait_port(self, port, host=LOOPBACK, timeout=READY_TIMEOUT):
        """Bounded connect loop: ready when a TCP connect to host:port succeeds."""
        deadline = time.monotonic() + timeout
        for _ in range(int(timeout / 0.05) + 10):
            if not self.alive():
                raise Failure(f"{self.name} exited (rc={self.p.returncode}) before listening on "
                              f"{port}:\n{self.tail()}")
            try:
                with socket.create_connection((host, port), timeout=1):
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                break
            time.sleep(0.05)
        raise Failure(f"{self.name}: port {port} not accepting within {timeout:.0f}s:\n"
                      f"{self.tail()}")

    def stop(self, timeout=STOP_TIMEOUT):
        """SIGTERM by PID, bounded wait, SIGKILL as a last resort. Returns (rc, timed_out)."""
        if self.stopped:
            return self.p.returncode, False
        self.stopped = True
        timed_out = False
        self.exited_early = self.p.poll() is not None
        if not self.exited_early:
            try:
                os.kill(self.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                self.p.wait(timeout)
            except subprocess.TimeoutExpired:
                timed_out = True
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                try:
                    self.p.wait(5)
                except subprocess.TimeoutExpired:
                    pass
        for r in self._readers:
            r.join(5)
        return self.p.returncode, timed_out


def _clip(line, n=240):
    return line if len(line) <= n else line[:n] + " ..."


def _sanitizer_report(proc):
    """The first sanitizer report in the process output, frames clipped to stay readable."""
    txt = proc.text()
    if any(m in txt for m in SANITIZER_MARKS):
        lines = txt.splitlines()
        for i, ln in enumerate(lines):
            if any(m in ln for m in SANITIZER_MARKS):
                out = [_clip(x) for x in lines[max(0, i - 2):i + 14]]
                summary = [x for x in lines[i:] if x.startswith("SUMMARY:")]
                if summary and summary[0] not in out:
                    out += ["    ...", summary[0]]
                return "\n".join(out)
    return None


def save_log(proc, case_name):
    """Writes a process's whole output under $GOST_ITEST_LOGDIR (default: /tmp/gost-itest-logs)
    and returns the path."""
    d = os.environ.get("GOST_ITEST_LOGDIR") or os.path.join(tempfile.gettempdir(),
                                                              "gost-itest-logs")
    try:
        os.makedirs(d, exist_ok=True)
        script = os.path.splitext(os.path.basename(sys.argv[0]))[0]
        path = os.path.join(d, f"{script}.{case_name}.{proc.name}.{proc.pid}.log")
        with open(path, "w") as f:
            f.write("$ " + " ".join(proc.argv) + "\n" + proc.text() + "\n")
        return path
    except OSError:
        return None


Proc.sanitizer_report = _sanitizer_report


class Gost(Proc):
    """A gost process. Learns its services' real addresses from the `msg=listening` log lines."""

    def __init__(self, gost_bin, args, name="gost", env=None, cwd=None, stdin_data=None):
        super().__init__([gost_bin] + list(args), name, env=env, cwd=cwd, stdin_data=stdin_data)
        self.services = {}  # name -> (host, port), in logging order (dicts keep order)

    def _scan(self):
        with self.cond:
            lines = list(self.lines)
        for s, t in lines:
            if "listening" not in t:
                continue
            kv = parse_log_line(t)
            if kv.get("msg") != "listening" or "addr" not in kv:
                continue
            try:
                host, port = split_hostport(kv["addr"])
            except ValueError:
                continue
            name = kv.get("service", f"#{len(self.services)}")
            if name not in self.services:
                self.services[name] = (host, port)

    def wait_ready(self, services=1, timeout=READY_TIMEOUT):
        """Waits until `services` (a count or a list of names) have logged msg=listening."""
        names = services if isinstance(services, (list, tuple)) else None
        count = len(names) if names is not None else services

        def ok(_s, _t):
            self._scan()
            if names is not None:
                return all(n in self.services for n in names)
            return len(self.services) >= count

        if count == 0:
            return self
        if not ok(None, None):
            self.wait_line(ok, timeout, what=f"'msg=listening' for {services} service(s)")
        return self

    def addr(self, key=0):
        self._scan()
        if isinstance(key, str):
            if key not in self.services:
                raise Failure(f"gost: no service {key!r} logged listening; have "
                              f"{list(self.services)}")
            return self.services[key]
        name = f"service-{key}"
        if name in self.services:
            return self.services[name]
        vals = list(self.services.values())
        if key < len(vals):
            return vals[key]
        raise Failure(f"gost: no service #{key}; have {list(self.services)}")

    def port(self, key=0):
        return self.addr(key)[1]

    def hostport(self, key=0):
        h, p = self.addr(key)
        if h in ("", "0.0.0.0", "::", "[::]"):
            h = LOOPBACK
        return f"[{h}]:{p}" if ":" in h else f"{h}:{p}"



def run_gost_once(gost_bin, args, timeout=30, stdin_data=None, env=None):
    """Runs gost to completion (e.g. -O yaml, or a bad config). Returns (rc, stdout, stderr)."""
    try:
        r = subprocess.run([gost_bin] + [str(a) for a in args], capture_output=True,
                           timeout=timeout, env=env or clean_env(),
                           input=(stdin_data.encode() if isinstance(stdin_data, str)
                                  else stdin_data))
    except subprocess.TimeoutExpired as e:
        raise Failure(f"gost {' '.join(map(str, args))} did not exit within {timeout}s "
                      f"(stderr: {(e.stderr or b'')[-2000:].decode('utf-8', 'replace')})")
    out = r.stdout.decode("utf-8", "replace")
    err = r.stderr.decode("utf-8", "replace")
    if any(m in err for m in SANITIZER_MARKS):
        raise Failure(f"sanitizer report from gost {' '.join(map(str, args))}:\n{err[-4000:]}")
    return r.returncode, out, err


# ------------------------------------------------------------------------------------------------
# Local servers (threads on 127.0.0.1, port 0)


class TcpEcho:
    """Echoes every byte back; on EOF from the client it half-closes and closes."""

    def __init__(self, host=LOOPBACK):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((host, 0))
        self.sock.listen(256)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.accepts = 0
        self.peers = []
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.conns = []
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    def _loop(self):
        while not self.stop_ev.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                c, peer = self.sock.accept()
            except OSError:
                continue
            with self.lock:
                self.accepts += 1
                self.peers.append(peer)
                self.conns.append(c)
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(0.2)
        try:
            while not self.stop_ev.is_set():
                try:
                    d = c.recv(65536)
                except socket.timeout:
                    continue
                if not d:
                    break
                c.sendall(d)
            try:
                c.shutdown(socket.SHUT_WR)
            except OSError:
                pass
        except OSError:
            pass
        finally:
            c.close()

    def close(self):
        self.stop_ev.set()
        self.t.join(2)
        self.sock.close()
        with self.lock:
            for c in self.conns:
                try:
                    c.close()
                except OSError:
                    pass


class LateReplyServer:
    """Reads until the client's EOF, then writes `chunks` lines 50 ms apart and closes. Through a
    proxy whose client has already closed, the proxy's writes hit a reset socket (EPIPE)."""

    def __init__(self, chunks=4, host=LOOPBACK):
        self.sock = socket.socket(socket.AF_INET)
        self.sock.bind((host, 0))
        self.sock.listen(64)
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.chunks = chunks
        self.accepts = 0
        self.finished = 0  # connections fully answered and closed
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    def _loop(self):
        while not self.stop_ev.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                c, _ = self.sock.accept()
            except OSError:
                continue
            self.accepts += 1
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        c.settimeout(5)
        try:
            for _ in range(1000):
                if not c.recv(65536):
                    break
            for i in range(self.chunks):
                c.sendall(b"late reply %d\n" % i)
                time.sleep(0.05)
        except OSError:
            pass
        finally:
            c.close()
            self.finished += 1

    def close(self):
        self.stop_ev.set()
        self.t.join(2)
        self.sock.close()


class UdpEcho:
    """Echoes each datagram back to its sender; records the sender addresses."""

    def __init__(self, host=LOOPBACK):
        self.sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                                  socket.SOCK_DGRAM)
        self.sock.bind((host, 0))
        self.host = host
        self.port = self.sock.getsockname()[1]
        self.peers = []  # sender address per datagram
        self.lock = threading.Lock()
        self.stop_ev = threading.Event()
        self.t = threading.Thread(target=self._loop, daemon=True)
        self.t.start()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    def _loop(self):
        while not self.stop_ev.is_set():
            r, _, _ = select.select([self.sock], [], [], 0.1)
            if not r:
                continue
            try:
                d, peer = self.sock.recvfrom(65536)
            except OSError:
                continue
            with self.lock:
                self.peers.append(peer)
            try:
                self.sock.sendto(d, peer)
            except OSError:
                pass

    def senders(self):
        with self.lock:
            return list(self.peers)

    def close(self):
        self.stop_ev.set()
        self.t.join(2)
        self.sock.close()


class _OriginHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "origin/1"

    def setup(self):
        super().setup()
        with self.server.lock:
            self.server.connections += 1

    def log_message(self, *a):
        pass

    def _reply(self, body):
        with self.server.lock:
            self.server.requests.append((self.command, self.path, dict(self.headers),
                                         self.client_address))
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.path.startswith("/big/"):
            n = int(self.path.split("/")[2])
            self._reply(b"x" * n)
            return
        self._reply(f"origin {self.server.tag} path={self.path}\n".encode())

    do_HEAD = do_GET

    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(n) if n else b""
        self._reply(b"echo:" + data)


class _OriginServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def handle_error(self, request, client_address):
        pass  # clients that vanish (bad-input tests) are expected; keep the output readable


class HttpOrigin:
    """A small HTTP/1.1 origin: GET /x -> 200 'origin <tag> path=/x'; counts connections."""

    def __init__(self, host=LOOPBACK, tag="o1"):
        self.srv = _OriginServer((host, 0), _OriginHandler)
        self.srv.lock = threading.Lock()
        self.srv.connections = 0
        self.srv.requests = []
        self.srv.tag = tag
        self.host = host
        self.port = self.srv.server_address[1]
        self.t = threading.Thread(target=self.srv.serve_forever, kwargs={"poll_interval": 0.1},
                                  daemon=True)
        self.t.start()

    @property
    def addr(self):
        return f"{self.host}:{self.port}"

    def url(self, path="/hello", host=None):
        return f"http://{host or self.host}:{self.port}{path}"

    def body(self, path="/hello"):
        return f"origin {self.srv.tag} path={path}\n"

    @property
    def connections(self):
        with self.srv.lock:
            return self.srv.connections

    @property
    def requests(self):
        with self.srv.lock:
            return list(self.srv.requests)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()
        self.t.join(2)


def have_ipv6():
    try:
        with socket.socket(socket.AF_INET6) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


_RESERVED = []


def dead_port():
    """A loopback TCP port that refuses connections: bound but never listening, and kept bound
    for the life of the test process so nobody else can take it."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind((LOOPBACK, 0))
    _RESERVED.append(s)
    return s.getsockname()[1]


# ------------------------------------------------------------------------------------------------
# Socket helpers


def connect(port, host=LOOPBACK, timeout=5.0):
    s = socket.create_connection((host, port), timeout=timeout)
    s.settimeout(timeout)
    return s


def recv_exact(s, n, timeout=5.0):
    s.settimeout(timeout)
    buf = b""
    for _ in range(n + 1):
        if len(buf) >= n:
            break
        d = s.recv(n - len(buf))
        if not d:
            raise Failure(f"connection closed after {len(buf)} of {n} bytes")
        buf += d
    return buf


def recv_until_closed(s, timeout=5.0, limit=1 << 22):
    """Reads until EOF/RST; returns (data, closed). closed False means still open at timeout."""
    deadline = time.monotonic() + timeout
    data = b""
    for _ in range(100000):
        left = deadline - time.monotonic()
        if left <= 0:
            return data, False
        s.settimeout(left)
        try:
            d = s.recv(65536)
        except socket.timeout:
            return data, False
        except OSError:
            return data, True
        if not d:
            return data, True
        data += d
        if len(data) > limit:
            return data, False
    return data, False


def echo_roundtrip(port, payload=b"hello gost\n", host=LOOPBACK, timeout=5.0):
    with connect(port, host, timeout) as s:
        s.sendall(payload)
        got = recv_exact(s, len(payload), timeout)
        check_eq(got, payload, "echo through gost")
    return True


def read_http_head(s, timeout=5.0, limit=1 << 20):
    """Reads an HTTP response head. Returns (status, {lower-name: value}, rest-bytes)."""
    deadline = time.monotonic() + timeout
    buf = b""
    for _ in range(100000):
        if b"\r\n\r\n" in buf:
            break
        left = deadline - time.monotonic()
        if left <= 0:
            raise Failure(f"no complete HTTP response head within {timeout}s (got {buf[:200]!r})")
        s.settimeout(left)
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        if not d:
            raise Failure(f"connection closed before a complete HTTP response head "
                          f"(got {buf[:200]!r})")
        buf += d
        check(len(buf) < limit, "HTTP response head too large")
    head, _, rest = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    check(len(parts) >= 2 and parts[0].startswith("HTTP/"), f"bad status line {lines[0]!r}")
    hdrs = {}
    for ln in lines[1:]:
        k, _, v = ln.partition(":")
        hdrs[k.strip().lower()] = v.strip()
    return int(parts[1]), hdrs, rest


def http_request(port, raw, host=LOOPBACK, timeout=5.0):
    """Sends raw request bytes to host:port, returns (status, headers, rest)."""
    with connect(port, host, timeout) as s:
        s.sendall(raw)
        return read_http_head(s, timeout)


# ------------------------------------------------------------------------------------------------
# SOCKS5 (RFC 1928 / 1929) minimal client


def socks5_addr(host, port):
    try:
        return b"\x01" + socket.inet_pton(socket.AF_INET, host) + struct.pack("!H", port)
    except OSError:
        pass
    try:
        return b"\x04" + socket.inet_pton(socket.AF_INET6, host) + struct.pack("!H", port)
    except OSError:
        pass
    h = host.encode()
    return b"\x03" + bytes([len(h)]) + h + struct.pack("!H", port)


def read_socks5_addr(read):
    atyp = read(1)[0]
    if atyp == 1:
        host = socket.inet_ntop(socket.AF_INET, read(4))
    elif atyp == 4:
        host = socket.inet_ntop(socket.AF_INET6, read(16))
    elif atyp == 3:
        n = read(1)[0]
        host = read(n).decode("latin-1")
    else:
        raise Failure(f"bad SOCKS5 ATYP {atyp}")
    port = struct.unpack("!H", read(2))[0]
    return host, port


def socks5_greet(s, user=None, password=None):
    """Method negotiation (+ RFC 1929 auth). Returns the chosen method."""
    methods = b"\x00\x02" if user is not None else b"\x00"
    s.sendall(b"\x05" + bytes([len(methods)]) + methods)
    ver, method = recv_exact(s, 2)
    check_eq(ver, 5, "SOCKS5 method reply version")
    if method == 0x02:
        check(user is not None, "server asked for username/password but none given")
        u, p = user.encode(), password.encode()
        s.sendall(b"\x01" + bytes([len(u)]) + u + bytes([len(p)]) + p)
        _, status = recv_exact(s, 2)
        if status != 0:
            raise Failure(f"SOCKS5 auth rejected (status {status})")
    return method


def socks5_request(s, cmd, host, port):
    """Sends a request, returns (rep, bnd_host, bnd_port)."""
    s.sendall(b"\x05" + bytes([cmd]) + b"\x00" + socks5_addr(host, port))
    ver, rep, _ = recv_exact(s, 3)
    check_eq(ver, 5, "SOCKS5 reply version")
    bh, bp = read_socks5_addr(lambda n: recv_exact(s, n))
    return rep, bh, bp


def socks5_connect(proxy_port, host, port, user=None, password=None, proxy_host=LOOPBACK):
    s = connect(proxy_port, proxy_host)
    socks5_greet(s, user, password)
    rep, _, _ = socks5_request(s, 1, host, port)
    if rep != 0:
        s.close()
        raise Failure(f"SOCKS5 CONNECT {host}:{port} refused: reply {rep}")
    return s


class Socks5Udp:
    """A SOCKS5 UDP ASSOCIATE client speaking raw RFC 1928 datagrams."""

    def __init__(self, proxy_port, proxy_host=LOOPBACK, user=None, password=None):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind((LOOPBACK, 0))
        self.ctrl = connect(proxy_port, proxy_host)
        socks5_greet(self.ctrl, user, password)
        self.rep, bh, bp = socks5_request(self.ctrl, 3, LOOPBACK, self.udp.getsockname()[1])
        if self.rep == 0:
            if bh in ("0.0.0.0", "::"):
                bh = proxy_host
            self.relay = (bh, bp)

    def send(self, host, port, data, frag=0):
        hdr = b"\x00\x00" + bytes([frag]) + socks5_addr(host, port)
        self.udp.sendto(hdr + data, self.relay)

    def recv(self, timeout=5.0):
        """Returns (host, port, data) or None on timeout."""
        self.udp.settimeout(timeout)
        try:
            d, src = self.udp.recvfrom(65536)
        except socket.timeout:
            return None
        check(len(d) >= 4 and d[0] == 0 and d[1] == 0,
              f"bad SOCKS5 UDP reply header {d[:10]!r} from {src}")
        pos = [3]

        def rd(n):
            b = d[pos[0]:pos[0] + n]
            if len(b) != n:
                raise Failure(f"truncated SOCKS5 UDP header {d!r}")
            pos[0] += n
            return b

        h, p = read_socks5_addr(rd)
        return h, p, d[pos[0]:]

    def close(self):
        for s in (self.ctrl, self.udp):
            try:
                s.close()
            except OSError:
                pass


# ------------------------------------------------------------------------------------------------
# curl


class CurlResult:
    def __init__(self, rc, out, err, codes):
        self.rc, self.out, self.err, self.codes = rc, out, err, codes

    @property
    def code(self):
        return self.codes[0][0] if self.codes else 0

    @property
    def connect_code(self):
        return self.codes[0][1] if self.codes else 0

    def bodies(self):
        return self.out

    def __repr__(self):
        return (f"curl rc={self.rc} codes={self.codes} body={_short(''.join(self.out), 200)} "
                f"err={_short(self.err[-600:], 600)}")


_MARK = "~~GOST-CURL~~"


def curl(*args, timeout=20, verbose=False):
    """Runs curl with the given arguments; returns a CurlResult (body per URL, codes per URL)."""
    need("curl")
    argv = ["curl", "-q", "-sS", "--max-time", str(timeout), "--connect-timeout", "10",
            "-w", f"{_MARK} %{{http_code}} %{{http_connect}}{_MARK}\n"]
    if verbose:
        argv.append("-v")
    argv += [str(a) for a in args]
    try:
        r = subprocess.run(argv, capture_output=True, timeout=timeout + 10, env=clean_env())
    except subprocess.TimeoutExpired:
        raise Failure(f"curl did not finish within {timeout + 10}s: {' '.join(argv)}")
    out = r.stdout.decode("utf-8", "replace")
    parts = out.split(_MARK)
    bodies, codes = [], []
    # parts: body0, " 200 000", "\nbody1"...
    for i in range(0, len(parts) - 1, 2):
        bodies.append(parts[i].lstrip("\n") if i else parts[i])
        c = parts[i + 1].split()
        codes.append((int(c[0]) if c else 0, int(c[1]) if len(c) > 1 else 0))
    return CurlResult(r.returncode, bodies, r.stderr.decode("utf-8", "replace"), codes)


def curl_ok(*args, want_body=None, **kw):
    r = curl(*args, **kw)
    check(r.rc == 0 and r.code == 200, f"curl {' '.join(map(str, args))} failed: {r!r}")
    if want_body is not None:
        check_eq(r.out[0], want_body, "body")
    return r


# ------------------------------------------------------------------------------------------------
# Third-party peers


class Peer(Proc):
    def __init__(self, argv, name, port, **kw):
        super().__init__(argv, name, **kw)
        self.port = port

    @property
    def addr(self):
        return f"{LOOPBACK}:{self.port}"


def _start_with_port(make, name, attempts=3):
    """Starts a peer that needs a pre-picked port; retries with a new port if it lost the race."""
    last = None
    for _ in range(attempts):
        port = free_port()
        peer = make(port)
        try:
            peer.wait_port(port, timeout=15)
            return peer
        except Failure as e:
            last = e
            peer.stop(5)
    raise Failure(f"{name} did not start: {last}")


def start_microsocks(case, user=None, password=None):
    need("microsocks")

    def make(port):
        argv = [which("microsocks"), "-i", LOOPBACK, "-p", str(port)]
        if user is not None:
            argv += ["-u", user, "-P", password]
        return Peer(argv, "microsocks", port)

    p = _start_with_port(make, "microsocks")
    case.defer(lambda: p.stop(5))
    return p


def start_danted(case, method="none", udp=True):
    """dante-server on 127.0.0.1 (runs as root here). method: none | username."""
    need("danted")
    d = case.tmp()

    def make(port):
        conf = os.path.join(d, f"danted-{port}.conf")
        with open(conf, "w") as f:
            f.write(f"""logoutput: stderr
debug: 0
internal: {LOOPBACK} port = {port}
external: {LOOPBACK}
clientmethod: none
socksmethod: {method}
user.privileged: root
user.unprivileged: nobody
client pass {{
  from: {LOOPBACK}/32 to: 0.0.0.0/0
  log: error
}}
socks pass {{
  from: {LOOPBACK}/32 to: 0.0.0.0/0
  command: connect bind udpassociate bindreply udpreply
  log: error connect
}}
""")
        return Peer([which("danted"), "-f", conf, "-p", os.path.join(d, f"danted-{port}.pid"),
                     "-N", "1"], "danted", port)

    p = _start_with_port(make, "danted")
    case.defer(lambda: p.stop(10))
    return p


def start_tinyproxy(case, extra=""):
    need("tinyproxy")
    d = case.tmp()

    def make(port):
        conf = os.path.join(d, f"tinyproxy-{port}.conf")
        with open(conf, "w") as f:
            f.write(f"""Port {port}
Listen {LOOPBACK}
Timeout 30
Allow {LOOPBACK}
MaxClients 64
LogLevel Info
DisableViaHeader Yes
{extra}
""")
        return Peer([which("tinyproxy"), "-d", "-c", conf], "tinyproxy", port)

    p = _start_with_port(make, "tinyproxy")
    case.defer(lambda: p.stop(5))
    return p


# ------------------------------------------------------------------------------------------------
# Cases


class Case:
    def __init__(self, name, opts):
        self.name = name
        self.opts = opts
        self.gost_bin = opts.gost
        self.examples_dir = opts.examples_dir
        self._cleanups = []
        self._gosts = []
        self._tmp = None
        self.notes = []

    def defer(self, fn):
        self._cleanups.append(fn)

    def tmp(self):
        if self._tmp is None:
            self._tmp = tempfile.mkdtemp(prefix="gost-itest-")
        return self._tmp

    def write(self, name, text):
        path = os.path.join(self.tmp(), name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def gost(self, *args, services=1, name=None, env=None, stdin_data=None, cwd=None):
        """Starts gost with args and waits until `services` have logged msg=listening."""
        if self.gost_bin is None or not os.path.exists(self.gost_bin):
            raise Failure(f"gost binary not found: {self.gost_bin}")
        g = Gost(self.gost_bin, args, name=name or f"gost#{len(self._gosts)}",
                 env=env, cwd=cwd or self.tmp(), stdin_data=stdin_data)
        self._gosts.append(g)
        if self.opts.verbose:
            print(f"    + {' '.join(g.argv)}", flush=True)
        g.wait_ready(services)
        return g

    def example(self, name, *args):
        """Starts an example program from --examples-dir (skips when it was not built); it is
        stopped and checked like gost at the end of the case."""
        d = self.examples_dir
        path = os.path.join(d, name) if d else None
        if not path or not os.path.exists(path):
            raise Skip(f"example {name} not built (GOST_BUILD_EXAMPLES=OFF?)")
        p = Proc([path] + list(args), name, cwd=self.tmp())
        self._gosts.append(p)
        return p

    def stop_gost(self, g):
        """Stops one gost now; returns a list of problems (empty when it exited cleanly)."""
        rc, timed_out = g.stop()
        problems = []
        if timed_out:
            problems.append(f"{g.name} did not exit within {STOP_TIMEOUT:.0f}s of SIGTERM")
        elif rc != 0:
            when = "on its own (before SIGTERM)" if g.exited_early else "after SIGTERM"
            problems.append(f"{g.name} exited with rc={rc} {when}")
        rep = g.sanitizer_report()
        if rep:
            problems.append(f"{g.name} sanitizer report:\n{rep}")
        if problems:
            tail = "\n".join(_clip(x) for x in g.tail(12).splitlines())
            problems[-1] += f"\n--- {g.name} ({' '.join(g.argv)}) output tail ---\n{tail}"
            path = save_log(g, self.name)
            if path:
                problems[-1] += f"\n--- full output: {path}"
        return problems

    def check_gost_exit(self, g):
        p = self.stop_gost(g)
        if p:
            raise Failure("\n".join(p))

    def tcp_echo(self, host=LOOPBACK):
        e = TcpEcho(host)
        self.defer(e.close)
        return e

    def late_reply(self, chunks=4):
        srv = LateReplyServer(chunks)
        self.defer(srv.close)
        return srv

    def udp_echo(self, host=LOOPBACK):
        e = UdpEcho(host)
        self.defer(e.close)
        return e

    def origin(self, tag="o1", host=LOOPBACK):
        o = HttpOrigin(host, tag)
        self.defer(o.close)
        return o

    def microsocks(self, user=None, password=None):
        return start_microsocks(self, user, password)

    def danted(self, method="none"):
        return start_danted(self, method)

    def tinyproxy(self, extra=""):
        return start_tinyproxy(self, extra)

    def finish(self):
        """Stops everything; returns the list of problems found at teardown."""
        problems = []
        for g in self._gosts:
            if not g.stopped:
                problems += self.stop_gost(g)
        for fn in reversed(self._cleanups):
            try:
                fn()
            except Exception as e:  # noqa: BLE001 - teardown must go on
                problems.append(f"cleanup error: {e!r}")
        if self._tmp:
            shutil.rmtree(self._tmp, ignore_errors=True)
        return problems


def parse_args(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--gost", required=True, help="path to the gost binary")
    ap.add_argument("--examples-dir", default=None)
    ap.add_argument("-k", dest="filter", default=None, help="run only cases whose name contains this")
    ap.add_argument("-v", dest="verbose", action="store_true")
    return ap.parse_args(argv)


def run(cases, argv=None):
    """Runs the case functions; prints one line per case and 'N passed, M failed'."""
    opts = parse_args(argv)
    opts.gost = os.path.abspath(opts.gost)
    if opts.examples_dir:
        opts.examples_dir = os.path.abspath(opts.examples_dir)
    socket.setdefaulttimeout(15)
    passed = failed = skipped = 0
    for fn in cases:
        name = fn.__name__
        if name.startswith("case_"):
            name = name[5:]
        if opts.filter and opts.filter not in name:
            continue
        c = Case(name, opts)
        t0 = time.monotonic()
        err = None
        skip = None
        try:
            fn(c)
        except Skip as e:
            skip = str(e)
        except Failure as e:
            err = str(e)
        except Exception:  # noqa: BLE001 - a crash in a case is a failure of that case
            err = traceback.format_exc()
        problems = c.finish()
        if problems:
            err = (err + "\n" if err else "") + "\n".join(problems)
        dt = time.monotonic() - t0
        if err:
            failed += 1
            print(f"FAIL {name} ({dt:.1f}s)", flush=True)
            for ln in err.rstrip().splitlines():
                print(f"    {ln}", flush=True)
        elif skip:
            skipped += 1
            print(f"skip {name}: {skip}", flush=True)
        else:
            passed += 1
            extra = f" [{'; '.join(c.notes)}]" if c.notes else ""
            print(f"ok   {name} ({dt:.1f}s){extra}", flush=True)
    if skipped:
        print(f"{skipped} skipped", flush=True)
    print(f"{passed} passed, {failed} failed", flush=True)
    sys.exit(1 if failed else 0)


def run_threads(fns, timeout, what="threads"):
    """Runs each fn on a thread of its own, all at once, and waits for them, at most timeout
    seconds in all; fails when one is still running then."""
    ths = [threading.Thread(target=f, daemon=True) for f in fns]
    for th in ths:
        th.start()
    deadline = time.monotonic() + timeout
    for th in ths:
        th.join(max(0.0, deadline - time.monotonic()))
    check(not any(th.is_alive() for th in ths), f"{what} did not finish within {timeout:.0f} s")


def rng(seed=None):
    return random.Random(seed if seed is not None else 20261122)


def udp_client():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((LOOPBACK, 0))
    return s


def udp_roundtrip(s, port, payload, timeout=3.0, tries=3):
    """Sends payload to 127.0.0.1:port and waits for the same bytes back (resends on loss)."""
    for _ in range(tries):
        s.sendto(payload, (LOOPBACK, port))
        s.settimeout(timeout)
        deadline = time.monotonic() + timeout
        for _ in range(100):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                d, _ = s.recvfrom(65536)
            except socket.timeout:
                break
            if d == payload:
                return d
    raise Failure(f"no UDP echo of {payload[:40]!r} through port {port}")

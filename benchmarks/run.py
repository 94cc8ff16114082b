#!/usr/bin/env python3
"""Side-by-side benchmark of gost and peer programs on loopback.

Starts gost and every peer that is installed (socat, haproxy with and without splice,
microsocks, dante, tinyproxy, v2ray), runs each scenario against each (medians of --runs runs),
prints one table with ratios against gost, and cleans up every process it started.

  python3 benchmarks/run.py --gost build/release/cli/gost --loadgen build/release/benchmarks/gost_loadgen
"""
import argparse
import json
import os
import re
import select
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time

PROCS = []
TMP = tempfile.mkdtemp(prefix="gost-bench-")


def free_port():
    """A port for a peer to listen on, outside the ephemeral range: the connection-rate scenarios
    leave tens of thousands of TIME_WAIT sockets that would make bind(0) fail."""
    import random
    for _ in range(200):
        port = random.randrange(20000, 32000)
        try:
            with socket.socket() as s, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u:
                s.bind(("127.0.0.1", port))
                u.bind(("127.0.0.1", port))
                return port
        except OSError:
            continue
    raise RuntimeError("no free port in 20000-32000")


def wait_port(port, proc, limit=10.0):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited early with {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.02)
    raise RuntimeError(f"port {port} not ready")


def start(args, port=None, stdin=None, **kw):
    # Each peer leads its own process group, so stop() also ends what it forked (socat's
    # per-peer UDP children outlive their parent otherwise).
    kw.setdefault("start_new_session", True)
    kw.setdefault("stderr", subprocess.DEVNULL)
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=stdin, **kw)
    PROCS.append(p)
    if port:
        wait_port(port, p)
    return p


COMPANIONS = {}  # pid of a peer's front process -> the other processes of that peer


def stop(p):
    for c in COMPANIONS.pop(p.pid, []):
        stop(c)
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
    try:
        os.killpg(p.pid, signal.SIGKILL)  # whatever the peer forked and left behind
    except (ProcessLookupError, PermissionError):
        pass
    if p in PROCS:
        PROCS.remove(p)


def cleanup():
    for p in list(PROCS):
        stop(p)
    shutil.rmtree(TMP, ignore_errors=True)


def write(name, text):
    path = os.path.join(TMP, name)
    with open(path, "w") as f:
        f.write(text)
    return path


def target_server(loadgen, mode):
    p = start([loadgen, "server", mode])
    line = p.stdout.readline().decode()
    return p, int(line.split()[1])


# ---- peers: each returns (process, port, proxy-kind) for a target


# GOST_CPU_AFFINITY=1 also pins gost's threads to the CPUs whose connections they take (off by
# default; see RuntimeOptions::cpu_affinity; the steering itself is on by default). The "gost+affinity"
# rows measure it next to the default.
AFFINITY_ENV = dict(os.environ, GOST_CPU_AFFINITY="1")


def gost_fwd(a, target, env=None):
    port = free_port()
    return start([a.gost, "-L", f"tcp://127.0.0.1:{port}/127.0.0.1:{target}", "-C", write("g.json", '{"log":{"level":"error"}}')], port, env=env), port, "fwd"


def gost_socks5(a, target, env=None):
    port = free_port()
    return start([a.gost, "-L", f"socks5://127.0.0.1:{port}", "-C", write("g.json", '{"log":{"level":"error"}}')], port, env=env), port, "socks5"


def gost_http(a, target, env=None):
    port = free_port()
    return start([a.gost, "-L", f"http://127.0.0.1:{port}", "-C", write("g.json", '{"log":{"level":"error"}}')], port, env=env), port, "http"


def socat_fwd(a, target):
    port = free_port()
    return start(["socat", f"TCP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"TCP:127.0.0.1:{target},nodelay"], port), port, "fwd"


def haproxy_cfg(port, target, splice):
    opts = "    option splice-auto\n" if splice else ""
    return f"""global
    maxconn 9200
    maxpipes 300
defaults
    mode tcp
    timeout connect 5s
    timeout client 1h
    timeout server 1h
{opts}frontend f
    bind 127.0.0.1:{port}
    default_backend b
backend b
    server s 127.0.0.1:{target}
"""


def haproxy_fwd(a, target, splice=True):
    port = free_port()
    cfg = write(f"haproxy{int(splice)}.cfg", haproxy_cfg(port, target, splice))
    return start(["haproxy", "-f", cfg, "-db"], port), port, "fwd"


def haproxy_nosplice(a, target):
    return haproxy_fwd(a, target, splice=False)


def microsocks(a, target):
    port = free_port()
    return start(["microsocks", "-i", "127.0.0.1", "-p", str(port)], port), port, "socks5"


def bare_socks5(a, target):
    # The reference floor, not a competitor: the load tool's bare SOCKS5 relay (bare_socks5.cpp),
    # only the protocol's system calls on epoll, CPU steering like gost's. gost/bare-epoll says
    # how close gost is to what this machine allows; the peers' ratios are set against it too.
    p, port = target_server(a.loadgen, "socks5bare")
    wait_port(port, p)
    return p, port, "socks5"


def dante(a, target):
    port = free_port()
    cfg = write("danted.conf", f"""logoutput: /dev/null
internal: 127.0.0.1 port = {port}
external: 127.0.0.1
clientmethod: none
socksmethod: none
user.privileged: root
user.unprivileged: nobody
client pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}
socks pass {{ from: 127.0.0.0/8 to: 0.0.0.0/0 }}
""")
    return start(["danted", "-f", cfg, "-N", "2"], port), port, "socks5"


def tinyproxy(a, target):
    port = free_port()
    cfg = write("tinyproxy.conf", f"""Port {port}
Listen 127.0.0.1
Timeout 600
MaxClients 20000
Allow 127.0.0.1
ConnectPort {target}
LogLevel Critical
""")
    return start(["tinyproxy", "-d", "-c", cfg], port), port, "http"


def v2ray(a, target, proto="socks"):
    port = free_port()
    settings = '{"auth":"noauth","udp":true}' if proto == "socks" else "{}"
    cfg = write(f"v2ray-{proto}.json", json.dumps({
        "log": {"loglevel": "none"},
        "inbounds": [{"listen": "127.0.0.1", "port": port, "protocol": proto, "settings": json.loads(settings)}],
        "outbounds": [{"protocol": "freedom"}]}))
    return start(["v2ray", "run", "-c", cfg] if v2ray_has_run() else ["v2ray", "-config", cfg], port), port, "socks5" if proto == "socks" else "http"


_V2RAY_RUN = None


def v2ray_has_run():
    global _V2RAY_RUN
    if _V2RAY_RUN is None:
        out = subprocess.run(["v2ray", "help"], capture_output=True, text=True)
        _V2RAY_RUN = " run " in (out.stdout + out.stderr)
    return _V2RAY_RUN


def v2ray_http(a, target):
    return v2ray(a, target, "http")


# ---- UDP peers


def wait_udp(port, proc, limit=10.0):
    """Ready when a datagram sent to the forwarder comes back from the echo target."""
    deadline = time.monotonic() + limit
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.1)
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                raise RuntimeError(f"{proc.args[0]} exited early with {proc.returncode}")
            s.sendto(b"ready?", ("127.0.0.1", port))
            try:
                s.recvfrom(64)
                return
            except OSError:
                pass
    raise RuntimeError(f"udp port {port} not ready")


def gost_udpfwd(a, target):
    port = free_port()
    p = start([a.gost, "-L", f"udp://127.0.0.1:{port}/127.0.0.1:{target}", "-C", write("g.json", '{"log":{"level":"error"}}')])
    wait_udp(port, p)
    return p, port, "udpfwd"


def socat_udpfwd(a, target):
    port = free_port()
    p = start(["socat", f"UDP-LISTEN:{port},bind=127.0.0.1,fork,reuseaddr", f"UDP:127.0.0.1:{target}"])
    wait_udp(port, p)
    return p, port, "udpfwd"


def v2ray_udpfwd(a, target):
    port = free_port()
    cfg = write("v2ray-dokodemo.json", json.dumps({
        "log": {"loglevel": "none"},
        "inbounds": [{"listen": "127.0.0.1", "port": port, "protocol": "dokodemo-door",
                      "settings": {"address": "127.0.0.1", "port": target, "network": "udp"}}],
        "outbounds": [{"protocol": "freedom"}]}))
    p = start(["v2ray", "run", "-c", cfg] if v2ray_has_run() else ["v2ray", "-config", cfg])
    wait_udp(port, p)
    return p, port, "udpfwd"


def gost_socks5udp(a, target):
    port = free_port()
    return start([a.gost, "-L", f"socks5://127.0.0.1:{port}?udp=true", "-C", write("g.json", '{"log":{"level":"error"}}')], port), port, "socks5"


# ---- Shadowsocks pairs: a SOCKS5 front (client side) -> ss server; both processes are measured.


def ss_pair(client_args, server_args, port, server_port):
    srv = start(server_args, server_port)
    cli = start(client_args, port)
    COMPANIONS[cli.pid] = [srv]
    return cli, port, "socks5"


def gost_ss(a, target, method):
    port, sport = free_port(), free_port()
    quiet = write("g.json", '{"log":{"level":"error"}}')
    return ss_pair([a.gost, "-L", f"socks5://127.0.0.1:{port}", "-F", f"ss://{method}:bench-pass@127.0.0.1:{sport}", "-C", quiet],
                   [a.gost, "-L", f"ss://{method}:bench-pass@127.0.0.1:{sport}", "-C", quiet], port, sport)


def libev_ss(a, target, method):
    port, sport = free_port(), free_port()
    return ss_pair(["ss-local", "-s", "127.0.0.1", "-p", str(sport), "-b", "127.0.0.1", "-l", str(port), "-k", "bench-pass", "-m", method],
                   ["ss-server", "-s", "127.0.0.1", "-p", str(sport), "-k", "bench-pass", "-m", method], port, sport)


def v2ray_socks5udp(a, target):
    port = free_port()
    cfg = write("v2ray-socks-udp.json", json.dumps({
        "log": {"loglevel": "none"},
        "inbounds": [{"listen": "127.0.0.1", "port": port, "protocol": "socks",
                      "settings": {"auth": "noauth", "udp": True, "ip": "127.0.0.1"}}],
        "outbounds": [{"protocol": "freedom"}]}))
    return start(["v2ray", "run", "-c", cfg] if v2ray_has_run() else ["v2ray", "-config", cfg], port), port, "socks5"


PEERS = {
    "forward": [("gost", gost_fwd, None), ("gost+affinity", lambda a, t: gost_fwd(a, t, AFFINITY_ENV), None),
                ("socat", socat_fwd, "socat"), ("haproxy+splice", haproxy_fwd, "haproxy"),
                ("haproxy", haproxy_nosplice, "haproxy"), ("direct", None, None)],
    "socks5": [("gost", gost_socks5, None), ("gost+affinity", lambda a, t: gost_socks5(a, t, AFFINITY_ENV), None),
               ("microsocks", microsocks, "microsocks"), ("dante", dante, "danted"), ("v2ray", v2ray, "v2ray"),
               ("bare-epoll", bare_socks5, None)],
    "http": [("gost", gost_http, None), ("gost+affinity", lambda a, t: gost_http(a, t, AFFINITY_ENV), None),
             ("tinyproxy", tinyproxy, "tinyproxy"), ("v2ray", v2ray_http, "v2ray")],
    "udpfwd": [("gost", gost_udpfwd, None), ("socat", socat_udpfwd, "socat"), ("v2ray", v2ray_udpfwd, "v2ray")],
    "socks5udp": [("gost", gost_socks5udp, None), ("dante", dante, "danted"), ("v2ray", v2ray_socks5udp, "v2ray")],
}
UDP_FAMILIES = {"udpfwd", "socks5udp"}
for _m in ("aes-128-gcm", "chacha20-ietf-poly1305"):
    PEERS[f"ss-{_m}"] = [("gost", lambda a, t, m=_m: gost_ss(a, t, m), None),
                         ("shadowsocks-libev", lambda a, t, m=_m: libev_ss(a, t, m), "ss-server")]
# Peers measured in some scenarios only: the bare relay is a reference for the per-connection
# costs (connection rate, latency), not a proxy whose throughput or memory anyone would pick.
PEER_SCENARIOS = {"bare-epoll": {"connrate", "latency"}}
# Scenarios that mean something for each family (the ss pairs: throughput, CPU and memory).
FAMILY_SCENARIOS = {f"ss-{m}": {"up1", "down1", "up4", "idle1000"} for m in ("aes-128-gcm", "chacha20-ietf-poly1305")}
# Scenarios of one family only, for plain HTTP proxying (GET http://... through the proxy to the
# load tool's HTTP origin): requests per second, 8 clients each sending its next request on its
# kept connection once it has the last answer (a proxy that closes gets a new connection), and
# memory per idle keep-alive connection (one GET, then the client's connection and the proxy's
# upstream both stay open).
SCENARIO_FAMILIES = {"reqrate": {"http"}, "keepalive1000": {"http"}, "keepalive9000": {"http"}}


def proxy_arg(kind, port, target):
    if kind == "udpfwd":
        return "fwd", f"127.0.0.1:{port}"
    if kind == "fwd":
        return "fwd", f"127.0.0.1:{port}"
    return f"{kind}://127.0.0.1:{port}", f"127.0.0.1:{target}"


def loadgen(a, *args, timeout=120):
    out = subprocess.run([a.loadgen, *map(str, args)], capture_output=True, text=True, timeout=timeout)
    line = [l for l in out.stdout.splitlines() if l.startswith("{")]
    if not line:
        raise RuntimeError(f"loadgen {args[0]} failed: {out.stderr.strip()}")
    return json.loads(line[-1])


def children(pid):
    try:
        return [int(k) for k in subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()]
    except OSError:
        return []


def descendants(pid):
    """Every process below pid (danted -N 2 runs a second server process whose workers are the
    first one's grandchildren)."""
    out, todo = [], [pid]
    while todo and len(out) < 10000:
        kids = children(todo.pop())
        out.extend(kids)
        todo.extend(kids)
    return out


def cpu_seconds(pid):
    return sum(_cpu_seconds(p) for p in [pid] + [c.pid for c in COMPANIONS.get(pid, [])])


def _cpu_seconds(pid):
    """CPU of the process and of every live process below it, each with its reaped children's
    (socat and dante fork)."""
    total = 0
    for p in [pid] + descendants(pid):
        try:
            with open(f"/proc/{p}/stat") as f:
                parts = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(parts[11]) + int(parts[12]) + int(parts[13]) + int(parts[14])
    return total / os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    return sum(_rss_kib(p) for p in [pid] + [c.pid for c in COMPANIONS.get(pid, [])])


def _rss_kib(pid):
    # Sum over the process and every process below it (dante forks workers).
    total = 0
    for p in [pid] + descendants(pid):
        try:
            with open(f"/proc/{p}/status") as f:
                m = re.search(r"VmRSS:\s+(\d+)", f.read())
                total += int(m.group(1)) if m else 0
        except OSError:
            pass
    return total


RUNNING = {}  # (family, peer, target) -> (process, port, kind): reused by the runs of a family


def peer_for(a, family, name, factory, target, fresh):
    """A running peer for target. Throughput, rate, latency and UDP runs share one process per
    peer and target within a family (CPU is measured as a difference); idle-memory runs get a
    fresh one so that the RSS baseline is a clean start."""
    if fresh:
        return factory(a, target), True
    key = (family, name, target)
    got = RUNNING.get(key)
    if got and got[0].poll() is None:
        return got, False
    got = factory(a, target)
    RUNNING[key] = got
    return got, False


def stop_running():
    for proc, _, _ in RUNNING.values():
        stop(proc)
    RUNNING.clear()


def measure(a, scenario, family, name, factory, targets):
    """Returns {metric: value} for one peer in one scenario (one run)."""
    if scenario == "udp":
        (proc, port, kind), _ = peer_for(a, family, name, factory, targets["udpecho"], False)
        px, tgt = proxy_arg(kind, port, targets["udpecho"])
        c0 = cpu_seconds(proc.pid)
        r = loadgen(a, "udp", px, tgt, a.seconds, 512, 32)
        cpu = cpu_seconds(proc.pid) - c0
        return {"dgram_per_s": r["per_sec"], "loss_pct": r["loss_pct"], "cpu_s_per_mdgram": cpu / (r["received"] / 1e6) if r["received"] else float("nan")}
    kind_target = targets["sink"] if scenario in ("up1", "up4") else targets["source"] if scenario in ("down1", "down4") \
        else targets["http"] if scenario.startswith("keepalive") or scenario == "reqrate" else targets["echo"]
    if name == "direct":
        return measure_direct(a, scenario, kind_target)
    (proc, port, kind), fresh = peer_for(a, family, name, factory, kind_target, scenario.startswith(("idle", "keepalive")))
    try:
        px, tgt = proxy_arg(kind, port, kind_target)
        if scenario.startswith("keepalive") or scenario == "reqrate":
            px = px.replace("http://", "httpget://")  # plain GETs, not CONNECT
        if scenario in ("up1", "up4", "down1", "down4"):
            streams = 1 if scenario.endswith("1") else 4
            c0 = cpu_seconds(proc.pid)
            r = loadgen(a, "throughput", px, tgt, streams, a.seconds, "up" if scenario.startswith("up") else "down")
            cpu = cpu_seconds(proc.pid) - c0
            gb = r["bytes"] / 1e9
            return {"gbps": r["gbps"], "cpu_s_per_gb": cpu / gb if gb > 0 else float("nan")}
        if scenario in ("connrate", "reqrate"):
            # The rate is shared out between the load tool, the target and the proxy on the same
            # cores; the proxy's own CPU per connection (request) says what the proxy costs by itself.
            c0 = cpu_seconds(proc.pid)
            r = loadgen(a, scenario, px, tgt, 8, a.seconds)
            cpu = cpu_seconds(proc.pid) - c0
            n, unit = (r["conns"], "conn") if scenario == "connrate" else (r["requests"], "req")
            return {f"{unit}_per_s": r["per_sec"], f"cpu_us_per_{unit}": cpu / n * 1e6 if n else float("nan")}
        if scenario == "latency":
            r = loadgen(a, "latency", px, tgt, 10000, 64)
            return {"p50_us": r["p50_us"], "p99_us": r["p99_us"]}
        if scenario.startswith(("idle", "keepalive")):
            n = int(re.sub(r"\D", "", scenario))
            base = rss_kib(proc.pid)
            errf = tempfile.TemporaryFile()
            lg = start([a.loadgen, "idle", px, tgt, str(n)], stdin=subprocess.PIPE, stderr=errf)
            ready, _, _ = select.select([lg.stdout], [], [], 120)
            line = lg.stdout.readline().decode() if ready else ""
            if not line:
                stop(lg)
                errf.seek(0)
                why = errf.read().decode(errors="replace").strip()
                raise RuntimeError(f"idle loadgen: {why}" if why else "idle loadgen: no 'ready' within 120 s")
            if not line.startswith("ready"):
                stop(lg)
                raise RuntimeError("idle loadgen failed")
            used = rss_kib(proc.pid) - base
            lg.stdin.close()  # the load tool resets its connections and exits
            try:
                lg.wait(10)
            except subprocess.TimeoutExpired:
                pass
            stop(lg)
            return {"kib_per_conn": used / n}
    finally:
        if fresh:
            stop(proc)


def measure_direct(a, scenario, target):
    """The load tool straight to the target, no proxy: what the machine allows (the issue's
    reference figures are given against it)."""
    tgt = f"127.0.0.1:{target}"
    if scenario in ("up1", "up4", "down1", "down4"):
        streams = 1 if scenario.endswith("1") else 4
        r = loadgen(a, "throughput", "fwd", tgt, streams, a.seconds, "up" if scenario.startswith("up") else "down")
        return {"gbps": r["gbps"]}
    if scenario == "connrate":
        return {"conn_per_s": loadgen(a, "connrate", "fwd", tgt, 8, a.seconds)["per_sec"]}
    if scenario == "latency":
        r = loadgen(a, "latency", "fwd", tgt, 10000, 64)
        return {"p50_us": r["p50_us"], "p99_us": r["p99_us"]}
    raise RuntimeError(f"no direct measurement for {scenario}")


def time_wait_count():
    try:
        out = subprocess.run(["ss", "-tan", "state", "time-wait"], capture_output=True, text=True).stdout
        return max(0, len(out.splitlines()) - 1)
    except OSError:
        return -1


SCENARIOS = ["up1", "up4", "down1", "down4", "connrate", "reqrate", "latency", "idle1000", "idle9000", "keepalive1000",
             "keepalive9000"]
UDP_SCENARIOS = ["udp"]
HIGHER_BETTER = {"gbps", "conn_per_s", "req_per_s", "dgram_per_s"}


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--gost", required=True)
    ap.add_argument("--loadgen", required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seconds", type=float, default=1.0)
    ap.add_argument("--families", default="forward,socks5,http,udpfwd,socks5udp,ss-aes-128-gcm,ss-chacha20-ietf-poly1305")
    ap.add_argument("--scenarios", default=",".join(SCENARIOS + UDP_SCENARIOS))
    a = ap.parse_args()
    targets = {}
    for mode in ("sink", "source", "echo", "udpecho", "http"):
        _, targets[mode] = target_server(a.loadgen, mode)
    rows = []
    t0 = time.monotonic()
    for family in a.families.split(","):
        for scenario in a.scenarios.split(","):
            if (scenario in UDP_SCENARIOS) != (family in UDP_FAMILIES):
                continue
            if family in FAMILY_SCENARIOS and scenario not in FAMILY_SCENARIOS[family]:
                continue
            if scenario in SCENARIO_FAMILIES and family not in SCENARIO_FAMILIES[scenario]:
                continue
            results = {}
            t_scn = time.monotonic()
            peers = []
            for name, factory, binary in PEERS[family]:
                if binary and not shutil.which(binary):
                    continue
                if name in PEER_SCENARIOS and scenario not in PEER_SCENARIOS[name]:
                    continue
                if scenario.startswith("idle") and name in ("socat", "direct"):
                    continue  # socat: a process per connection, thousands of them measure nothing useful
                if scenario == "idle9000" and name == "dante":
                    continue  # ~200 KiB per connection in forked workers: 9,000 would take ~2 GiB
                if scenario in ("idle9000", "keepalive9000") and name == "tinyproxy":
                    continue  # a thread per connection: 9,000 take ~50 s of the run to set up
                peers.append((name, factory))
            # Runs are interleaved (run 1 of every peer, then run 2, ...): the machine is shared
            # and its load drifts, and drift should hit every peer alike, not the ones measured last.
            runs = {name: [] for name, _ in peers}
            for _ in range(a.runs):
                for name, factory in peers:
                    try:
                        runs[name].append(measure(a, scenario, family, name, factory, targets))
                    except Exception as e:  # a peer that fails a scenario is reported, not fatal
                        print(f"# {family}/{scenario}/{name}: {e}", file=sys.stderr)
            for name, _ in peers:
                if runs[name]:
                    results[name] = {k: statistics.median(r[k] for r in runs[name]) for k in runs[name][0]}
            print(f"# {family}/{scenario}: {time.monotonic() - t_scn:.1f} s (total {time.monotonic() - t0:.0f} s)",
                  file=sys.stderr, flush=True)
            g = results.get("gost")
            ga = results.get("gost+affinity")
            for name, m in results.items():
                for k, v in m.items():
                    ratio = ratio_aff = ""
                    if g and not name.startswith("gost") and v:
                        ratio = f"{g[k] / v:.2f}"
                    if ga and not name.startswith("gost") and v:
                        ratio_aff = f"{ga[k] / v:.2f}"
                    rows.append((family, scenario, name, k, v, ratio, ratio_aff))
                    print(f"{family:8} {scenario:9} {name:15} {k:13} {v:12.2f} {ratio:>6} {ratio_aff:>6}", flush=True)
        stop_running()
    print(f"\n# wall time {time.monotonic() - t0:.0f} s, TIME_WAIT sockets left: {time_wait_count()}", flush=True)
    print("\n(gost/peer: higher is better for gbps, conn_per_s, req_per_s and dgram_per_s; lower is better for the rest;"
          " gost+affinity/peer: the same for gost with GOST_CPU_AFFINITY=1)")
    print("\n| family | scenario | peer | metric | median | gost/peer | gost+affinity/peer |")
    print("|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r[0]} | {r[1]} | {r[2]} | {r[3]} | {r[4]:.2f} | {r[5]} | {r[6]} |")

if __name__ == "__main__":
    try:
        main()
    finally:
        cleanup()

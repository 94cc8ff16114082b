"""Configuration: -O yaml/json of a command line fed back with -C, YAML/JSON config files with
services, chains, bypasses and authers, and config errors that must stop gost with a message."""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (check, check_eq, curl, curl_ok, echo_roundtrip, run,  # noqa: E402
                     run_gost_once)


def dump(t, fmt, *args):
    rc, out, err = run_gost_once(t.gost_bin, list(args) + ["-O", fmt], timeout=20)
    check(rc == 0, f"gost {' '.join(args)} -O {fmt} failed rc={rc}: {err[-1500:]}")
    check(out.strip() != "", f"-O {fmt} printed nothing (stderr: {err[-500:]})")
    return out


def find_all(obj, key):
    """All values under `key` anywhere in a JSON tree (keys compared case-insensitively)."""
    found = []
    if isinstance(obj, dict):
        for k, v in obj.items():
            if k.lower() == key.lower():
                found.append(v)
            found += find_all(v, key)
    elif isinstance(obj, list):
        for v in obj:
            found += find_all(v, key)
    return found


def case_dump_json_structure(t):
    out = dump(t, "json", "-L", "http://alice:pw@127.0.0.1:0?bypass=127.0.0.2",
               "-F", "socks5://127.0.0.1:1080")
    try:
        cfg = json.loads(out)
    except ValueError as e:
        raise AssertionError(f"-O json is not JSON ({e}): {out[:500]}")
    svcs = cfg.get("services") or []
    check_eq(len(svcs), 1, "services in -O json")
    s = svcs[0]
    check_eq(s.get("addr"), "127.0.0.1:0", "service addr")
    check_eq((s.get("handler") or {}).get("type"), "http", "handler type")
    check_eq((s.get("listener") or {}).get("type"), "tcp", "listener type")
    check("alice" in json.dumps(s), f"handler auth missing from the service: {s}")
    chains = cfg.get("chains") or []
    check_eq(len(chains), 1, "chains in -O json")
    nodes = find_all(chains[0], "nodes")
    check(nodes and nodes[0] and nodes[0][0].get("addr") == "127.0.0.1:1080",
          f"chain node addr: {chains[0]}")
    check_eq((nodes[0][0].get("connector") or {}).get("type"), "socks5", "node connector type")
    check_eq((s.get("handler") or {}).get("chain"), chains[0].get("name"),
             "handler.chain names the chain")
    check("127.0.0.2" in json.dumps(cfg.get("bypasses", [])), f"bypass not in -O json: {out}")


def _roundtrip(t, fmt):
    o = t.origin()
    hop = t.gost("-L", "socks5://hu:hp@127.0.0.1:0", name="hop")
    out = dump(t, fmt, "-L", "http://alice:pw@127.0.0.1:0", "-F",
               f"socks5://hu:hp@{hop.hostport()}")
    path = t.write(f"dumped.{fmt}", out)
    g = t.gost("-C", path, name=f"from-{fmt}")
    curl_ok("-x", f"http://alice:pw@{g.hostport()}", o.url("/cfg"), want_body=o.body("/cfg"))
    r = curl("-x", f"http://alice:bad@{g.hostport()}", o.url("/cfg"))
    check_eq(r.code, 407, "wrong password through the re-loaded config")
    # Dump of the re-loaded config is stable.
    out2 = dump(t, fmt, "-C", path)
    if fmt == "json":
        check_eq(json.loads(out2), json.loads(out), "-C x.json -O json equals the first dump")
    return out


def case_dump_yaml_then_run(t):
    out = _roundtrip(t, "yaml")
    check("services:" in out and "chains:" in out, f"-O yaml output: {out[:400]}")


def case_dump_json_then_run(t):
    _roundtrip(t, "json")


def case_dump_forward_then_run(t):
    a, b = t.tcp_echo(), t.tcp_echo()
    out = dump(t, "json", "-L", f"tcp://127.0.0.1:0/{a.addr},{b.addr}?strategy=fifo")
    cfg = json.loads(out)
    nodes = find_all(cfg.get("services"), "nodes")
    check(nodes and [n.get("addr") for n in nodes[0]] == [a.addr, b.addr],
          f"forwarder nodes in -O json: {out}")
    check("fifo" in out, f"strategy missing from -O json: {out}")
    g = t.gost("-C", t.write("fwd.json", out))
    for i in range(3):
        echo_roundtrip(g.port(), f"fifo {i}".encode())
    check_eq((a.accepts, b.accepts), (3, 0), "fifo target use after the round trip")


CONFIG_YAML = """\
services:
- name: web
  addr: 127.0.0.1:0
  bypass: bp-0
  handler:
    type: http
    auther: auther-0
    chain: chain-0
  listener:
    type: tcp
- name: socks
  addr: 127.0.0.1:0
  handler:
    type: socks5
    auth:
      username: s
      password: t
    metadata:
      udp: true
  listener:
    type: tcp
- name: fwd
  addr: 127.0.0.1:0
  handler:
    type: tcp
  listener:
    type: tcp
  forwarder:
    nodes:
    - name: t0
      addr: {echo}
chains:
- name: chain-0
  hops:
  - name: hop-0
    nodes:
    - name: node-0
      addr: {hop}
      connector:
        type: socks5
        auth:
          username: hu
          password: hp
      dialer:
        type: tcp
authers:
- name: auther-0
  auths:
  - username: a1
    password: p1
  - username: a2
    password: p2
bypasses:
- name: bp-0
  matchers:
  - 127.0.0.2
  - "*.blocked.test"
log:
  level: info
"""


def _check_full_config(t, g, o, e):
    web = g.hostport("web")
    curl_ok("-x", f"http://a1:p1@{web}", o.url("/a1"), want_body=o.body("/a1"))
    curl_ok("-p", "-x", f"http://a2:p2@{web}", o.url("/a2"), want_body=o.body("/a2"))
    r = curl("-x", f"http://a1:p2@{web}", o.url("/bad"))
    check_eq(r.code, 407, "wrong password for auther-0 user")
    r = curl("-x", f"http://a1:p1@{web}", f"http://127.0.0.2:{o.port}/")
    check_eq(r.code, 403, "bypassed target through the config service")
    curl_ok("--socks5-hostname", f"s:t@{g.hostport('socks')}", o.url("/s"), want_body=o.body("/s"))
    r = curl("--socks5-hostname", f"s:x@{g.hostport('socks')}", o.url("/s"))
    check(r.rc != 0, "socks5 service accepted a wrong password")
    echo_roundtrip(g.port("fwd"), b"config forward")
    check_eq(len([q for q in o.requests if q[1] in ("/bad", "/")]), 0, "refused requests at origin")


def _yaml_setup(t):
    o = t.origin()
    e = t.tcp_echo()
    hop = t.gost("-L", "socks5://hu:hp@127.0.0.1:0", name="hop")
    return o, e, CONFIG_YAML.replace("{echo}", e.addr).replace("{hop}", hop.hostport())


def case_yaml_config_file(t):
    o, e, text = _yaml_setup(t)
    g = t.gost("-C", t.write("gost.yaml", text), services=["web", "socks", "fwd"])
    _check_full_config(t, g, o, e)


def _yaml_to_json(t, text):
    """Uses gost itself to convert (the test has no YAML parser): -C x.yaml -O json."""
    return dump(t, "json", "-C", t.write("conv.yaml", text))


def case_json_config_file(t):
    o, e, text = _yaml_setup(t)
    js = _yaml_to_json(t, text)
    cfg = json.loads(js)
    check_eq([s.get("name") for s in cfg.get("services", [])], ["web", "socks", "fwd"],
             "service names in the JSON form")
    g = t.gost("-C", t.write("gost.json", js), services=["web", "socks", "fwd"])
    _check_full_config(t, g, o, e)


def case_json_config_inline(t):
    o = t.origin()
    cfg = {"services": [{"name": "inline", "addr": "127.0.0.1:0",
                         "handler": {"type": "http"}, "listener": {"type": "tcp"}}]}
    g = t.gost("-C", json.dumps(cfg), services=["inline"])
    curl_ok("-x", f"http://{g.hostport('inline')}", o.url(), want_body=o.body())


def case_yaml_config_stdin(t):
    o = t.origin()
    text = ("services:\n- name: from-stdin\n  addr: 127.0.0.1:0\n  handler:\n    type: socks5\n"
            "  listener:\n    type: tcp\n")
    g = t.gost("-C", "-", stdin_data=text, services=["from-stdin"])
    curl_ok("--socks5-hostname", g.hostport("from-stdin"), o.url(), want_body=o.body())


def case_config_json_log_format(t):
    # log.format json: the readiness line is a JSON object (the harness parses both forms).
    o = t.origin()
    text = ("services:\n- name: js\n  addr: 127.0.0.1:0\n  handler:\n    type: http\n"
            "  listener:\n    type: tcp\nlog:\n  level: debug\n  format: json\n")
    g = t.gost("-C", t.write("jsonlog.yaml", text), services=["js"])
    curl_ok("-x", f"http://{g.hostport('js')}", o.url(), want_body=o.body())
    line = g.wait_line(lambda s, ln: '"msg":"listening"' in ln.replace(" ", ""), timeout=5,
                       what="a JSON 'listening' line")
    check(json.loads(line).get("service") == "js", f"JSON log line: {line}")


def _expect_config_error(t, text, needle, ext="yaml"):
    path = t.write(f"bad.{ext}", text)
    rc, out, err = run_gost_once(t.gost_bin, ["-C", path], timeout=15)
    check(rc != 0, f"gost accepted a config with {needle!r} (rc=0): {err[-500:]}")
    check(needle.lower() in (out + err).lower(),
          f"error message does not name {needle!r}: {(out + err)[-800:]}")


def case_config_unknown_top_level_key(t):
    _expect_config_error(t, "bogusTopKey: 1\nservices:\n- name: s\n  addr: 127.0.0.1:0\n"
                            "  handler:\n    type: http\n  listener:\n    type: tcp\n",
                         "bogusTopKey")


def case_config_unknown_service_key(t):
    _expect_config_error(t, "services:\n- name: s\n  addr: 127.0.0.1:0\n  handlr:\n"
                            "    type: http\n  listener:\n    type: tcp\n", "handlr")


def case_config_unknown_handler_type(t):
    _expect_config_error(t, "services:\n- name: s\n  addr: 127.0.0.1:0\n  handler:\n"
                            "    type: nosuchhandler\n  listener:\n    type: tcp\n",
                         "nosuchhandler")


def case_config_unknown_listener_type(t):
    _expect_config_error(t, "services:\n- name: s\n  addr: 127.0.0.1:0\n  handler:\n"
                            "    type: http\n  listener:\n    type: nosuchlistener\n",
                         "nosuchlistener")


def case_config_unknown_connector_type(t):
    _expect_config_error(t, "services:\n- name: s\n  addr: 127.0.0.1:0\n  handler:\n"
                            "    type: http\n    chain: c\n  listener:\n    type: tcp\n"
                            "chains:\n- name: c\n  hops:\n  - name: h\n    nodes:\n"
                            "    - name: n\n      addr: 127.0.0.1:1\n      connector:\n"
                            "        type: nosuchconnector\n", "nosuchconnector")


def case_config_unknown_key_json(t):
    _expect_config_error(t, json.dumps({"services": [{"name": "s", "addr": "127.0.0.1:0",
                                                      "handler": {"type": "http", "bogusJ": 1},
                                                      "listener": {"type": "tcp"}}]}),
                         "bogusJ", ext="json")


def case_config_syntax_error(t):
    path = t.write("broken.yaml", "services: [\n  - name: x\n    addr: : :\n")
    rc, out, err = run_gost_once(t.gost_bin, ["-C", path], timeout=15)
    check(rc != 0, "gost accepted malformed YAML")
    check((out + err).strip() != "", "no error message for malformed YAML")


def case_config_missing_file(t):
    rc, out, err = run_gost_once(t.gost_bin, ["-C", "/nonexistent/gost-itest.yaml"], timeout=15)
    check(rc != 0, "gost accepted a missing config file")
    check("gost-itest.yaml" in out + err, f"message does not name the file: {(out + err)[-400:]}")


def case_config_chain_reference_missing(t):
    _expect_config_error(t, "services:\n- name: s\n  addr: 127.0.0.1:0\n  handler:\n"
                            "    type: http\n    chain: nosuchchain\n  listener:\n    type: tcp\n",
                         "nosuchchain")


def case_cli_unknown_scheme_is_auto(t):
    # GOST: an unregistered -L scheme falls back to handler auto + listener tcp.
    o = t.origin()
    g = t.gost("-L", "nosuchscheme://127.0.0.1:0")
    curl_ok("--socks5-hostname", g.hostport(), o.url(), want_body=o.body())
    curl_ok("-x", f"http://{g.hostport()}", o.url(), want_body=o.body())


def case_cli_bad_port(t):
    rc, out, err = run_gost_once(t.gost_bin, ["-L", "http://127.0.0.1:notaport"], timeout=15)
    check(rc != 0, "gost accepted -L http://127.0.0.1:notaport")
    check((out + err).strip() != "", "no message for a bad -L port")


def case_cli_unknown_flag(t):
    rc, out, err = run_gost_once(t.gost_bin, ["-no-such-flag"], timeout=15)
    check(rc != 0, "gost accepted an unknown flag")
    check("no-such-flag" in out + err, f"message does not name the flag: {(out + err)[-400:]}")


def case_cli_version(t):
    rc, out, err = run_gost_once(t.gost_bin, ["-V"], timeout=15)
    check(rc == 0 and (out + err).strip() != "", f"-V: rc={rc} out={out!r} err={err[-300:]!r}")


def case_cli_debug_flag(t):
    o = t.origin()
    g = t.gost("-D", "-L", "http://127.0.0.1:0")
    curl_ok("-x", f"http://{g.hostport()}", o.url(), want_body=o.body())
    # GOST logs per-connection details at debug level; note (not fail) when there are none.
    if not any("level=debug" in ln or '"level":"debug"' in ln for ln in g.text().splitlines()):
        t.notes.append("no debug-level lines logged with -D")


CASES = [
    case_dump_json_structure,
    case_dump_yaml_then_run,
    case_dump_json_then_run,
    case_dump_forward_then_run,
    case_yaml_config_file,
    case_json_config_file,
    case_json_config_inline,
    case_yaml_config_stdin,
    case_config_json_log_format,
    case_config_unknown_top_level_key,
    case_config_unknown_service_key,
    case_config_unknown_handler_type,
    case_config_unknown_listener_type,
    case_config_unknown_connector_type,
    case_config_unknown_key_json,
    case_config_syntax_error,
    case_config_missing_file,
    case_config_chain_reference_missing,
    case_cli_unknown_scheme_is_auto,
    case_cli_bad_port,
    case_cli_unknown_flag,
    case_cli_version,
    case_cli_debug_flag,
]

if __name__ == "__main__":
    run(CASES)

// ws / wss listeners and dialers.
#include <string>

#include "gost/ws/ws.hpp"
#include "ws/layered.hpp"
#include "ws/transport.hpp"

namespace gost::ws {
namespace {

std::optional<std::string> get_key(const Metadata& md, std::string_view key) {
  if (auto v = md.get(std::string("ws.") + std::string(key))) return v;
  return md.get(key);
}

}  // namespace

Result<Options, ConfigError> options_from(const Metadata& md) {
  Options o;
  if (auto v = get_key(md, "path"); v && !v->empty()) o.path = *v;
  if (auto v = get_key(md, "host")) o.host = *v;
  const std::string hk = md.contains("ws.header") ? "ws.header" : "header";
  if (md.contains(hk)) o.header = md.get_string_map(hk);
  auto get_size = [&](std::string_view key, std::size_t& out) -> std::optional<ConfigError> {
    auto v = get_key(md, key);
    if (!v || v->empty()) return std::nullopt;
    Metadata one;
    one.set("k", *v);
    const auto n = one.get_int("k", -1);
    if (n < 0) return config_error("ws: " + std::string(key) + "=" + *v + " is not a size");
    if (n > 0) out = static_cast<std::size_t>(n);
    return std::nullopt;
  };
  if (auto e = get_size("readBufferSize", o.read_buffer_size)) return *e;
  if (auto e = get_size("writeBufferSize", o.write_buffer_size)) return *e;
  auto dur = [&](std::string_view key) -> std::optional<std::chrono::milliseconds> {
    auto v = get_key(md, key);
    if (!v || v->empty()) return std::chrono::milliseconds(0);
    return parse_duration(*v);
  };
  auto hs = dur("handshakeTimeout");
  if (!hs)
    return config_error("ws: handshakeTimeout=" + *get_key(md, "handshakeTimeout") +
                        " is not a duration");
  o.handshake_timeout = *hs;
  // keepAlive (bool) enables client pings every ttl (default 15s, as GOST); a duration works too.
  if (auto v = get_key(md, "keepAlive"); v && !v->empty()) {
    Metadata one;
    one.set("k", *v);
    if (one.get_bool("k", false)) {
      auto ttl = dur("ttl");
      o.keepalive = (ttl && ttl->count() > 0) ? *ttl : std::chrono::milliseconds(15000);
    } else if (one.get_bool("k", true)) {
      auto p = parse_duration(*v);
      if (!p) return config_error("ws: keepAlive=" + *v + " is neither a bool nor a duration");
      o.keepalive = *p;
    }
  }
  return o;
}

void register_module(Registry& r) {
  r.add_listener("ws", [](const ListenerArgs& a) { return make_ws_listener(a, false); });
  r.add_dialer("ws", [](const DialerArgs& a) { return make_ws_dialer(a, false); });
  register_wss(r);
}

}  // namespace gost::ws

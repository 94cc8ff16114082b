#include "gost/core/registry.hpp"

#include "core/transports.hpp"

namespace gost {
namespace {
template <class M>
std::vector<std::string> names_of(const M& m) {
  std::vector<std::string> out;
  out.reserve(m.size());
  for (auto& [k, v] : m) out.push_back(k);
  return out;
}
template <class M>
auto find_in(const M& m, std::string_view name) -> decltype(&m.begin()->second) {
  auto it = m.find(name);
  return it == m.end() ? nullptr : &it->second;
}
}  // namespace

void Registry::add_listener(std::string name, ListenerFactory f) { listeners_[std::move(name)] = std::move(f); }
void Registry::add_handler(std::string name, HandlerFactory f) { handlers_[std::move(name)] = std::move(f); }
void Registry::add_dialer(std::string name, DialerFactory f) { dialers_[std::move(name)] = std::move(f); }
void Registry::add_connector(std::string name, ConnectorFactory f) { connectors_[std::move(name)] = std::move(f); }

const ListenerFactory* Registry::listener(std::string_view n) const { return find_in(listeners_, n); }
const HandlerFactory* Registry::handler(std::string_view n) const { return find_in(handlers_, n); }
const DialerFactory* Registry::dialer(std::string_view n) const { return find_in(dialers_, n); }
const ConnectorFactory* Registry::connector(std::string_view n) const { return find_in(connectors_, n); }

std::vector<std::string> Registry::listener_names() const { return names_of(listeners_); }
std::vector<std::string> Registry::handler_names() const { return names_of(handlers_); }
std::vector<std::string> Registry::dialer_names() const { return names_of(dialers_); }
std::vector<std::string> Registry::connector_names() const { return names_of(connectors_); }

void register_core(Registry& r) {
  core::register_tcp(r);
  core::register_udp(r);
}

}  // namespace gost

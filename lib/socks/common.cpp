#include "socks/common.hpp"

#include <algorithm>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>

namespace gost::socks::detail {

asio::awaitable<std::error_code> write_bytes(Stream* s, std::vector<std::uint8_t> bytes) {
  co_return co_await write_all(*s, asio::buffer(bytes));
}

asio::ip::address plain_ip(const asio::ip::address& ip) {
  if (ip.is_v6() && ip.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, ip.to_v6());
  return ip;
}

std::optional<asio::ip::address> plain_ip(const Address& a) {
  auto ip = a.ip();
  if (!ip) return std::nullopt;
  return plain_ip(*ip);
}

Address reply_address(const Address& a) {
  auto ip = plain_ip(a);
  if (!ip) return Address("0.0.0.0", 0);
  return Address(ip->to_string(), a.port);
}

Address endpoint_address(const asio::ip::tcp::endpoint& ep) {
  return Address(plain_ip(ep.address()).to_string(), ep.port());
}

std::uint8_t socks5_reply_code(const std::error_code& ec) {
  if (ec == errc::bypassed || ec == errc::forbidden || ec == errc::not_admitted)
    return kRepNotAllowed;
  // Asio reports socket errors in its own category, which does not map to std::errc.
  if (ec == errc::host_unreachable || ec == asio::error::host_unreachable ||
      ec == std::errc::host_unreachable) {
    return kRepHostUnreachable;
  }
  if (ec == errc::connection_refused || ec == asio::error::connection_refused ||
      ec == std::errc::connection_refused) {
    return kRepConnectionRefused;
  }
  if (ec == errc::timeout || ec == asio::error::timed_out || ec == std::errc::timed_out)
    return kRepTtlExpired;
  if (ec == errc::no_route || ec == asio::error::network_unreachable ||
      ec == std::errc::network_unreachable) {
    return kRepNetworkUnreachable;
  }
  if (ec == errc::unsupported) return kRepCommandNotSupported;
  return kRepGeneralFailure;
}

SelectOptions select_options(const ConnRecord& rec, const std::string& network,
                             const Address& target, bool hash_host) {
  SelectOptions sel;
  sel.network = network;
  sel.addr = target.to_string();
  sel.host = target.host;
  sel.client_id = rec.user;
  sel.client = rec.client;
  if (hash_host) sel.hash_key = target.host;
  return sel;
}

Result<HandlerConfig, ConfigError> parse_handler_config(const HandlerArgs& args,
                                                        const std::string& name) {
  const Metadata& md = args.metadata;
  HandlerConfig c;
  c.read_timeout = md.get_duration("readTimeout", std::chrono::milliseconds(0));
  if (c.read_timeout.count() <= 0) c.read_timeout = std::chrono::seconds(15);
  c.bind_timeout = md.get_duration("bindTimeout", std::chrono::milliseconds(0));
  if (c.bind_timeout.count() <= 0) c.bind_timeout = std::chrono::seconds(60);
  c.enable_bind = md.get_bool("bind");
  c.enable_udp = md.get_bool("udp");
  std::int64_t bs = md.get_int("udp.bufferSize", md.get_int("udpBufferSize", 0));
  c.udp_buffer =
      bs > 0 ? static_cast<std::size_t>(std::clamp<std::int64_t>(bs, 512, 65535)) : 65535;
  const std::int64_t lo = md.get_int("udp.bindRange.min", 0);
  const std::int64_t hi = md.get_int("udp.bindRange.max", 0);
  if (lo < 0 || hi < 0 || lo > 65535 || hi > 65535 || (lo > 0 && hi > 0 && hi < lo)) {
    return config_error("service \"" + args.service + "\": " + name +
                        " handler: invalid udp.bindRange " + std::to_string(lo) + "-" +
                        std::to_string(hi));
  }
  c.udp_bind_min = static_cast<std::uint16_t>(lo);
  c.udp_bind_max = static_cast<std::uint16_t>(hi > 0 ? hi : lo);
  c.udp_ttl = md.get_duration("ttl", std::chrono::milliseconds(0));
  c.public_addr = md.get_string("publicAddr");
  if (!c.public_addr.empty() && !Address(c.public_addr, 0).is_ip()) {
    return config_error("service \"" + args.service + "\": " + name + " handler: publicAddr \"" +
                        c.public_addr + "\" is not an IP address");
  }
  c.hash_host = md.get_string("hash") == "host";
  c.compat = md.get_bool("comp");
  auto mo = mux::options_from(md);
  if (!mo) {
    return config_error("service \"" + args.service + "\": " + name + " handler: " +
                        mo.error().message);
  }
  c.mux = *mo;
  if (!args.router)
    return config_error("service \"" + args.service + "\": " + name + " handler: no router");
  return c;
}

std::error_code open_bind_acceptor(asio::ip::tcp::acceptor& acc, const asio::ip::address& ip,
                                   std::uint16_t port) {
  std::error_code ec;
  asio::ip::tcp::endpoint ep(ip, port);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(1, ec);
  if (ec) {
    std::error_code ignore;
    acc.close(ignore);
  }
  return ec;
}

namespace {

constexpr std::size_t kMaxEarly = 64 * 1024;

// Reads the control stream while BIND waits, keeping every byte read: it stops on EOF/error or
// when cancelled. A read that completed as the cancellation came is still kept (the bytes are
// appended before the cancellation is looked at), so nothing the client sent early is lost.
asio::awaitable<std::error_code> pump_control(Stream* ctrl, std::vector<unsigned char>* early) {
  std::vector<unsigned char> buf(4096);
  for (;;) {
    auto r = co_await ctrl->read_some(asio::buffer(buf));
    early->insert(early->end(), buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(r.bytes));
    if (r.ec) co_return r.ec;
    if (r.bytes == 0) co_return std::error_code(asio::error::eof);
    if (early->size() > kMaxEarly) co_return make_error_code(errc::message_too_large);
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none)
      co_return std::error_code(asio::error::operation_aborted);
  }
}

asio::awaitable<Result<asio::ip::tcp::socket>> accept_within(asio::ip::tcp::acceptor* acc,
                                                             std::chrono::milliseconds timeout) {
  using namespace asio::experimental::awaitable_operators;
  asio::steady_timer timer(co_await asio::this_coro::executor, timeout);
  auto r = co_await (acc->async_accept(use_tuple) || timer.async_wait(use_tuple));
  if (r.index() == 1) co_return make_error_code(errc::timeout);
  auto& [ec, sock] = std::get<0>(r);
  if (ec) co_return ec;
  co_return std::move(sock);
}

}  // namespace

asio::awaitable<Result<asio::ip::tcp::socket>> accept_bind_peer(Stream* ctrl,
                                                                asio::ip::tcp::acceptor* acc,
                                                                std::chrono::milliseconds timeout,
                                                                std::vector<unsigned char>* early) {
  using namespace asio::experimental::awaitable_operators;
  // Never `||` a bare read_some: the loser's completed read would be thrown away.
  auto r = co_await (pump_control(ctrl, early) || accept_within(acc, timeout));
  if (r.index() == 0) co_return std::get<0>(r);  // the client closed or misbehaved first
  co_return std::move(std::get<1>(r));
}

}  // namespace gost::socks::detail

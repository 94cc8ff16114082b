#include "socks/udptun.hpp"

#include <algorithm>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>
#include <asio/steady_timer.hpp>
#include <cstring>
#include <optional>

#include "socks/codec.hpp"
#include "socks/common.hpp"

namespace gost::socks {

namespace {
// Longest frame: the largest header plus a 65535-byte datagram.
constexpr std::size_t kMaxFrame = kMaxUdpHeader + 65535;
}  // namespace

Parsed<UdpTunFrame> parse_udp_tun_frame(Bytes in) {
  using P = Parsed<UdpTunFrame>;
  auto h = parse_udp_header(in);
  if (!h.ok()) return h.failed() ? P::fail(h.ec) : P::more();
  UdpTunFrame f;
  f.addr = std::move(h.value.addr);
  f.header_len = h.consumed;
  f.data_len = h.value.rsv;
  if (in.size() < f.header_len + f.data_len) return P::more();
  return P::done(f.header_len + f.data_len, std::move(f));
}

std::error_code serialize_udp_tun_header(const Address& addr, std::size_t data_len,
                                         std::vector<std::uint8_t>& out) {
  if (data_len > 0xFFFF) return make_error_code(errc::message_too_large);
  UdpHeader h;
  h.rsv = static_cast<std::uint16_t>(data_len);
  h.frag = kUdpTunFrag;
  h.addr = addr;
  return serialize(h, out);
}

// ------------------------------------------------------------------------- UdpTunPacketConn

UdpTunPacketConn::UdpTunPacketConn(StreamPtr s) : s_(std::move(s)), reader_(*s_, kMaxFrame) {}

UdpTunPacketConn::~UdpTunPacketConn() { s_->close(); }

asio::awaitable<PacketResult> UdpTunPacketConn::recv_from(asio::mutable_buffer buf) {
  for (;;) {
    auto p = parse_udp_tun_frame(Bytes(reader_.data(), reader_.size()));
    if (p.failed()) co_return PacketResult{p.ec, 0, {}};
    if (p.ok()) {
      const std::size_t n = std::min(buf.size(), p.value.data_len);
      if (n > 0) std::memcpy(buf.data(), reader_.data() + p.value.header_len, n);
      reader_.consume(p.consumed);
      co_return PacketResult{{}, n, std::move(p.value.addr)};
    }
    if (auto ec = co_await reader_.fill()) co_return PacketResult{ec, 0, {}};
  }
}

asio::awaitable<std::error_code> UdpTunPacketConn::send_to(asio::const_buffer buf, Address to) {
  wbuf_.clear();
  if (auto ec = serialize_udp_tun_header(to, buf.size(), wbuf_)) co_return ec;
  const auto* p = static_cast<const std::uint8_t*>(buf.data());
  wbuf_.insert(wbuf_.end(), p, p + buf.size());
  co_return co_await write_all(*s_, asio::buffer(wbuf_));
}

// ------------------------------------------------------------------------ PacketTargetStream

asio::awaitable<IoResult> PacketTargetStream::read_some(asio::mutable_buffer buf) {
  auto r = co_await pc_->recv_from(buf);
  co_return IoResult{r.ec, r.bytes};
}

asio::awaitable<IoResult> PacketTargetStream::write_some(asio::const_buffer buf) {
  auto ec = co_await pc_->send_to(buf, target_);
  co_return IoResult{ec, ec ? 0 : buf.size()};
}

// ----------------------------------------------------------------------------- relay_packets

namespace {
using clock_type = std::chrono::steady_clock;

bool transient(const std::error_code& ec) {
  return ec == asio::error::connection_refused || ec == asio::error::connection_reset ||
         ec == asio::error::host_unreachable || ec == asio::error::network_unreachable ||
         ec == asio::error::message_size || ec == asio::error::no_buffer_space ||
         ec == asio::error::host_not_found || ec == asio::error::host_not_found_try_again ||
         ec == errc::host_unreachable;
}

bool benign(const std::error_code& ec) {
  return ec == asio::error::eof || ec == asio::error::operation_aborted ||
         ec == asio::error::connection_reset || ec == asio::error::bad_descriptor ||
         ec == asio::error::broken_pipe || ec == errc::closed;
}

class PacketRelay {
 public:
  PacketRelay(PacketConn& client, PacketConn& upstream, UdpRelayOptions opts)
      : client_(client),
        upstream_(upstream),
        opts_(std::move(opts)),
        idle_(client.get_executor()) {}

  asio::awaitable<UdpRelayResult> run() {
    using namespace asio::experimental::awaitable_operators;
    co_await (up() && down() && watch_idle());
    co_return std::move(res_);
  }

 private:
  void stop(std::error_code ec) {
    if (ec && !benign(ec) && !res_.ec && !stopped_) res_.ec = ec;
    if (stopped_) return;
    stopped_ = true;
    client_.close();
    upstream_.close();
    idle_.cancel();
  }

  asio::awaitable<void> up() {
    std::vector<unsigned char> buf(opts_.buffer);
    std::error_code end;
    while (!stopped_) {
      auto r = co_await client_.recv_from(asio::buffer(buf));
      if (stopped_) break;
      if (r.ec) {
        end = r.ec;
        break;
      }
      const std::string target = r.from.to_string();
      if (opts_.bypass &&
          opts_.bypass->contains("udp", target, BypassOptions{opts_.service, {}, {}})) {
        continue;
      }
      if (res_.first_target.empty()) res_.first_target = target;
      auto ec = co_await upstream_.send_to(asio::buffer(buf.data(), r.bytes), r.from);
      if (stopped_) break;
      if (ec) {
        if (transient(ec)) continue;
        end = ec;
        break;
      }
      res_.bytes_up += r.bytes;
      last_ = clock_type::now();
    }
    stop(end);
  }

  asio::awaitable<void> down() {
    std::vector<unsigned char> buf(opts_.buffer);
    std::error_code end;
    while (!stopped_) {
      auto r = co_await upstream_.recv_from(asio::buffer(buf));
      if (stopped_) break;
      if (r.ec) {
        if (transient(r.ec)) continue;
        end = r.ec;
        break;
      }
      Address from = r.from;
      if (auto ip = detail::plain_ip(from)) from.host = ip->to_string();
      auto ec = co_await client_.send_to(asio::buffer(buf.data(), r.bytes), std::move(from));
      if (stopped_) break;
      if (ec) {
        end = ec;
        break;
      }
      res_.bytes_down += r.bytes;
      last_ = clock_type::now();
    }
    stop(end);
  }

  asio::awaitable<void> watch_idle() {
    const auto ttl = opts_.ttl;
    while (!stopped_) {
      idle_.expires_at(ttl.count() > 0 ? last_ + ttl : clock_type::time_point::max());
      co_await idle_.async_wait(detail::use_tuple);
      if (stopped_) break;
      if (ttl.count() > 0 && clock_type::now() - last_ >= ttl) break;
    }
    stop({});
  }

  PacketConn& client_;
  PacketConn& upstream_;
  UdpRelayOptions opts_;
  asio::steady_timer idle_;
  UdpRelayResult res_;
  clock_type::time_point last_ = clock_type::now();
  bool stopped_ = false;
};

}  // namespace

asio::awaitable<UdpRelayResult> relay_packets(PacketConn& client, PacketConn& upstream,
                                              UdpRelayOptions opts) {
  if (opts.buffer == 0) opts.buffer = 65535;
  PacketRelay r(client, upstream, std::move(opts));
  co_return co_await r.run();
}

}  // namespace gost::socks

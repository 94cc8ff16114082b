#include "ss/udp.hpp"

#include <asio/error.hpp>
#include <cstring>

namespace gost::ss {

asio::awaitable<std::error_code> TunReader::next(TunFrame* f, const std::uint8_t** data) {
  for (;;) {
    auto p = parse_tun_frame(Bytes(buf_.data() + start_, buf_.size() - start_));
    if (p.ok()) {
      *f = std::move(p.value);
      *data = buf_.data() + start_ + f->data_off;
      start_ += p.consumed;
      co_return std::error_code{};
    }
    if (p.failed()) co_return p.ec;
    if (start_ > 0) {
      buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(start_));
      start_ = 0;
    }
    if (buf_.size() > kMaxDatagram + 512) co_return make_error_code(errc::message_too_large);
    const std::size_t old = buf_.size();
    buf_.resize(old + 16 * 1024);
    auto r = co_await s_->read_some(asio::buffer(buf_.data() + old, buf_.size() - old));
    buf_.resize(old + r.bytes);
    if (r.ec && r.bytes == 0) co_return r.ec;
  }
}

asio::awaitable<std::error_code> write_tun_frame(Stream* s, Address to, const std::uint8_t* data,
                                                 std::size_t n) {
  std::vector<std::uint8_t> out;
  out.reserve(n + 262);
  if (auto ec = serialize_tun_header(to, n, out)) co_return ec;
  out.insert(out.end(), data, data + n);
  co_return co_await write_all(*s, asio::buffer(out));
}

namespace {
std::uint64_t random_id() {
  std::uint8_t b[8];
  random_bytes(b, 8);
  std::uint64_t v = 0;
  for (auto x : b) v = v << 8 | x;
  return v;
}
}  // namespace

ClientPacketCodec::ClientPacketCodec(std::shared_ptr<const Keys> keys)
    : keys_(std::move(keys)), session_id_(random_id()) {}

std::error_code ClientPacketCodec::seal(const Address& to, const std::uint8_t* data, std::size_t n,
                                        std::vector<std::uint8_t>& out) {
  if (keys_->method->edition != Edition::aead2022) return seal_packet(*keys_, to, data, n, out);
  return seal_2022_request(*keys_, session_id_, packet_id_++, to, data, n, out, unix_now());
}

std::error_code ClientPacketCodec::open(std::uint8_t* pkt, std::size_t n, Address* from,
                                        std::size_t* off, std::size_t* len) {
  if (keys_->method->edition != Edition::aead2022) {
    return open_packet(*keys_, pkt, n, from, off, len);
  }
  Packet2022 info;
  if (auto ec = open_2022_packet(*keys_, false, pkt, n, &info, off, len, unix_now())) return ec;
  if (info.client_session_id != session_id_) return make_error_code(errc::bad_request);
  if (info.session_id != server_session_) {
    server_session_ = info.session_id;
    window_.reset();
  }
  if (!window_.check_and_add(info.packet_id)) return make_error_code(errc::forbidden);
  *from = std::move(info.addr);
  return {};
}

ServerPacketCodec::ServerPacketCodec(std::shared_ptr<const Keys> keys)
    : keys_(std::move(keys)), session_id_(random_id()) {}

std::error_code ServerPacketCodec::open(std::uint8_t* pkt, std::size_t n, Address* target,
                                        std::size_t* off, std::size_t* len) {
  if (keys_->method->edition != Edition::aead2022) {
    return open_packet(*keys_, pkt, n, target, off, len);
  }
  Packet2022 info;
  if (auto ec = open_2022_packet(*keys_, true, pkt, n, &info, off, len, unix_now())) return ec;
  if (!have_client_ || info.session_id != client_session_) {
    have_client_ = true;
    client_session_ = info.session_id;
    window_.reset();
  }
  if (!window_.check_and_add(info.packet_id)) return make_error_code(errc::forbidden);
  key_ = std::move(info.key);
  *target = std::move(info.addr);
  return {};
}

std::error_code ServerPacketCodec::seal(const Address& from, const std::uint8_t* data,
                                        std::size_t n, std::vector<std::uint8_t>& out) {
  if (keys_->method->edition != Edition::aead2022) return seal_packet(*keys_, from, data, n, out);
  if (!have_client_) return make_error_code(errc::bad_request);
  return seal_2022_response(*keys_, key_, session_id_, packet_id_++, client_session_, from, data, n,
                            out, unix_now());
}

namespace {

class PacketStream final : public Stream {
 public:
  PacketStream(StreamPtr t, std::shared_ptr<const Keys> k, Address target)
      : t_(std::move(t)), codec_(std::move(k)), target_(std::move(target)) {}
  asio::any_io_executor get_executor() override { return t_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override {
    std::vector<std::uint8_t> pkt(kMaxDatagram);
    for (;;) {
      auto r = co_await t_->read_some(asio::buffer(pkt));
      if (r.ec) co_return IoResult{r.ec, 0};
      Address from;
      std::size_t off = 0, len = 0;
      if (codec_.open(pkt.data(), r.bytes, &from, &off, &len)) continue;  // dropped
      const std::size_t n = std::min(len, buf.size());
      std::memcpy(buf.data(), pkt.data() + off, n);
      co_return IoResult{{}, n};
    }
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override {
    std::vector<std::uint8_t> out;
    if (auto ec =
            codec_.seal(target_, static_cast<const std::uint8_t*>(buf.data()), buf.size(), out)) {
      co_return IoResult{ec, 0};
    }
    auto r = co_await t_->write_some(asio::buffer(out));
    co_return IoResult{r.ec, r.ec ? 0 : buf.size()};
  }
  asio::awaitable<std::error_code> shutdown_write() override { co_return std::error_code{}; }
  void close() noexcept override { t_->close(); }
  bool is_datagram() const noexcept override { return true; }
  Address local_address() const override { return t_->local_address(); }
  Address remote_address() const override { return t_->remote_address(); }

 private:
  StreamPtr t_;
  ClientPacketCodec codec_;
  Address target_;
};

class TunStream final : public Stream {
 public:
  TunStream(StreamPtr s, Address target)
      : s_(std::move(s)), reader_(s_.get()), target_(std::move(target)) {}
  asio::any_io_executor get_executor() override { return s_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override {
    TunFrame f;
    const std::uint8_t* data = nullptr;
    if (auto ec = co_await reader_.next(&f, &data)) co_return IoResult{ec, 0};
    const std::size_t n = std::min(f.data_len, buf.size());
    std::memcpy(buf.data(), data, n);
    co_return IoResult{{}, n};
  }
  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override {
    auto ec = co_await write_tun_frame(s_.get(), target_,
                                       static_cast<const std::uint8_t*>(buf.data()), buf.size());
    co_return IoResult{ec, ec ? 0 : buf.size()};
  }
  asio::awaitable<std::error_code> shutdown_write() override {
    co_return co_await s_->shutdown_write();
  }
  void close() noexcept override { s_->close(); }
  bool is_datagram() const noexcept override { return true; }
  Address local_address() const override { return s_->local_address(); }
  Address remote_address() const override { return s_->remote_address(); }

 private:
  StreamPtr s_;
  TunReader reader_;
  Address target_;
};

class PacketConnOverDatagrams final : public PacketConn {
 public:
  PacketConnOverDatagrams(StreamPtr t, std::shared_ptr<const Keys> k)
      : t_(std::move(t)), codec_(std::move(k)) {}
  asio::any_io_executor get_executor() override { return t_->get_executor(); }
  asio::awaitable<PacketResult> recv_from(asio::mutable_buffer buf) override {
    std::vector<std::uint8_t> pkt(kMaxDatagram);
    for (;;) {
      auto r = co_await t_->read_some(asio::buffer(pkt));
      if (r.ec) co_return PacketResult{r.ec, 0, {}};
      PacketResult res;
      std::size_t off = 0, len = 0;
      if (codec_.open(pkt.data(), r.bytes, &res.from, &off, &len)) continue;
      res.bytes = std::min(len, buf.size());
      std::memcpy(buf.data(), pkt.data() + off, res.bytes);
      co_return res;
    }
  }
  asio::awaitable<std::error_code> send_to(asio::const_buffer buf, Address to) override {
    std::vector<std::uint8_t> out;
    if (auto ec = codec_.seal(to, static_cast<const std::uint8_t*>(buf.data()), buf.size(), out)) {
      co_return ec;
    }
    auto r = co_await t_->write_some(asio::buffer(out));
    co_return r.ec;
  }
  void close() noexcept override { t_->close(); }
  Address local_address() const override { return t_->local_address(); }

 private:
  StreamPtr t_;
  ClientPacketCodec codec_;
};

class TunPacketConn final : public PacketConn {
 public:
  explicit TunPacketConn(StreamPtr s) : s_(std::move(s)), reader_(s_.get()) {}
  asio::any_io_executor get_executor() override { return s_->get_executor(); }
  asio::awaitable<PacketResult> recv_from(asio::mutable_buffer buf) override {
    TunFrame f;
    const std::uint8_t* data = nullptr;
    if (auto ec = co_await reader_.next(&f, &data)) co_return PacketResult{ec, 0, {}};
    PacketResult res;
    res.bytes = std::min(f.data_len, buf.size());
    std::memcpy(buf.data(), data, res.bytes);
    res.from = std::move(f.addr);
    co_return res;
  }
  asio::awaitable<std::error_code> send_to(asio::const_buffer buf, Address to) override {
    co_return co_await write_tun_frame(s_.get(), std::move(to),
                                       static_cast<const std::uint8_t*>(buf.data()), buf.size());
  }
  void close() noexcept override { s_->close(); }
  Address local_address() const override { return s_->local_address(); }

 private:
  StreamPtr s_;
  TunReader reader_;
};

}  // namespace

StreamPtr make_packet_stream(StreamPtr transport, std::shared_ptr<const Keys> keys,
                             Address target) {
  return std::make_unique<PacketStream>(std::move(transport), std::move(keys), std::move(target));
}
StreamPtr make_tun_stream(StreamPtr ss_stream, Address target) {
  return std::make_unique<TunStream>(std::move(ss_stream), std::move(target));
}
PacketConnPtr make_packet_conn(StreamPtr transport, std::shared_ptr<const Keys> keys) {
  return std::make_unique<PacketConnOverDatagrams>(std::move(transport), std::move(keys));
}
PacketConnPtr make_tun_packet_conn(StreamPtr ss_stream) {
  return std::make_unique<TunPacketConn>(std::move(ss_stream));
}

}  // namespace gost::ss

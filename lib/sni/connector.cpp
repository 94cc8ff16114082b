// The sni connector (go-gost/x connector/sni): a pass-through that rewrites the first TLS
// ClientHello's SNI, or the first HTTP request's Host, to the configured `host`, carrying the
// real name in extension 0xFFFE / a Gost-Target header for GOST's sni handler.
#include "gost/sni/sni.hpp"
#include "sni/codec.hpp"

namespace gost::sni {
namespace {

constexpr std::size_t kMaxHead = 64 * 1024;

class SniClientStream final : public Stream {
 public:
  SniClientStream(StreamPtr inner, std::string host)
      : inner_(std::move(inner)), host_(std::move(host)) {}

  asio::any_io_executor get_executor() override { return inner_->get_executor(); }
  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override {
    return inner_->read_some(buf);
  }
  asio::awaitable<std::error_code> wait_readable() override { return inner_->wait_readable(); }
  void close() noexcept override { inner_->close(); }
  Address local_address() const override { return inner_->local_address(); }
  Address remote_address() const override { return inner_->remote_address(); }
  asio::ip::tcp::socket* tcp_socket() noexcept override {
    return done_ ? inner_->tcp_socket() : nullptr;
  }

  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override {
    if (done_) co_return co_await inner_->write_some(buf);
    if (buf.size() == 0) co_return IoResult{};
    const auto* p = static_cast<const std::uint8_t*>(buf.data());
    pending_.insert(pending_.end(), p, p + buf.size());
    std::vector<std::uint8_t> out;
    Bytes in(pending_.data(), pending_.size());
    if (pending_[0] == 0x16) {
      auto ch = parse_client_hello(in);
      if (ch.need_more() && pending_.size() < kMaxHead) co_return IoResult{{}, buf.size()};
      if (ch.ok()) {
        if (auto r = rewrite_client_hello(in, ch.value, host_)) {
          out = std::move(*r);
          out.insert(out.end(), pending_.begin() + static_cast<std::ptrdiff_t>(ch.consumed),
                     pending_.end());
        }
      }
    } else {
      auto h = parse_http_head(in, kMaxHead);
      if (h.need_more()) co_return IoResult{{}, buf.size()};
      if (h.ok()) {
        out = rewrite_http_head(Bytes(pending_.data(), h.consumed), h.value, host_);
        out.insert(out.end(), pending_.begin() + static_cast<std::ptrdiff_t>(h.consumed),
                   pending_.end());
      }
    }
    // Not what we can rewrite: it goes on as it is.
    if (out.empty()) out = std::move(pending_);
    pending_.clear();
    pending_.shrink_to_fit();
    done_ = true;
    if (auto ec = co_await write_all(*inner_, asio::buffer(out))) co_return IoResult{ec, 0};
    co_return IoResult{{}, buf.size()};
  }

  asio::awaitable<std::error_code> shutdown_write() override {
    if (!done_ && !pending_.empty()) {
      done_ = true;
      auto data = std::move(pending_);
      if (auto ec = co_await write_all(*inner_, asio::buffer(data))) co_return ec;
    }
    done_ = true;
    co_return co_await inner_->shutdown_write();
  }

 private:
  StreamPtr inner_;
  std::string host_;
  std::vector<std::uint8_t> pending_;
  bool done_ = false;
};

class SniConnector final : public Connector {
 public:
  explicit SniConnector(std::string host) : host_(std::move(host)) {}
  asio::awaitable<Result<StreamPtr>> connect(StreamPtr conn, std::string network,
                                             Address) override {
    if (network != "tcp") {
      conn->close();
      co_return make_error_code(errc::unsupported);
    }
    if (host_.empty()) co_return std::move(conn);
    co_return StreamPtr(std::make_unique<SniClientStream>(std::move(conn), host_));
  }

 private:
  std::string host_;
};

}  // namespace

Result<ConnectorPtr, ConfigError> make_sni_connector(const ConnectorArgs& args) {
  return ConnectorPtr(std::make_shared<SniConnector>(args.metadata.get_string("host")));
}

}  // namespace gost::sni

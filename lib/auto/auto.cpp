// "auto": SOCKS4, SOCKS5 and HTTP on one port, chosen by the first byte (0x04, 0x05, else HTTP).
#include "gost/core/registry.hpp"
#include "gost/core/timeout.hpp"
#include "gost/http/http.hpp"
#include "gost/socks/socks.hpp"

namespace gost::autoproxy {
namespace {

class AutoHandler final : public Handler {
 public:
  AutoHandler(HandlerPtr socks4, HandlerPtr socks5, HandlerPtr http, std::chrono::milliseconds read_timeout)
      : socks4_(std::move(socks4)), socks5_(std::move(socks5)), http_(std::move(http)),
        read_timeout_(read_timeout) {}

  asio::awaitable<void> handle(StreamPtr conn, ConnRecord& rec) override {
    unsigned char first = 0;
    auto r = co_await with_timeout(conn->read_some(asio::buffer(&first, 1)), read_timeout_);
    if (!r || r->ec || r->bytes == 0) {
      rec.ec = !r ? make_error_code(errc::timeout) : r->ec ? r->ec : make_error_code(asio::error::eof);
      conn->close();
      co_return;
    }
    StreamPtr s = make_prefixed(std::move(conn), {first});
    switch (first) {
      case 0x04:
        rec.protocol = "socks4";
        co_await socks4_->handle(std::move(s), rec);
        break;
      case 0x05:
        rec.protocol = "socks5";
        co_await socks5_->handle(std::move(s), rec);
        break;
      default:
        rec.protocol = "http";
        co_await http_->handle(std::move(s), rec);
        break;
    }
  }

 private:
  HandlerPtr socks4_, socks5_, http_;
  std::chrono::milliseconds read_timeout_;
};

Result<HandlerPtr, ConfigError> make_auto_handler(const HandlerArgs& a) {
  auto s4 = socks::make_socks4_handler(a);
  if (!s4) return s4.error();
  auto s5 = socks::make_socks5_handler(a);
  if (!s5) return s5.error();
  auto h = http::make_http_handler(a);
  if (!h) return h.error();
  return HandlerPtr(std::make_shared<AutoHandler>(std::move(*s4), std::move(*s5), std::move(*h),
                                                  a.metadata.get_duration("readTimeout", std::chrono::seconds(15))));
}

}  // namespace

void register_module(Registry& r) { r.add_handler("auto", make_auto_handler); }

}  // namespace gost::autoproxy

#include "socks/muxbind.hpp"

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/error.hpp>
#include <asio/experimental/awaitable_operators.hpp>

#include <asio/post.hpp>

#include "gost/core/bind.hpp"
#include "gost/core/bridge.hpp"
#include "gost/core/timeout.hpp"
#include "socks/common.hpp"

namespace gost::socks {
namespace {

asio::awaitable<void> serve_one(mux::SessionPtr session, asio::ip::tcp::socket sock,
                                std::vector<std::uint8_t> hello) {
  TcpStream peer(std::move(sock));
  auto st = co_await session->open();
  if (!st) {
    peer.close();
    co_return;
  }
  if (!hello.empty()) {
    if (auto ec = co_await write_all(**st, asio::buffer(hello))) {
      (*st)->close();
      peer.close();
      co_return;
    }
  }
  co_await bridge(peer, **st);
}

struct BindState {
  mux::SessionPtr session;
  asio::ip::tcp::acceptor* acc;
  BindHello hello;
  MuxBindResult res;
};

asio::awaitable<void> accept_loop(BindState* st) {
  for (;;) {
    auto [ec, sock] = co_await st->acc->async_accept(detail::use_tuple);
    if (ec) {
      if (ec != asio::error::operation_aborted && !st->session->is_closed()) st->res.ec = ec;
      break;
    }
    ++st->res.accepted;
    std::error_code pec;
    auto ep = sock.remote_endpoint(pec);
    Address peer = pec ? Address("0.0.0.0", 0) : detail::endpoint_address(ep);
    auto ex = sock.get_executor();
    asio::co_spawn(ex, serve_one(st->session, std::move(sock), st->hello(peer)), asio::detached);
  }
  st->session->close();
}

asio::awaitable<void> drain_session(BindState* st) {
  for (;;) {
    auto s = co_await st->session->accept();
    if (!s) break;
    (*s)->close();  // nothing is served on streams the other side opens
  }
  std::error_code ignore;
  st->acc->close(ignore);
}

asio::awaitable<Result<Address>> read_hello_of(StreamReader* reader, ReadHello read_hello) {
  co_return co_await read_hello(*reader);
}

class MuxBindListener final : public Listener {
 public:
  MuxBindListener(mux::SessionPtr session, Address bound, ReadHello read_hello,
                  std::chrono::milliseconds hello_timeout)
      : session_(std::move(session)), bound_(std::move(bound)), read_hello_(read_hello),
        hello_timeout_(hello_timeout) {}
  ~MuxBindListener() override { close(); }

  std::error_code listen() override { return {}; }

  asio::awaitable<Result<StreamPtr>> accept() override {
    for (;;) {
      auto s = co_await session_->accept();
      if (!s) co_return make_error_code(errc::closed);
      StreamPtr st = std::move(*s);
      StreamReader reader(*st, detail::kHandshakeBuffer);
      auto peer = co_await with_timeout(read_hello_of(&reader, read_hello_), hello_timeout_);
      if (!peer || !*peer) {
        st->close();  // a bad or missing hello: this stream only
        continue;
      }
      auto rest = reader.take_rest();
      co_return with_addresses(make_prefixed(std::move(st), std::move(rest)), bound_,
                               std::move(**peer));
    }
  }

  Address address() const override { return bound_; }
  asio::any_io_executor get_executor() override { return session_->get_executor(); }
  void close() noexcept override {
    asio::post(session_->get_executor(), [s = session_] { s->close(); });
  }

 private:
  mux::SessionPtr session_;
  Address bound_;
  ReadHello read_hello_;
  std::chrono::milliseconds hello_timeout_;
};

}  // namespace

ListenerPtr make_mux_bind_listener(mux::SessionPtr session, Address bound, ReadHello read_hello,
                                   std::chrono::milliseconds hello_timeout) {
  return ListenerPtr(std::make_unique<MuxBindListener>(std::move(session), std::move(bound),
                                                       read_hello, hello_timeout));
}

std::error_code listen_tcp(asio::ip::tcp::acceptor& acc, const Address& addr) {
  std::error_code ec;
  asio::ip::address ip = asio::ip::address_v4::any();
  if (!addr.host.empty()) {
    auto a = addr.ip();
    if (!a) return make_error_code(errc::bad_request);
    ip = *a;
  }
  asio::ip::tcp::endpoint ep(ip, addr.port);
  acc.open(ep.protocol(), ec);
  if (!ec) acc.set_option(asio::ip::tcp::acceptor::reuse_address(true), ec);
  if (!ec) acc.bind(ep, ec);
  if (!ec) acc.listen(128, ec);
  if (ec) {
    std::error_code ignore;
    acc.close(ignore);
  }
  return ec;
}

asio::awaitable<MuxBindResult> serve_mux_bind(StreamPtr ctrl, asio::ip::tcp::acceptor acc,
                                              mux::Options opts, BindHello hello) {
  BindState st;
  st.session = mux::Session::client(std::move(ctrl), opts);
  st.acc = &acc;
  st.hello = std::move(hello);
  using namespace asio::experimental::awaitable_operators;
  co_await (accept_loop(&st) && drain_session(&st));
  st.session->close();
  std::error_code ignore;
  acc.close(ignore);
  co_return st.res;
}

}  // namespace gost::socks

#include "http2/common.hpp"

#include <nghttp2/nghttp2.h>

#include <algorithm>
#include <asio/error.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/post.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <cstring>

#include "http2/grpc_codec.hpp"

namespace gost::http2 {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);
}

// --- StreamQueue ---------------------------------------------------------------------------

StreamQueue::StreamQueue(asio::any_io_executor ex, std::size_t cap)
    : ex_(ex),
      cap_(std::max<std::size_t>(cap, 1)),
      timer_(ex, asio::steady_timer::time_point::max()) {}

bool StreamQueue::push(StreamPtr s) {
  {
    std::lock_guard<std::mutex> g(mu_);
    if (!closed_ && items_.size() < cap_) {
      items_.push_back(std::move(s));
      s = nullptr;
    }
  }
  if (s) {
    s->close();
    return false;
  }
  asio::post(ex_, [self = shared_from_this()]() { self->timer_.cancel(); });
  return true;
}

asio::awaitable<Result<StreamPtr>> StreamQueue::pop() {
  auto self = shared_from_this();
  for (;;) {
    {
      std::lock_guard<std::mutex> g(mu_);
      if (!items_.empty()) {
        auto s = std::move(items_.front());
        items_.pop_front();
        co_return std::move(s);
      }
      if (closed_) co_return errc::closed;
    }
    co_await timer_.async_wait(use_tuple);
    auto cs = co_await asio::this_coro::cancellation_state;
    if (cs.cancelled() != asio::cancellation_type::none) co_return asio::error::operation_aborted;
  }
}

void StreamQueue::close() {
  std::deque<StreamPtr> drop;
  {
    std::lock_guard<std::mutex> g(mu_);
    closed_ = true;
    drop.swap(items_);
  }
  for (auto& s : drop) {
    // Close each stream on its own executor.
    auto ex = s->get_executor();
    auto* raw = s.release();
    asio::post(ex, [raw]() {
      raw->close();
      delete raw;
    });
  }
  asio::post(ex_, [self = shared_from_this()]() { self->timer_.cancel(); });
}

bool StreamQueue::closed() const {
  std::lock_guard<std::mutex> g(mu_);
  return closed_;
}

// --- SessionCache --------------------------------------------------------------------------

SessionPtr SessionCache::find(const std::string& key, const asio::any_io_executor& ex) {
  std::lock_guard<std::mutex> g(mu_);
  SessionPtr found;
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](Entry& e) {
                                  auto s = e.s.lock();
                                  if (!s || !s->can_open()) return true;
                                  if (!found && e.key == key && e.ex == ex) found = s;
                                  return false;
                                }),
                 entries_.end());
  return found;
}

void SessionCache::put(const std::string& key, const asio::any_io_executor& ex,
                       const SessionPtr& s) {
  std::lock_guard<std::mutex> g(mu_);
  entries_.push_back(Entry{key, ex, s});
}

// --- helpers -------------------------------------------------------------------------------

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return r;
}

Options session_options(const Metadata& md) {
  Options o;
  auto streams = md.get_int("http2.maxConcurrentStreams", 0);
  if (streams > 0 && streams <= 1 << 20)
    o.max_concurrent_streams = static_cast<std::uint32_t>(streams);
  auto win = md.get_int("http2.streamWindow", 0);
  if (win >= 65535 && win <= 0x7fffffff) o.stream_window = static_cast<std::uint32_t>(win);
  auto cwin = md.get_int("http2.connectionWindow", 0);
  if (cwin >= 65535 && cwin <= 0x7fffffff) o.connection_window = static_cast<std::uint32_t>(cwin);
  return o;
}

void client_keepalive(const Metadata& md, Options& o, bool grpc) {
  // GOST's grpc keys (off unless keepalive is set: a grpc-go server answers pings more frequent
  // than its enforcement policy allows, 5 minutes by default, with GOAWAY too_many_pings); the
  // h2/http2 clients check an idle session every 30s (Go's servers accept any ping rate).
  if (grpc) {
    if (!md.get_bool("grpc.keepalive", md.get_bool("keepalive", md.get_bool("keepAlive")))) return;
    auto time = md.get_duration("grpc.keepalive.time", md.get_duration("keepalive.time"));
    auto timeout = md.get_duration("grpc.keepalive.timeout", md.get_duration("keepalive.timeout"));
    o.keepalive_interval = time.count() > 0 ? time : std::chrono::seconds(30);
    o.keepalive_timeout = timeout.count() > 0 ? timeout : std::chrono::seconds(30);
    return;
  }
  o.keepalive_interval = std::chrono::seconds(30);
  o.keepalive_timeout = std::chrono::seconds(30);
}

Result<ListenerPtr, ConfigError> make_tcp_listener(const ListenerArgs& args) {
  Registry r;
  register_core(r);
  const auto* f = r.listener("tcp");
  if (!f) return config_error("tcp listener is not available");
  return (*f)(args);
}

// --- gRPC stream ---------------------------------------------------------------------------

namespace {

class GrpcStream final : public Stream {
 public:
  GrpcStream(ExchangePtr ex, bool client) : ex_(std::move(ex)), client_(client) {}
  ~GrpcStream() override { close(); }
  asio::any_io_executor get_executor() override { return ex_->get_executor(); }
  Address local_address() const override { return ex_->local_address(); }
  Address remote_address() const override { return ex_->remote_address(); }

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override {
    for (;;) {
      if (data_left_ > 0) {
        std::size_t n = std::min(buf.size(), data_left_);
        std::memcpy(buf.data(), in_.data() + data_off_, n);
        data_off_ += n;
        data_left_ -= n;
        if (data_left_ == 0) {
          in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(msg_end_));
          msg_end_ = 0;
        }
        co_return IoResult{{}, n};
      }
      if (err_) co_return IoResult{err_, 0};
      auto p = grpc::parse_chunk(Bytes(in_.data(), in_.size()));
      if (p.failed()) {
        err_ = p.ec;
        ex_->reset(NGHTTP2_PROTOCOL_ERROR);
        continue;
      }
      if (p.ok()) {
        data_off_ = p.value.offset;
        data_left_ = p.value.length;
        msg_end_ = p.consumed;
        if (data_left_ == 0) {
          in_.erase(in_.begin(), in_.begin() + static_cast<std::ptrdiff_t>(msg_end_));
          msg_end_ = 0;
        }
        continue;
      }
      // Need more bytes of the current message (bounded by kMaxMessage + 5).
      const std::size_t want = 16 * 1024;
      auto old = in_.size();
      in_.resize(old + want);
      auto [ec, n] = co_await ex_->read_some(asio::buffer(in_.data() + old, want));
      in_.resize(old + n);
      if (ec) {
        if (ec == asio::error::eof) {
          if (!in_.empty()) {
            err_ = make_error_code(errc::bad_request);
          } else if (client_) {
            auto* st = find_header(ex_->trailers(), "grpc-status");
            if (!st) st = find_header(ex_->response_headers(), "grpc-status");
            err_ = (!st || *st == "0") ? std::error_code(asio::error::eof)
                                       : make_error_code(asio::error::connection_reset);
          } else {
            err_ = asio::error::eof;
          }
        } else {
          err_ = ec;
        }
      }
    }
  }

  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override {
    if (closed_) co_return IoResult{make_error_code(errc::closed), 0};
    if (buf.size() == 0) co_return IoResult{};
    std::size_t n = std::min<std::size_t>(buf.size(), 32 * 1024);
    out_.clear();
    grpc::serialize_chunk(Bytes(static_cast<const std::uint8_t*>(buf.data()), n), out_);
    if (auto ec = co_await write_all(*ex_, asio::buffer(out_))) co_return IoResult{ec, 0};
    co_return IoResult{{}, n};
  }

  asio::awaitable<std::error_code> shutdown_write() override { return ex_->shutdown_write(); }

  asio::awaitable<std::error_code> wait_readable() override {
    if (data_left_ > 0 || !in_.empty() || err_) co_return std::error_code{};
    co_return co_await ex_->wait_readable();
  }

  void close() noexcept override {
    if (closed_) return;
    closed_ = true;
    ex_->close();
  }

 private:
  ExchangePtr ex_;
  bool client_;
  std::vector<std::uint8_t> in_;
  std::size_t data_off_ = 0, data_left_ = 0, msg_end_ = 0;
  std::vector<std::uint8_t> out_;
  std::error_code err_;
  bool closed_ = false;
};

}  // namespace

StreamPtr make_grpc_stream(ExchangePtr ex, bool client) {
  return std::make_unique<GrpcStream>(std::move(ex), client);
}

}  // namespace gost::http2

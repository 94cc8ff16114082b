// The WebSocket Stream and the client/server Upgrade handshakes.
#include <algorithm>
#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/experimental/as_tuple.hpp>
#include <asio/steady_timer.hpp>
#include <asio/use_awaitable.hpp>
#include <cctype>
#include <cstring>
#include <random>

#include "core/buffer_pool.hpp"
#include "gost/core/timeout.hpp"
#include "gost/ws/ws.hpp"
#include "ws/codec.hpp"
#include "ws/layered.hpp"

namespace gost::ws {
namespace {
constexpr auto use_tuple = asio::experimental::as_tuple(asio::use_awaitable);

void random_bytes(std::uint8_t* p, std::size_t n) {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  for (std::size_t i = 0; i < n; ++i) p[i] = static_cast<std::uint8_t>(rng());
}

struct State {
  State(StreamPtr s, bool is_client, const Options& o)
      : inner(std::move(s)),
        client(is_client),
        wlock(inner->get_executor()),
        ping_timer(inner->get_executor()) {
    read_chunk = std::clamp<std::size_t>(o.read_buffer_size, 16 * 1024, 1 << 20);
    write_chunk = std::clamp<std::size_t>(o.write_buffer_size, 64 * 1024, 1 << 20);
  }
  StreamPtr inner;
  bool client;
  std::size_t read_chunk;
  std::size_t write_chunk;
  std::vector<std::uint8_t> rbuf;  // bytes read from inner, from rstart on not yet parsed
  std::size_t rstart = 0;
  // The data frame being read.
  std::uint64_t remaining = 0;
  bool masked = false;
  std::array<std::uint8_t, 4> mask{};
  std::uint64_t mask_off = 0;
  MessageState msg;
  bool got_close = false;
  bool close_sent = false;
  bool closed = false;
  std::error_code read_err;
  std::error_code write_err;
  std::vector<std::uint8_t> wbuf;  // only while a frame is being sent
  AsyncLock wlock;
  asio::steady_timer ping_timer;
  bool bulk = false;        // the last fill() filled its chunk: more is likely waiting
  bool ready_hint = false;  // wait_readable() just saw the inner stream readable
  // The pending async_wait_readable(): its handler, and the state kept alive for the inner
  // wait's callback and the frame-header coroutine, which hold only a plain pointer.
  Stream::ReadyHandler ready_h;
  std::shared_ptr<State> keep;

  std::size_t buffered() const { return rbuf.size() - rstart; }

  // rbuf's storage goes back to the thread's pool whenever everything in it has been used, so
  // an idle stream holds none.
  void release_if_drained() {
    if (rstart == rbuf.size()) {
      rstart = 0;
      core::VectorPool::give_back(rbuf);
    }
  }

  asio::awaitable<std::error_code> fill() {
    if (rstart == rbuf.size()) {
      release_if_drained();
      // Nothing buffered: wait for the peer without holding a buffer (unless data is known to
      // be there).
      if (!bulk && !ready_hint) {
        if (auto ec = co_await inner->wait_readable()) co_return ec;
      }
    } else if (rstart > 64 * 1024) {
      rbuf.erase(rbuf.begin(), rbuf.begin() + static_cast<std::ptrdiff_t>(rstart));
      rstart = 0;
    }
    ready_hint = false;
    core::VectorPool::take(rbuf);
    const std::size_t old = rbuf.size();
    rbuf.resize(old + read_chunk);
    auto r = co_await inner->read_some(asio::buffer(rbuf.data() + old, read_chunk));
    rbuf.resize(old + r.bytes);
    bulk = r.bytes == read_chunk;
    if (r.bytes == 0) release_if_drained();
    if (r.bytes == 0 && !r.ec) co_return make_error_code(asio::error::eof);
    co_return r.bytes > 0 ? std::error_code{} : r.ec;
  }

  // Sends one frame (payload copied and masked on the client side) under the write lock.
  asio::awaitable<std::error_code> send_frame(Opcode op, const std::uint8_t* data, std::size_t n) {
    FrameHeader h;
    h.fin = true;
    h.opcode = op;
    h.masked = client;
    h.length = n;
    if (client) random_bytes(h.mask.data(), 4);
    if (write_err) co_return write_err;
    co_await wlock.lock();
    // A frame cut short (error, or the coroutine destroyed by a cancellation) leaves the peer
    // mid-frame: no more writes after that.
    struct Guard {
      State& st;
      bool done = false;
      ~Guard() {
        if (!done && !st.write_err) st.write_err = make_error_code(asio::error::broken_pipe);
        core::VectorPool::give_back(st.wbuf);
        st.wlock.unlock();
      }
    } guard{*this};
    if (write_err) co_return write_err;
    // The frame is built in wbuf (only the lock holder touches it), storage from the pool.
    auto& out = wbuf;
    core::VectorPool::take(out);
    out.clear();
    serialize_frame_header(h, out);
    const std::size_t hl = out.size();
    out.insert(out.end(), data, data + n);
    if (client) apply_mask(std::span<std::uint8_t>(out.data() + hl, n), h.mask, 0);
    auto ec = co_await write_all(*inner, asio::buffer(out));
    if (ec) write_err = ec;
    guard.done = true;
    co_return ec;
  }

  asio::awaitable<std::error_code> send_close(std::uint16_t code) {
    if (close_sent) co_return std::error_code{};
    close_sent = true;
    const std::uint8_t body[2] = {static_cast<std::uint8_t>(code >> 8),
                                  static_cast<std::uint8_t>(code)};
    co_return co_await send_frame(Opcode::close, body, 2);
  }

  // Reads frame headers (handling control frames) until a data frame with payload starts.
  // Returns eof after a close frame. With until_idle, it returns would_block instead of waiting
  // for the peer when nothing is buffered and the inner stream is not known to be readable
  // (after a ping, say), so the caller can wait without a coroutine.
  asio::awaitable<std::error_code> next_data_frame(bool until_idle = false) {
    for (;;) {
      if (got_close) co_return make_error_code(asio::error::eof);
      auto p = parse_frame_header(std::span<const std::uint8_t>(rbuf.data() + rstart, buffered()));
      if (p.need_more()) {
        if (until_idle && buffered() == 0 && !bulk && !ready_hint)
          co_return make_error_code(asio::error::would_block);
        if (auto ec = co_await fill()) co_return ec;
        continue;
      }
      if (p.failed() || p.value.masked != !client || msg.on_frame(p.value)) {
        co_await send_close(1002);
        co_return make_error_code(errc::bad_request);
      }
      const FrameHeader h = p.value;
      if (!is_control(h.opcode)) {
        begin_data_frame(h, p.consumed);
        if (remaining > 0) co_return std::error_code{};
        continue;
      }
      // Control frame: the whole payload (<= 125 bytes) is needed.
      while (buffered() < p.consumed + h.length) {
        if (auto ec = co_await fill()) co_return ec;
      }
      std::vector<std::uint8_t> payload(
          rbuf.begin() + static_cast<std::ptrdiff_t>(rstart + p.consumed),
          rbuf.begin() + static_cast<std::ptrdiff_t>(rstart + p.consumed + h.length));
      rstart += p.consumed + static_cast<std::size_t>(h.length);
      if (h.masked) apply_mask(payload, h.mask, 0);
      if (h.opcode == Opcode::ping) {
        if (!close_sent) {
          if (auto ec = co_await send_frame(Opcode::pong, payload.data(), payload.size()))
            co_return ec;
        }
      } else if (h.opcode == Opcode::close) {
        got_close = true;
        std::uint16_t code = 1000;
        if (payload.size() >= 2) code = static_cast<std::uint16_t>((payload[0] << 8) | payload[1]);
        if (!close_sent) co_await send_close(code == 1005 ? 1000 : code);
        co_return make_error_code(asio::error::eof);
      }
      // pong: nothing to do.
    }
  }

  // Takes the header of the next data frame when it is buffered, so a read goes on copying
  // payload; false for a header cut short, a control frame or an empty frame (the next read
  // handles those).
  bool take_buffered_data_header() {
    if (got_close || read_err || buffered() == 0) return false;
    auto p = parse_frame_header(std::span<const std::uint8_t>(rbuf.data() + rstart, buffered()));
    if (!p.ok() || is_control(p.value.opcode) || p.value.masked != !client) return false;
    if (p.value.length == 0) return false;
    if (msg.on_frame(p.value)) return false;  // refused: the next read reports it
    begin_data_frame(p.value, p.consumed);
    return true;
  }

  // The payload of data frame h (its header, `consumed` bytes, taken) is what reads copy next.
  void begin_data_frame(const FrameHeader& h, std::size_t consumed) {
    rstart += consumed;
    remaining = h.length;
    masked = h.masked;
    mask = h.mask;
    mask_off = 0;
  }

  // ---- async_wait_readable(): the handler runs for payload, the end or an error; control
  // frames (ping, pong) are answered on the way and the wait goes on.
  void wait_inner() {
    release_if_drained();
    inner->async_wait_readable([this](std::error_code ec) { on_inner_ready(ec); });
  }

  void on_inner_ready(std::error_code ec) {
    if (!ec && closed) ec = asio::error::operation_aborted;
    if (ec || remaining > 0) return notify(ec);  // payload goes on: read_some reads the inner
    ready_hint = true;
    read_header();
  }

  // A short-lived coroutine reads the next frame header (and any control frames before it).
  void read_header() {
    asio::co_spawn(inner->get_executor(), next_data_frame(true),
                   [this](std::exception_ptr, std::error_code ec) {
                     if (ec == asio::error::would_block && !closed) return wait_inner();
                     if (ec == asio::error::would_block) ec = asio::error::operation_aborted;
                     if (ec && ec != asio::error::operation_aborted) {
                       read_err = ec;  // read_some reports the end or the error
                       ec = {};
                     }
                     notify(ec);
                   });
  }

  void notify(std::error_code ec) {
    auto h = std::move(ready_h);
    ready_h = nullptr;
    auto self = std::move(keep);  // may be the last owner: nothing touches *this after h
    h(ec);
  }
};

asio::awaitable<void> ping_loop(std::shared_ptr<State> st, std::chrono::milliseconds period) {
  for (;;) {
    st->ping_timer.expires_after(period);
    auto [ec] = co_await st->ping_timer.async_wait(use_tuple);
    if (ec || st->closed || st->close_sent) co_return;
    if (co_await st->send_frame(Opcode::ping, nullptr, 0)) co_return;
  }
}

class WsStream final : public Stream {
 public:
  explicit WsStream(std::shared_ptr<State> st) : st_(std::move(st)) {}
  ~WsStream() override { close(); }

  asio::any_io_executor get_executor() override { return st_->inner->get_executor(); }

  asio::awaitable<IoResult> read_some(asio::mutable_buffer buf) override {
    auto& s = *st_;
    if (s.read_err) co_return IoResult{s.read_err, 0};
    if (buf.size() == 0) co_return IoResult{};
    if (s.remaining == 0) {
      if (auto ec = co_await s.next_data_frame()) {
        if (ec != asio::error::operation_aborted) s.read_err = ec;
        co_return IoResult{ec, 0};
      }
    }
    auto* out = static_cast<std::uint8_t*>(buf.data());
    if (s.buffered() > 0) {
      // Payload already buffered, across as many data frames as are there and fit.
      std::size_t got = 0;
      for (;;) {
        const auto k = static_cast<std::size_t>(
            std::min<std::uint64_t>({buf.size() - got, s.remaining, s.buffered()}));
        std::memcpy(out + got, s.rbuf.data() + s.rstart, k);
        s.rstart += k;
        if (s.masked) apply_mask(std::span<std::uint8_t>(out + got, k), s.mask, s.mask_off);
        s.mask_off += k;
        s.remaining -= k;
        got += k;
        if (got == buf.size() || s.remaining > 0 || !s.take_buffered_data_header()) break;
      }
      s.release_if_drained();
      co_return IoResult{{}, got};
    }
    const auto want = static_cast<std::size_t>(std::min<std::uint64_t>(buf.size(), s.remaining));
    auto r = co_await s.inner->read_some(asio::buffer(out, want));
    if (r.bytes == 0) {
      auto ec = r.ec ? r.ec : make_error_code(asio::error::eof);
      if (ec != asio::error::operation_aborted) s.read_err = ec;
      co_return IoResult{ec, 0};
    }
    if (s.masked) apply_mask(std::span<std::uint8_t>(out, r.bytes), s.mask, s.mask_off);
    s.mask_off += r.bytes;
    s.remaining -= r.bytes;
    co_return IoResult{{}, r.bytes};
  }

  asio::awaitable<IoResult> write_some(asio::const_buffer buf) override {
    auto& s = *st_;
    if (s.closed || s.close_sent) co_return IoResult{make_error_code(asio::error::broken_pipe), 0};
    const std::size_t n = std::min(buf.size(), s.write_chunk);
    auto ec =
        co_await s.send_frame(Opcode::binary, static_cast<const std::uint8_t*>(buf.data()), n);
    if (ec) co_return IoResult{ec, 0};
    co_return IoResult{{}, n};
  }

  asio::awaitable<std::error_code> shutdown_write() override {
    co_return co_await st_->send_close(1000);
  }

  asio::awaitable<std::error_code> wait_readable() override {
    if (st_->buffered() > 0 || st_->read_err || st_->got_close) co_return std::error_code{};
    st_->release_if_drained();
    auto ec = co_await st_->inner->wait_readable();
    st_->ready_hint = !ec;
    co_return ec;
  }

  bool has_ready_callback() noexcept override { return st_->inner->has_ready_callback(); }

  void async_wait_readable(ReadyHandler h) override {
    auto& s = *st_;
    if (s.closed || s.read_err || s.got_close || (s.remaining > 0 && s.buffered() > 0)) {
      return post_ready(get_executor(), std::move(h),
                        s.closed ? make_error_code(asio::error::operation_aborted) : std::error_code{});
    }
    s.ready_h = std::move(h);
    s.keep = st_;
    if (s.buffered() > 0) return s.read_header();  // a header (part) is buffered: parse it
    s.wait_inner();
  }

  void close() noexcept override {
    if (st_->closed) return;
    st_->closed = true;
    st_->ping_timer.cancel();
    st_->inner->close();
  }

  Address local_address() const override { return st_->inner->local_address(); }
  Address remote_address() const override { return st_->inner->remote_address(); }

 private:
  std::shared_ptr<State> st_;
};

StreamPtr make_stream(StreamPtr inner, bool client, const Options& o,
                      std::vector<unsigned char> rest) {
  auto st = std::make_shared<State>(std::move(inner), client, o);
  st->rbuf.assign(rest.begin(), rest.end());
  if (client && o.keepalive.count() > 0) {
    asio::co_spawn(st->inner->get_executor(), ping_loop(st, o.keepalive), asio::detached);
  }
  return std::make_unique<WsStream>(std::move(st));
}

// Reads one HTTP head; the bytes after it stay in the reader.
asio::awaitable<Result<HttpHead>> read_head(StreamReader& rd) {
  for (;;) {
    auto p = parse_http_head(std::span<const std::uint8_t>(rd.data(), rd.size()));
    if (p.ok()) {
      rd.consume(p.consumed);
      co_return std::move(p.value);
    }
    if (p.failed()) co_return p.ec;
    if (auto ec = co_await rd.fill()) co_return ec;
  }
}

bool is_host(std::string_view k) {
  if (k.size() != 4) return false;
  for (std::size_t i = 0; i < 4; ++i) {
    if (std::tolower(static_cast<unsigned char>(k[i])) != "host"[i]) return false;
  }
  return true;
}

bool valid_header_text(std::string_view s) {
  return s.find_first_of("\r\n") == std::string_view::npos;
}

asio::awaitable<Result<StreamPtr>> do_client(StreamPtr s, Options opts, std::string host_port) {
  std::uint8_t raw[16];
  random_bytes(raw, sizeof raw);
  const std::string key = base64_encode(raw);
  std::string host = opts.host.empty() ? host_port : opts.host;
  std::string path = opts.path.empty() ? "/" : opts.path;
  if (path.front() != '/') path.insert(path.begin(), '/');
  for (const auto& [k, v] : opts.header) {
    if (is_host(k)) host = v;
  }
  std::string req =
      "GET " + path + " HTTP/1.1\r\nHost: " + host +
      "\r\nUser-Agent: Go-http-client/1.1\r\nConnection: Upgrade\r\nUpgrade: websocket"
      "\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: " +
      key + "\r\n";
  for (const auto& [k, v] : opts.header) {
    if (is_host(k)) continue;
    if (!valid_header_text(k) || !valid_header_text(v)) continue;
    req += k + ": " + v + "\r\n";
  }
  req += "\r\n";
  if (auto ec = co_await write_all(*s, asio::buffer(req))) co_return ec;
  StreamReader rd(*s, kMaxHeadSize + 1);
  auto head = co_await read_head(rd);
  if (!head) co_return head.error();
  if (head->b != "101") co_return make_error_code(errc::proxy_error);
  if (!head->has_token("Upgrade", "websocket") || !head->has_token("Connection", "upgrade"))
    co_return make_error_code(errc::proxy_error);
  auto acc = head->get("Sec-WebSocket-Accept");
  if (!acc || *acc != accept_key(key)) co_return make_error_code(errc::proxy_error);
  if (head->get("Sec-WebSocket-Extensions")) co_return make_error_code(errc::unsupported);
  auto rest = rd.take_rest();
  co_return make_stream(std::move(s), true, opts, std::move(rest));
}

asio::awaitable<std::error_code> reply_error(Stream& s, const char* status) {
  std::string resp = std::string("HTTP/1.1 ") + status +
                     "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
                     "Content-Length: 0\r\n\r\n";
  co_return co_await write_all(s, asio::buffer(resp));
}

asio::awaitable<Result<StreamPtr>> do_server(StreamPtr s, Options opts) {
  StreamReader rd(*s, kMaxHeadSize + 1);
  auto head = co_await read_head(rd);
  if (!head) {
    if (head.error() == errc::bad_request || head.error() == errc::message_too_large)
      co_await reply_error(*s, "400 Bad Request");
    co_return head.error();
  }
  std::string target = head->b;
  if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
  std::string path = opts.path.empty() ? "/" : opts.path;
  if (path.front() != '/') path.insert(path.begin(), '/');
  if (target != path) {
    co_await reply_error(*s, "404 Not Found");
    co_return make_error_code(errc::bad_request);
  }
  auto key = head->get("Sec-WebSocket-Key");
  if (head->a != "GET" || !head->has_token("Upgrade", "websocket") ||
      !head->has_token("Connection", "upgrade") || !key || key->empty() ||
      head->get("Sec-WebSocket-Version").value_or("") != "13") {
    co_await reply_error(*s, "400 Bad Request");
    co_return make_error_code(errc::bad_request);
  }
  std::string resp =
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Accept: " +
      accept_key(*key) + "\r\n";
  for (const auto& [k, v] : opts.header) {
    if (!valid_header_text(k) || !valid_header_text(v)) continue;
    resp += k + ": " + v + "\r\n";
  }
  resp += "\r\n";
  if (auto ec = co_await write_all(*s, asio::buffer(resp))) co_return ec;
  auto rest = rd.take_rest();
  co_return make_stream(std::move(s), false, opts, std::move(rest));
}

}  // namespace

asio::awaitable<Result<StreamPtr>> client_handshake(StreamPtr s, Options opts,
                                                    std::string host_port) {
  auto d = opts.handshake_timeout;
  auto r = co_await with_timeout(do_client(std::move(s), std::move(opts), std::move(host_port)), d);
  if (!r) co_return make_error_code(errc::timeout);
  co_return std::move(*r);
}

asio::awaitable<Result<StreamPtr>> server_handshake(StreamPtr s, Options opts) {
  auto d = opts.handshake_timeout;
  auto r = co_await with_timeout(do_server(std::move(s), std::move(opts)), d);
  if (!r) co_return make_error_code(errc::timeout);
  co_return std::move(*r);
}

}  // namespace gost::ws

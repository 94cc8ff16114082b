#include "ss/stream.hpp"

#include <algorithm>
#include <asio/error.hpp>
#include <asio/this_coro.hpp>
#include <cstring>
#include <vector>

#include "gost/core/timeout.hpp"

namespace gost::ss {

SsStream::SsStream(StreamPtr inner, std::shared_ptr<const Keys> keys, Role role)
    : inner_(std::move(inner)),
      keys_(std::move(keys)),
      dec_(keys_.get(), role == Role::server ? Decoder::Role::server : Decoder::Role::client),
      enc_(keys_.get(), role == Role::server ? Encoder::Role::server : Encoder::Role::client),
      role_(role) {
  if (role_ == Role::client && keys_->method->edition == Edition::aead2022) {
    dec_.set_request_salt(enc_.salt().data(), enc_.salt().size());
  }
}

SsStream::~SsStream() = default;

void SsStream::release_if_empty() {
  if (rbuf_ && ppos_ == pend_ && rpos_ == rend_) {
    rbuf_.reset();
    rpos_ = rend_ = ppos_ = pend_ = 0;
  }
}

// Makes at least `need` raw bytes available at rpos_ (need <= PoolBuf::kSize).
asio::awaitable<std::error_code> SsStream::fill(std::size_t need) {
  if (!rbuf_) {
    rbuf_.emplace();
    rpos_ = rend_ = ppos_ = pend_ = 0;
  }
  if (rpos_ + need > PoolBuf::kSize) {
    std::memmove(rbuf_->data(), rbuf_->data() + rpos_, rend_ - rpos_);
    rend_ -= rpos_;
    rpos_ = 0;
  }
  while (rend_ - rpos_ < need) {
    const std::size_t room = PoolBuf::kSize - rend_;
    auto r = co_await inner_->read_some(asio::buffer(rbuf_->data() + rend_, room));
    inner_full_ = r.bytes == room;
    rend_ += r.bytes;
    if (r.ec) {
      if (rend_ - rpos_ >= need) break;
      // A stream cut inside a chunk is an error, not a clean end.
      if (r.ec == asio::error::eof && rend_ != rpos_) co_return make_error_code(errc::bad_request);
      co_return r.ec;
    }
  }
  co_return std::error_code{};
}

asio::awaitable<std::error_code> SsStream::next_plain() {
  while (ppos_ == pend_) {
    if (rerr_) co_return rerr_;
    std::size_t need = 0;
    if (rbuf_ && rend_ > rpos_) {
      ppos_ = pend_ = 0;
      auto st = dec_.step(rbuf_->data() + rpos_, rend_ - rpos_);
      if (st.status == ParseStatus::error) {
        rerr_ = st.ec;
        co_return rerr_;
      }
      if (st.status == ParseStatus::ok) {
        const std::size_t base = rpos_;
        rpos_ += st.consumed;
        ppos_ = base + st.plain_off;
        pend_ = ppos_ + st.plain_len;
        release_handshake();
        continue;
      }
      need = st.need;
    } else {
      need = dec_.step(nullptr, 0).need;
    }
    if (auto ec = co_await fill(need)) {
      rerr_ = ec;
      release_if_empty();
      co_return ec;
    }
  }
  co_return std::error_code{};
}

asio::awaitable<Result<Address>> SsStream::read_target() {
  std::vector<std::uint8_t> acc;  // only when the address spans chunks
  for (;;) {
    if (auto ec = co_await next_plain()) co_return ec;
    const std::uint8_t* p = rbuf_->data() + ppos_;
    const std::size_t n = pend_ - ppos_;
    if (acc.empty()) {
      auto a = parse_address(Bytes(p, n));
      if (a.ok()) {
        ppos_ += a.consumed;
        release_if_empty();
        co_return std::move(a.value);
      }
      if (a.failed()) co_return make_error_code(errc::bad_request);
    }
    acc.insert(acc.end(), p, p + n);
    ppos_ = pend_;
    release_if_empty();
    auto a = parse_address(Bytes(acc));
    if (a.ok()) {
      if (a.consumed < acc.size()) {
        pushback_ = std::make_unique<std::vector<std::uint8_t>>(
            acc.begin() + static_cast<std::ptrdiff_t>(a.consumed), acc.end());
      }
      co_return std::move(a.value);
    }
    if (a.failed() || acc.size() > 300) co_return make_error_code(errc::bad_request);
  }
}

asio::awaitable<IoResult> SsStream::read_some(asio::mutable_buffer buf) {
  if (buf.size() == 0) co_return IoResult{};
  auto* out = static_cast<std::uint8_t*>(buf.data());
  if (pushback_) {
    auto& pb = *pushback_;
    const std::size_t n = std::min(buf.size(), pb.size());
    std::memcpy(out, pb.data(), n);
    pb.erase(pb.begin(), pb.begin() + static_cast<std::ptrdiff_t>(n));
    if (pb.empty()) pushback_.reset();
    co_return IoResult{{}, n};
  }
  // Fills buf with as many decoded chunks as are already buffered (one syscall may carry
  // several), decrypting straight into buf when a whole chunk fits.
  std::size_t got = 0;
  for (;;) {
    if (ppos_ < pend_) {
      const std::size_t n = std::min(buf.size() - got, pend_ - ppos_);
      std::memcpy(out + got, rbuf_->data() + ppos_, n);
      ppos_ += n;
      got += n;
      release_if_empty();
      if (got == buf.size()) co_return IoResult{{}, got};
    }
    if (rerr_) co_return IoResult{got > 0 ? std::error_code{} : rerr_, got};
    const std::size_t next = dec_.next_payload();
    if (got > 0 && next > buf.size() - got) co_return IoResult{{}, got};
    std::size_t need = 0;
    if (rbuf_ && rend_ > rpos_) {
      ppos_ = pend_ = 0;
      auto st = dec_.step(rbuf_->data() + rpos_, rend_ - rpos_, out + got, buf.size() - got);
      if (st.status == ParseStatus::error) {
        rerr_ = st.ec;
        continue;
      }
      if (st.status == ParseStatus::ok) {
        const std::size_t base = rpos_;
        rpos_ += st.consumed;
        release_handshake();
        if (st.in_out) {
          got += st.plain_len;
          release_if_empty();
          if (got == buf.size()) co_return IoResult{{}, got};
          continue;
        }
        ppos_ = base + st.plain_off;
        pend_ = ppos_ + st.plain_len;
        if (st.plain_len == 0) release_if_empty();
        continue;
      }
      need = st.need;
    } else {
      need = dec_.step(nullptr, 0).need;
    }
    if (got > 0) co_return IoResult{{}, got};  // no more without waiting
    if (auto ec = co_await fill(need)) {
      rerr_ = ec;
      release_if_empty();
      co_return IoResult{ec, 0};
    }
  }
}

asio::awaitable<std::error_code> SsStream::wait_readable() {
  if (pushback_ || ppos_ < pend_ || rerr_ || inner_full_ || (rbuf_ && rend_ > rpos_)) {
    co_return std::error_code{};
  }
  co_return co_await inner_->wait_readable();
}

void SsStream::async_wait_readable(ReadyHandler h) {
  // Buffered plaintext, raw bytes (perhaps a whole chunk), a sticky error, or a transport read
  // that stopped only because the buffer was full: read_some has something to do now.
  if (pushback_ || ppos_ < pend_ || rerr_ || inner_full_ || (rbuf_ && rend_ > rpos_)) {
    post_ready(get_executor(), std::move(h));
    return;
  }
  inner_->async_wait_readable(std::move(h));
}

asio::awaitable<IoResult> SsStream::write_some(asio::const_buffer buf) {
  if (wrote_eof_) co_return IoResult{make_error_code(errc::closed), 0};
  if (buf.size() == 0 && enc_.started()) co_return IoResult{};
  if (role_ == Role::server && !enc_.started()) {
    enc_.set_response_info(dec_.peer_salt(), dec_.session_key());
  }
  PoolBuf wb;
  std::size_t consumed = 0;
  const std::size_t n = enc_.encode(static_cast<const std::uint8_t*>(buf.data()), buf.size(),
                                    wb.data(), PoolBuf::kSize, &consumed);
  if (n == 0) co_return IoResult{make_error_code(errc::bad_request), 0};
  release_handshake();
  auto ec = co_await write_all(*inner_, asio::buffer(wb.data(), n));
  co_return IoResult{ec, ec ? 0 : consumed};
}

asio::awaitable<std::error_code> SsStream::flush_header() {
  if (enc_.started()) co_return std::error_code{};
  auto r = co_await write_some(asio::const_buffer());
  co_return r.ec;
}

asio::awaitable<std::error_code> SsStream::shutdown_write() {
  // A client that never wrote still owes the server its request (the target).
  if (role_ == Role::client && !enc_.started()) {
    if (auto ec = co_await flush_header()) co_return ec;
  }
  wrote_eof_ = true;
  co_return co_await inner_->shutdown_write();
}

asio::awaitable<void> SsStream::drain(std::chrono::milliseconds limit) {
  rbuf_.reset();
  rpos_ = rend_ = ppos_ = pend_ = 0;
  const auto deadline = std::chrono::steady_clock::now() + limit;
  std::uint8_t buf[2048];
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    auto r = co_await with_timeout(inner_->read_some(asio::buffer(buf)), left);
    if (!r || r->ec) break;
  }
  inner_->close();
}

}  // namespace gost::ss

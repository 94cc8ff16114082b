#pragma once
// Internal: two things Asio's epoll reactor does with a system call each time, done without it.
//
// 1. A read wait after a read came back would-block. Asio registers every socket
//    edge-triggered for EPOLLIN once; a socket's own reads use that registration, but
//    async_wait() cannot know whether anything is queued, so it re-arms the descriptor
//    (EPOLL_CTL_MOD) on every call. async_wait_read(s, true) is for a caller that knows: a read
//    has just come back would-block and nothing was read since. Whatever arrives after that
//    (bytes, the peer's FIN, an error) raises a new edge, so queueing the wait is enough. Not
//    after a short read: a FIN that came with the bytes raises no edge once they are read. When
//    the reactor has collected an edge for the socket since its last wait ended (perhaps for
//    bytes already read), a one-byte MSG_PEEK tells whether it still holds: that costs what the
//    re-arm costs, and only then. The same wait serves a listening socket after accept4(2) came
//    back would-block (async_wait_acceptable; poll(2) instead of the peek): gost accepts with
//    SOCK_NONBLOCK itself, where Asio's accept(2) would leave a FIONBIO to each new socket.
// 2. EPOLL_CTL_DEL at close. Asio deletes a descriptor it was given by assign() (accept(2) goes
//    through it) because another descriptor might share the open file, which would keep it in
//    the epoll set. own_descriptor() tells Asio that this socket alone holds it, as Asio assumes
//    for the sockets it opens itself (a process forked meanwhile can share either kind; its
//    stale edges would only wake a wait that then reads nothing and waits again).
//
// Both go through Asio's internals (the socket's implementation and its service's start_op) and
// exist only with the epoll reactor, on every other build they fall back to the public calls.

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>
#include <system_error>
#include <type_traits>
#include <utility>

#include <asio/any_io_executor.hpp>
#include <asio/associated_cancellation_slot.hpp>
#include <asio/async_result.hpp>
#include <asio/basic_socket.hpp>
#include <asio/detail/config.hpp>
#include <asio/socket_base.hpp>

#if defined(ASIO_HAS_EPOLL) && !defined(ASIO_HAS_IOCP) && !defined(ASIO_HAS_IO_URING_AS_DEFAULT) && \
    !defined(ASIO_DISABLE_EPOLL)
#define GOST_EPOLL_SHORTCUTS 1
#include <asio/detail/bind_handler.hpp>
#include <asio/detail/fenced_block.hpp>
#include <asio/detail/handler_alloc_helpers.hpp>
#include <asio/detail/handler_cont_helpers.hpp>
#include <asio/detail/handler_work.hpp>
#include <asio/detail/memory.hpp>
#include <asio/detail/op_queue.hpp>
#include <asio/detail/reactive_socket_service.hpp>
#include <asio/detail/reactor_op.hpp>
#endif

namespace gost::core {

#if defined(GOST_EPOLL_SHORTCUTS)
namespace reactor_detail {

// The socket's implementation: a protected member of basic_socket, reached through a pointer to
// member formed in a derived class (never instantiated).
template <class Protocol>
struct SocketAccess : asio::basic_socket<Protocol, asio::any_io_executor> {
  static auto& io(asio::basic_socket<Protocol, asio::any_io_executor>& s) { return s.*(&SocketAccess::impl_); }
};

// reactive_socket_service_base::start_op is protected; the same way.
struct ServiceAccess : asio::detail::reactive_socket_service_base {
  static constexpr auto start = &ServiceAccess::start_op;
};

// The wait being started on this thread: its perform() runs inside start_op only when the
// reactor collected an edge since the last completed read wait (see above).
inline const void*& initiating() {
  thread_local const void* op = nullptr;
  return op;
}

template <class Handler, class IoExecutor>
class DrainedWaitOp : public asio::detail::reactor_op {
 public:
  ASIO_DEFINE_HANDLER_PTR(DrainedWaitOp);

  DrainedWaitOp(int fd, bool listening, Handler& handler, const IoExecutor& io_ex)
      : reactor_op(asio::error_code(), &DrainedWaitOp::do_perform, &DrainedWaitOp::do_complete),
        fd_(fd),
        listening_(listening),
        handler_(std::move(handler)),
        work_(handler_, io_ex) {}

  static status do_perform(reactor_op* base) {
    auto* o = static_cast<DrainedWaitOp*>(base);
    // From the reactor: an edge came. "Exhausted" makes the next wait queue without asking,
    // unless another read waits behind this one (the reactor would leave it queued).
    if (initiating() != o) {
      return asio::detail::op_queue_access::next(static_cast<asio::detail::scheduler_operation*>(base)) ? done
                                                                                                      : done_and_exhausted;
    }
    if (o->listening_) {  // a listening socket: is a connection queued?
      pollfd p{o->fd_, POLLIN, 0};
      return ::poll(&p, 1, 0) == 0 ? not_done : done_and_exhausted;
    }
    char c;
    const auto r = ::recv(o->fd_, &c, 1, MSG_PEEK | MSG_DONTWAIT);
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return not_done;
    return done_and_exhausted;  // bytes, end of stream or an error: the reader will see which
  }

  // As Asio's reactive_wait_op completes.
  static void do_complete(void* owner, asio::detail::operation* base, const asio::error_code&, std::size_t) {
    auto* o = static_cast<DrainedWaitOp*>(base);
    ptr p = {asio::detail::addressof(o->handler_), o, o};
    asio::detail::handler_work<Handler, IoExecutor> w(std::move(o->work_));
    asio::detail::binder1<Handler, asio::error_code> handler(o->handler_, o->ec_);
    p.h = asio::detail::addressof(handler.handler_);
    p.reset();
    if (owner) {
      asio::detail::fenced_block b(asio::detail::fenced_block::half);
      w.complete(handler, handler.handler_);
    }
  }

 private:
  int fd_;
  bool listening_;
  Handler handler_;
  asio::detail::handler_work<Handler, IoExecutor> work_;
};

}  // namespace reactor_detail
#endif

namespace reactor_detail {
template <class Protocol, class Token>
auto async_wait_read(asio::basic_socket<Protocol, asio::any_io_executor>& s, bool drained, bool listening,
                     Token&& token) {
  return asio::async_initiate<Token, void(std::error_code)>(
      [&s, drained, listening](auto handler) {
#if defined(GOST_EPOLL_SHORTCUTS)
        using H = std::decay_t<decltype(handler)>;
        // A per-operation cancellation needs Asio's own cancellation hook: the public wait.
        if (!asio::get_associated_cancellation_slot(handler).is_connected()) {
          auto& io = reactor_detail::SocketAccess<Protocol>::io(s);
          auto& impl = io.get_implementation();
          using Op = reactor_detail::DrainedWaitOp<H, asio::any_io_executor>;
          const bool cont = asio_handler_cont_helpers::is_continuation(handler);
          typename Op::ptr p = {asio::detail::addressof(handler), Op::ptr::allocate(handler), nullptr};
          p.p = new (p.v) Op(impl.socket_, listening, handler, io.get_executor());
          // Speculative start (drained): no re-arm; the reactor asks perform() first only if it
          // collected an edge since the last wait.
          reactor_detail::initiating() = p.p;
          (io.get_service().*reactor_detail::ServiceAccess::start)(impl, asio::detail::reactor::read_op, p.p, cont,
                                                                   drained, false);
          reactor_detail::initiating() = nullptr;
          p.v = p.p = nullptr;
          return;
        }
#else
        (void)drained;
        (void)listening;
#endif
        s.async_wait(asio::socket_base::wait_read, std::move(handler));
      },
      token);
}
}  // namespace reactor_detail

// Waits until s is readable. `drained`: a read has just come back would-block, with nothing
// read since, and the wait needs no re-arm. Otherwise it re-arms as async_wait() does; either
// way its completion marks the socket's edge as used, so the next drained wait starts with no
// system call.
// Completes with the wait's error (operation_aborted when the socket closes).
template <class Protocol, class Token>
auto async_wait_read(asio::basic_socket<Protocol, asio::any_io_executor>& s, bool drained, Token&& token) {
  return reactor_detail::async_wait_read(s, drained, false, std::forward<Token>(token));
}

// For a listening socket held as a basic_socket (the acceptor's implementation is out of reach):
// waits until a connection is queued, after accept(2) has just come back would-block. The same
// wait as a drained read wait; where the reactor collected an edge since the last wait, poll(2)
// tells whether a connection is still queued.
template <class Protocol, class Token>
auto async_wait_acceptable(asio::basic_socket<Protocol, asio::any_io_executor>& s, Token&& token) {
  return reactor_detail::async_wait_read(s, true, true, std::forward<Token>(token));
}

// For a socket whose descriptor came from accept(2) or socket(2) and is held by no other
// descriptor: closing it removes it from epoll, so Asio need not delete it first. With
// `nonblocking`, the descriptor already has O_NONBLOCK (SOCK_NONBLOCK), so Asio need not set it.
template <class Protocol>
void own_descriptor(asio::basic_socket<Protocol, asio::any_io_executor>& s, bool nonblocking) {
#if defined(GOST_EPOLL_SHORTCUTS)
  auto& impl = reactor_detail::SocketAccess<Protocol>::io(s).get_implementation();
  impl.state_ = static_cast<asio::detail::socket_ops::state_type>(impl.state_ & ~asio::detail::socket_ops::possible_dup);
  if (nonblocking) {
    impl.state_ = static_cast<asio::detail::socket_ops::state_type>(impl.state_ |
                                                                    asio::detail::socket_ops::internal_non_blocking);
  }
#else
  if (nonblocking) {
    std::error_code ec;
    s.native_non_blocking(true, ec);
  }
#endif
}

}  // namespace gost::core

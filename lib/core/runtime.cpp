#include "gost/core/runtime.hpp"

#include <algorithm>

#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "gost/core/deadline.hpp"

namespace gost {

struct Runtime::Guard {
  explicit Guard(asio::io_context& c) : g(asio::make_work_guard(c)) {}
  asio::executor_work_guard<asio::io_context::executor_type> g;
};

namespace {
// The CPUs this process may run on, in order.
std::vector<int> allowed_cpus() {
  std::vector<int> out;
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) != 0) return out;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &set)) out.push_back(c);
  }
  return out;
}
}  // namespace

Runtime::Runtime(std::size_t threads) : Runtime(RuntimeOptions{threads, false, true}) {}

Runtime::Runtime(RuntimeOptions opts) {
  std::vector<int> cpus = allowed_cpus();
  std::size_t threads = opts.threads;
  if (threads == 0) threads = cpus.empty() ? std::max(1u, std::thread::hardware_concurrency()) : cpus.size();
  for (std::size_t i = 0; i < threads; ++i) {
    // concurrency hint 1: each context is driven by exactly one thread.
    contexts_.push_back(std::make_unique<asio::io_context>(1));
    core::keep_deadline_timers(*contexts_.back());  // the threads run until stop() anyway
  }
  live_ = std::make_unique<Live[]>(threads);
  if (opts.cpu_affinity && !cpus.empty()) {
    for (std::size_t i = 0; i < threads; ++i) cpus_.push_back(cpus[i % cpus.size()]);
    pinned_ = true;
  } else if (opts.steer_by_cpu && threads > 1 && threads <= cpus.size()) {
    cpus_.assign(cpus.begin(), cpus.begin() + static_cast<std::ptrdiff_t>(threads));
  }
}

Runtime::~Runtime() {
  stop();
  join();
}

asio::any_io_executor Runtime::executor(std::size_t i) { return contexts_[i]->get_executor(); }

asio::any_io_executor Runtime::next_executor() {
  auto i = next_.fetch_add(1, std::memory_order_relaxed) % contexts_.size();
  return contexts_[i]->get_executor();
}

void Runtime::start() {
  if (!threads_.empty()) return;
  for (auto& c : contexts_) {
    c->restart();
    guards_.push_back(std::make_unique<Guard>(*c));
  }
  for (std::size_t i = 0; i < contexts_.size(); ++i) {
    asio::io_context* ctx = contexts_[i].get();
    const int cpu = cpu_of(i);
    threads_.emplace_back([ctx, cpu] {
      if (cpu >= 0) {
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        pthread_setaffinity_np(pthread_self(), sizeof one, &one);  // best effort
      }
      // splice(2) into a socket whose peer has gone raises SIGPIPE (it has no MSG_NOSIGNAL).
      // SIGPIPE is thread-directed: blocking it here makes such writes fail with EPIPE
      // instead of killing the embedding program, without touching its signal handlers.
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGPIPE);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);
      ctx->run();
    });
  }
}

void Runtime::stop() noexcept {
  for (auto& c : contexts_) c->stop();
}

void Runtime::join() {
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
  guards_.clear();
}

void Runtime::run() {
  start();
  join();
}

}  // namespace gost

#include "gost/core/runtime.hpp"

#include <algorithm>
#include <charconv>
#include <mutex>
#include <string_view>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <unistd.h>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>

#include "core/transports.hpp"
#include "gost/core/deadline.hpp"

namespace gost {

struct Runtime::Guard {
  explicit Guard(asio::io_context& c) : g(asio::make_work_guard(c)) {}
  asio::executor_work_guard<asio::io_context::executor_type> g;
};

struct Runtime::Idle {
  std::mutex mu;  // taken with try_lock: one sampler at a time, the others use the last figure
  std::vector<int> cpus;
  std::vector<char> buf;
  long long idle = -1;  // ticks, at the previous sample
  long long total = 0;
  std::chrono::steady_clock::time_point at{};
  std::atomic<int> percent{-1};
};

namespace core {
bool cpu_ticks(std::string_view stat, const std::vector<int>& cpus, long long& idle, long long& total) {
  idle = total = 0;
  std::size_t found = 0;
  while (!stat.empty()) {
    const auto eol = stat.find('\n');
    std::string_view line = stat.substr(0, eol);
    stat = eol == std::string_view::npos ? std::string_view{} : stat.substr(eol + 1);
    if (line.size() < 4 || line.compare(0, 3, "cpu") != 0) break;  // the per-CPU lines come first
    if (line[3] == ' ') continue;                                     // the sum over all CPUs
    int cpu = -1;
    const char* p = line.data() + 3;
    const char* end = line.data() + line.size();
    auto r = std::from_chars(p, end, cpu);
    if (r.ec != std::errc{} || std::find(cpus.begin(), cpus.end(), cpu) == cpus.end()) continue;
    p = r.ptr;
    // user nice system idle iowait irq softirq steal (guest time is inside user and nice)
    for (int field = 0; field < 8 && p < end; ++field) {
      while (p < end && *p == ' ') ++p;
      long long v = 0;
      r = std::from_chars(p, end, v);
      if (r.ec != std::errc{}) break;
      p = r.ptr;
      total += v;
      if (field == 3 || field == 4) idle += v;
    }
    ++found;
  }
  return found > 0 && total > 0;
}
}  // namespace core

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
  idle_ = std::make_unique<Idle>();
  idle_->cpus = cpus;
  balance_min_idle_ = opts.balance_min_idle;
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

int Runtime::idle_percent() noexcept {
  Idle& d = *idle_;
  std::unique_lock lk(d.mu, std::try_to_lock);
  if (!lk.owns_lock()) return d.percent.load(std::memory_order_relaxed);
  const auto now = std::chrono::steady_clock::now();
  if (d.idle >= 0 && now - d.at < kIdleSample) return d.percent.load(std::memory_order_relaxed);
  // The per-CPU lines are at the start; 64 KiB holds a thousand of them.
  d.buf.resize(64 * 1024);
  const int fd = ::open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return d.percent.load(std::memory_order_relaxed);
  std::size_t got = 0;
  while (got < d.buf.size()) {
    const auto n = ::read(fd, d.buf.data() + got, d.buf.size() - got);
    if (n <= 0) break;
    got += static_cast<std::size_t>(n);
  }
  ::close(fd);
  long long idle = 0;
  long long total = 0;
  if (!core::cpu_ticks(std::string_view(d.buf.data(), got), d.cpus, idle, total)) return -1;
  if (d.idle >= 0 && total > d.total) {
    const long long pct = (idle - d.idle) * 100 * static_cast<long long>(d.cpus.size()) / (total - d.total);
    d.percent.store(static_cast<int>(std::clamp<long long>(pct, 0, 100LL * static_cast<long long>(d.cpus.size()))),
                    std::memory_order_relaxed);
  }
  if (total > d.total || d.idle < 0) {
    d.idle = idle;
    d.total = total;
    d.at = now;
  }
  return d.percent.load(std::memory_order_relaxed);
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

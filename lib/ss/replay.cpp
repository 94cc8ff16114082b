#include "ss/replay.hpp"

namespace gost::ss {

bool SaltFilter::check_and_add(const std::uint8_t* salt, std::size_t n) {
  Salt key{};
  std::memcpy(key.data(), salt, n < key.size() ? n : key.size());
  std::lock_guard<std::mutex> lock(mu_);
  if (cur_.count(key) || prev_.count(key)) return false;
  auto now = std::chrono::steady_clock::now();
  if (cur_.size() >= capacity_ || now - cur_start_ >= max_age_) {
    prev_ = std::move(cur_);
    cur_.clear();
    cur_start_ = now;
  }
  cur_.insert(key);
  return true;
}

}  // namespace gost::ss

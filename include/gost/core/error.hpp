#pragma once
// Error codes and the Result<T> type used across gost.
//
// Data plane: no exceptions. Functions return std::error_code or Result<T>.
// Control plane (config, builder) returns Result<T, ConfigError> with a message a user can act on.

#include <cassert>
#include <string>
#include <system_error>
#include <type_traits>
#include <utility>
#include <variant>

namespace gost {

enum class errc {
  ok = 0,
  bad_request,         // malformed protocol input from a peer
  unsupported,         // command, method or feature not supported
  auth_required,       // credentials missing
  auth_failed,         // credentials wrong
  forbidden,           // refused by bypass / admission / policy
  not_admitted,        // client address refused by admission
  bypassed,            // target refused by a bypass on the service
  timeout,             // an operation took longer than allowed
  host_unreachable,    // could not resolve or reach the target
  connection_refused,  // target or proxy refused the connection
  proxy_error,         // an upstream proxy answered with an error
  no_route,            // no usable node in a hop
  message_too_large,   // a header or datagram exceeded the limit
  closed,              // the object was closed
  config_error,        // a control-plane error (see ConfigError for text)
  unknown_component,   // a registry has no such name
};

const std::error_category& gost_category() noexcept;

inline std::error_code make_error_code(errc e) noexcept {
  return {static_cast<int>(e), gost_category()};
}

}  // namespace gost

template <>
struct std::is_error_code_enum<gost::errc> : std::true_type {};

namespace gost {

// A configuration / build error with a human-readable message that names the key and value.
struct ConfigError {
  std::string message;
};

// Result<T, E>: either a value or an error (std::expected arrives in C++23).
template <class T, class E = std::error_code>
class [[nodiscard]] Result {
 public:
  using value_type = T;
  using error_type = E;

  Result(T v) : v_(std::in_place_index<0>, std::move(v)) {}  // NOLINT(implicit)
  Result(E e) : v_(std::in_place_index<1>, std::move(e)) {}  // NOLINT(implicit)
  template <class U = E, std::enable_if_t<std::is_same_v<U, std::error_code>, int> = 0>
  Result(errc e) : v_(std::in_place_index<1>, make_error_code(e)) {}  // NOLINT(implicit)

  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }

  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  const E& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, E> v_;
};

// Returns a ConfigError result; shorthand used by the control plane.
inline ConfigError config_error(std::string msg) { return ConfigError{std::move(msg)}; }

}  // namespace gost

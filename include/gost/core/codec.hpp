#pragma once
// Conventions shared by the pure codecs (lib/<module>/codec.hpp): no I/O inside.
//
//   parse(std::span<const std::uint8_t>) -> Parsed<T>
//     need_more: the input is a valid prefix, read more and call again with all of it;
//     ok:        `consumed` bytes form `value`; the rest belongs to what follows;
//     error:     `ec` says why (errc::bad_request, errc::unsupported, errc::message_too_large).
//   serialize(const T&, std::vector<std::uint8_t>& out) appends the wire form.

#include <cstddef>
#include <cstdint>
#include <span>
#include <system_error>
#include <utility>

#include "gost/core/error.hpp"

namespace gost {

enum class ParseStatus { ok, need_more, error };

template <class T>
struct Parsed {
  ParseStatus status = ParseStatus::need_more;
  std::size_t consumed = 0;
  T value{};
  std::error_code ec;

  static Parsed more() { return {}; }
  static Parsed fail(std::error_code e) {
    Parsed p;
    p.status = ParseStatus::error;
    p.ec = e;
    return p;
  }
  static Parsed done(std::size_t n, T v) {
    Parsed p;
    p.status = ParseStatus::ok;
    p.consumed = n;
    p.value = std::move(v);
    return p;
  }
  bool ok() const noexcept { return status == ParseStatus::ok; }
  bool need_more() const noexcept { return status == ParseStatus::need_more; }
  bool failed() const noexcept { return status == ParseStatus::error; }
};

using Bytes = std::span<const std::uint8_t>;

}  // namespace gost

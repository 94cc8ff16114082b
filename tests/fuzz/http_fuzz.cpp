// Fuzzes the HTTP/1.x codec on the same input: request and response heads (what parses must
// serialize and parse back to the same value), framing, request-target forms, the chunked
// scanner (whole vs. split input vs. de-chunking must agree), incremental head-end search,
// base64 and Basic credentials.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "http/codec.hpp"

using namespace gost;
using namespace gost::http;

namespace {

Bytes bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

void check(bool ok) {
  if (!ok) std::abort();
}

void request_head(Bytes in, std::size_t step) {
  auto p = parse_request_head(in);
  // The early request-line check agrees with itself fed whole or in pieces, and never rejects
  // what parses.
  RequestLineChecker whole, split;
  const bool whole_ok = whole.feed(in);
  bool split_ok = true;
  for (std::size_t off = 0; off < in.size(); off += step) {
    split_ok = split.feed(in.subspan(off, std::min(step, in.size() - off)));
  }
  check(whole_ok == split_ok);
  if (p.ok()) check(whole_ok);
  if (!p.ok()) return;
  check(p.consumed > 0 && p.consumed <= in.size() && p.consumed <= kMaxHeadSize);
  check(p.value.headers.items.size() <= kMaxHeaders);
  std::string out;
  serialize(p.value, out);
  auto q = parse_request_head(bytes(out));
  check(q.ok() && q.consumed == out.size());
  check(q.value.method == p.value.method && q.value.target == p.value.target &&
        q.value.version_minor == p.value.version_minor &&
        q.value.headers.items == p.value.headers.items);
  (void)request_framing(p.value);
  if (auto u = parse_absolute_uri(p.value.target)) {
    check(!u->origin_form.empty() && u->origin_form.front() == '/');
    check(u->address.port != 0 && !u->address.host.empty());
  }
  if (auto a = parse_authority_form(p.value.target)) check(a->port != 0 && !a->host.empty());
  if (auto* pa = p.value.headers.find("Proxy-Authorization")) {
    if (auto c = parse_basic_auth(*pa)) {
      auto again = parse_basic_auth(basic_auth_value(*c));
      check(again && *again == *c);
    }
  }
}

void response_head(Bytes in) {
  auto p = parse_response_head(in);
  if (!p.ok()) return;
  check(p.consumed > 0 && p.consumed <= in.size());
  check(p.value.status >= 100 && p.value.status <= 999);
  std::string out;
  serialize(p.value, out);
  auto q = parse_response_head(bytes(out));
  check(q.ok() && q.consumed == out.size());
  check(q.value.status == p.value.status && q.value.reason == p.value.reason &&
        q.value.version_minor == p.value.version_minor &&
        q.value.headers.items == p.value.headers.items);
  for (auto m : {"GET", "HEAD", "CONNECT"}) {
    auto f = response_framing(p.value, m);
    if (f && std::string_view(m) == "HEAD") check(f->kind == BodyKind::none);
  }
}

void chunked(Bytes in, std::size_t step) {
  ChunkedScanner whole;
  const std::size_t n = whole.feed(in);
  check(n <= in.size());
  check(!(whole.done() && whole.failed()));
  if (!whole.done() && !whole.failed()) check(n == in.size());

  ChunkedScanner split;
  std::size_t total = 0;
  for (std::size_t off = 0; off < in.size(); off += step) {
    const auto piece = in.subspan(off, std::min(step, in.size() - off));
    const std::size_t k = split.feed(piece);
    check(k <= piece.size());
    total += k;
    if (k < piece.size()) break;
  }
  check(total == n && split.done() == whole.done() && split.failed() == whole.failed());

  ChunkedScanner dechunk;
  std::size_t used = 0;
  std::size_t data = 0;
  Bytes rest = in;
  while (!rest.empty() && !dechunk.done() && !dechunk.failed()) {
    Bytes d;
    const std::size_t k = dechunk.feed(rest, &d);
    if (!d.empty()) check(d.data() >= rest.data() && d.data() + d.size() <= rest.data() + k);
    data += d.size();
    used += k;
    rest = rest.subspan(k);
    if (k == 0) break;
  }
  check(used == n && data <= used && dechunk.done() == whole.done() &&
        dechunk.failed() == whole.failed());
}

void head_end(Bytes in, std::size_t step) {
  const std::size_t once = find_head_end(in);
  std::size_t found = kNotFound;
  std::size_t from = 0;
  for (std::size_t len = std::min(step, in.size()); found == kNotFound; len += step) {
    len = std::min(len, in.size());
    found = find_head_end(in.first(len), from);
    from = len;
    if (len == in.size()) break;
  }
  check(found == once);
}

void text(std::string_view s) {
  if (auto d = base64_decode(s)) check(base64_decode(base64_encode(*d)) == d);
  if (auto c = parse_basic_auth(s)) {
    auto again = parse_basic_auth(basic_auth_value(*c));
    check(again && *again == *c);
  }
  if (auto u = parse_absolute_uri(s)) check(u->address.port != 0);
  (void)parse_authority_form(s);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const Bytes in(data, size);
  const std::size_t step = size ? data[0] % 7 + 1 : 1;
  request_head(in, step);
  response_head(in);
  chunked(in, step);
  head_end(in, step);
  text(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}

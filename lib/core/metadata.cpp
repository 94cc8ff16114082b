#include "gost/core/metadata.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

namespace gost {
namespace {
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}
std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}
}  // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view in) {
  auto s = trim(in);
  if (s.empty()) return std::nullopt;
  bool neg = false;
  if (s.front() == '-' || s.front() == '+') {
    neg = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  // A plain number means seconds.
  if (std::all_of(s.begin(), s.end(),
                  [](char c) { return std::isdigit(static_cast<unsigned char>(c)); })) {
    long long v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
    if (ec != std::errc() || v > 100'000'000'000LL) return std::nullopt;
    return std::chrono::milliseconds((neg ? -v : v) * 1000);
  }
  if (s == "0") return std::chrono::milliseconds(0);
  double total_ms = 0;
  while (!s.empty()) {
    std::size_t i = 0;
    while (i < s.size() && (std::isdigit(static_cast<unsigned char>(s[i])) || s[i] == '.')) ++i;
    if (i == 0) return std::nullopt;
    double v = 0;
    auto [p, ec] = std::from_chars(s.data(), s.data() + i, v);
    if (ec != std::errc() || p != s.data() + i) return std::nullopt;
    s.remove_prefix(i);
    std::size_t j = 0;
    while (j < s.size() && !std::isdigit(static_cast<unsigned char>(s[j])) && s[j] != '.') ++j;
    auto unit = s.substr(0, j);
    s.remove_prefix(j);
    double mul;
    if (unit == "ns")
      mul = 1e-6;
    else if (unit == "us" || unit == "µs" || unit == "μs")
      mul = 1e-3;
    else if (unit == "ms")
      mul = 1;
    else if (unit == "s")
      mul = 1000;
    else if (unit == "m")
      mul = 60'000;
    else if (unit == "h")
      mul = 3'600'000;
    else
      return std::nullopt;
    total_ms += v * mul;
  }
  if (!std::isfinite(total_ms) || total_ms > 1e15) return std::nullopt;
  auto ms = static_cast<long long>(std::llround(total_ms));
  // Below a millisecond, round up: "10us" must not become 0, which means "none" to a timeout.
  if (ms == 0 && total_ms > 0) ms = 1;
  return std::chrono::milliseconds(neg ? -ms : ms);
}

std::string format_duration(std::chrono::milliseconds d) {
  long long ms = d.count();
  if (ms == 0) return "0s";
  std::string out;
  if (ms < 0) {
    out += '-';
    ms = -ms;
  }
  if (ms < 1000) return out + std::to_string(ms) + "ms";
  long long h = ms / 3'600'000, m = ms / 60'000 % 60, s = ms / 1000 % 60, rem = ms % 1000;
  if (h) out += std::to_string(h) + "h";
  if (h || m) out += std::to_string(m) + "m";
  out += std::to_string(s);
  if (rem) {
    std::string frac = std::to_string(rem + 1000).substr(1);
    while (!frac.empty() && frac.back() == '0') frac.pop_back();
    out += "." + frac;
  }
  return out + "s";
}

void Metadata::set(std::string_view key, std::string value) {
  items_[lower(key)] = std::move(value);
}
void Metadata::erase(std::string_view key) { items_.erase(lower(key)); }
bool Metadata::contains(std::string_view key) const { return items_.count(lower(key)) > 0; }

std::optional<std::string> Metadata::get(std::string_view key) const {
  auto it = items_.find(lower(key));
  if (it == items_.end()) return std::nullopt;
  return it->second;
}

std::string Metadata::get_string(std::string_view key, std::string_view def) const {
  auto v = get(key);
  return v ? *v : std::string(def);
}

bool Metadata::get_bool(std::string_view key, bool def) const {
  auto v = get(key);
  if (!v) return def;
  auto l = lower(trim(*v));
  // Go's strconv.ParseBool words (1, t, true, 0, f, false) plus yes/on and no/off.
  if (l == "true" || l == "1" || l == "t" || l == "yes" || l == "on") return true;
  if (l == "false" || l == "0" || l == "f" || l == "no" || l == "off") return false;
  return def;
}

std::int64_t Metadata::get_int(std::string_view key, std::int64_t def) const {
  auto v = get(key);
  if (!v) return def;
  auto t = trim(*v);
  // A boolean counts as 1 / 0, as in GOST's mdutil.GetInt.
  if (auto l = lower(t); l == "true")
    return 1;
  else if (l == "false")
    return 0;
  if (t.size() > 1 && t.front() == '+') t.remove_prefix(1);
  std::int64_t out = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  if (ec != std::errc() || p != t.data() + t.size()) return def;
  return out;
}

double Metadata::get_float(std::string_view key, double def) const {
  auto v = get(key);
  if (!v) return def;
  auto t = trim(*v);
  double out = 0;
  auto [p, ec] = std::from_chars(t.data(), t.data() + t.size(), out);
  if (ec != std::errc() || p != t.data() + t.size()) return def;
  return out;
}

std::chrono::milliseconds Metadata::get_duration(std::string_view key,
                                                 std::chrono::milliseconds def) const {
  auto v = get(key);
  if (!v) return def;
  auto d = parse_duration(*v);
  return d ? *d : def;
}

std::vector<std::string> Metadata::get_strings(std::string_view key) const {
  std::vector<std::string> out;
  auto v = get(key);
  if (!v) return out;
  auto t = trim(*v);
  if (!t.empty() && t.front() == '[') {
    auto j = nlohmann::json::parse(t, nullptr, false);
    if (j.is_array()) {
      for (auto& e : j) out.push_back(e.is_string() ? e.get<std::string>() : e.dump());
      return out;
    }
  }
  std::size_t start = 0;
  while (start <= t.size()) {
    auto comma = t.find(',', start);
    auto part = trim(
        t.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start));
    if (!part.empty()) out.emplace_back(part);
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return out;
}

std::map<std::string, std::string> Metadata::get_string_map(std::string_view key) const {
  std::map<std::string, std::string> out;
  auto v = get(key);
  if (!v) return out;
  auto t = trim(*v);
  if (!t.empty() && t.front() == '{') {
    auto j = nlohmann::json::parse(t, nullptr, false);
    if (j.is_object()) {
      for (auto& [k, e] : j.items()) out[k] = e.is_string() ? e.get<std::string>() : e.dump();
      return out;
    }
  }
  for (auto& item : get_strings(key)) {
    auto c = item.find(':');
    if (c == std::string::npos) continue;
    out[std::string(trim(std::string_view(item).substr(0, c)))] =
        std::string(trim(std::string_view(item).substr(c + 1)));
  }
  return out;
}

void Metadata::merge_missing(const Metadata& other) {
  for (auto& [k, v] : other.items_) items_.emplace(k, v);
}

}  // namespace gost

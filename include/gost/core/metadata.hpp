#pragma once
// Metadata: GOST's case-insensitive key/value bag with typed accessors.
//
// Values are kept as text. Values that were maps or lists in the configuration are kept as
// their JSON text; get_strings() / get_string_map() decode them.

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace gost {

// Parses a Go duration ("1h2m3.5s", "300ms", "10us") or a plain integer (seconds).
std::optional<std::chrono::milliseconds> parse_duration(std::string_view s);
// Formats a duration the way Go prints it ("1m30s", "500ms", "0s").
std::string format_duration(std::chrono::milliseconds d);

class Metadata {
 public:
  Metadata() = default;

  void set(std::string_view key, std::string value);
  void erase(std::string_view key);
  bool contains(std::string_view key) const;
  bool empty() const noexcept { return items_.empty(); }
  std::size_t size() const noexcept { return items_.size(); }

  // Raw text of a key, or nullopt.
  std::optional<std::string> get(std::string_view key) const;

  std::string get_string(std::string_view key, std::string_view def = {}) const;
  // "true", "1", "yes", "on" (any case) are true; "false", "0", "no", "off" are false.
  bool get_bool(std::string_view key, bool def = false) const;
  std::int64_t get_int(std::string_view key, std::int64_t def = 0) const;
  double get_float(std::string_view key, double def = 0) const;
  std::chrono::milliseconds get_duration(std::string_view key, std::chrono::milliseconds def = {}) const;
  // A JSON array, or a comma-separated list.
  std::vector<std::string> get_strings(std::string_view key) const;
  // A JSON object of strings, or "k1:v1,k2:v2".
  std::map<std::string, std::string> get_string_map(std::string_view key) const;

  // Keys are stored lower-cased.
  const std::map<std::string, std::string>& items() const noexcept { return items_; }

  // Copies keys from other that this does not have.
  void merge_missing(const Metadata& other);

 private:
  std::map<std::string, std::string> items_;
};

}  // namespace gost

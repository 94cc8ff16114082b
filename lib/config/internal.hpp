#pragma once
// Helpers shared by the gost_config sources (not installed).

#include <stdexcept>
#include <string>
#include <string_view>

#include "gost/config/config.hpp"
#include "gost/core/metadata.hpp"

namespace gost::config::detail {

// Thrown inside the decoder only; decode_config() turns it into a ConfigError.
class DecodeError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

std::string lower(std::string_view s);
// `"x"` for strings, `3` / `true` / `null` for scalars, "a map" / "a list" otherwise.
std::string describe(const Json& v);
// The text GOST's metadata getters see for a scalar (strings as-is, numbers in decimal).
std::string json_scalar_text(const Json& v);
// null, "", 0, false, [] and {}.
bool json_empty(const Json& v);

// True when a plain YAML scalar with this text would resolve to something other than a string
// (null, bool, int, float): such strings are written quoted.
bool yaml_plain_is_non_string(std::string_view s);

// JSON metadata -> gost::Metadata (maps and lists kept as JSON text).
Metadata to_metadata(const Json& md);

}  // namespace gost::config::detail

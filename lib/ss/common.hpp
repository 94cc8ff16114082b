#pragma once
// Internal helpers shared by the ss handlers and connectors.

#include <memory>
#include <string>

#include "gost/core/registry.hpp"
#include "ss/codec.hpp"

namespace gost::ss::detail {

// Keys from auth (method = username, password) and the `users` metadata; what: "handler"/...
Result<std::shared_ptr<const Keys>, ConfigError> keys_from(const std::optional<Credentials>& auth,
                                                           const Metadata& md, bool server,
                                                           const std::string& what);

}  // namespace gost::ss::detail

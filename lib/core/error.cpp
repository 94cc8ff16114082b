#include "gost/core/error.hpp"

namespace gost {
namespace {
class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "gost"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok: return "success";
      case errc::bad_request: return "malformed request";
      case errc::unsupported: return "not supported";
      case errc::auth_required: return "authentication required";
      case errc::auth_failed: return "authentication failed";
      case errc::forbidden: return "forbidden";
      case errc::not_admitted: return "client not admitted";
      case errc::bypassed: return "target refused by bypass";
      case errc::timeout: return "timed out";
      case errc::host_unreachable: return "host unreachable";
      case errc::connection_refused: return "connection refused";
      case errc::proxy_error: return "upstream proxy error";
      case errc::no_route: return "no usable node";
      case errc::message_too_large: return "message too large";
      case errc::closed: return "closed";
      case errc::config_error: return "configuration error";
      case errc::unknown_component: return "unknown component";
    }
    return "unknown gost error";
  }
};
}  // namespace

const std::error_category& gost_category() noexcept {
  static const Category c;
  return c;
}
}  // namespace gost

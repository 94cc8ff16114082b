// Reading config sources (YAML/JSON files, stdin, inline JSON) and writing -O output.
//
// YAML goes through yaml-cpp into the same JSON value that a JSON source gives, so that one strict
// decoder (schema.cpp) handles both. Plain YAML scalars are typed as Go's yaml.v3 types them when
// decoding into untyped values (GOST reads its config that way, through viper).

#include <fmt/format.h>
#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

#include "config/internal.hpp"
#include "gost/config/config.hpp"

namespace gost::config {
namespace detail {
namespace {

bool is_yaml_null(std::string_view s) {
  return s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL";
}

std::optional<bool> yaml_bool(std::string_view s) {
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  return std::nullopt;
}

// yaml.v3: integers via strconv.ParseInt(s without '_', 0, 64), then ParseUint.
std::optional<Json> yaml_int(std::string_view in) {
  if (in.empty()) return std::nullopt;
  char c0 = in[0];
  if (!(c0 == '+' || c0 == '-' || (c0 >= '0' && c0 <= '9'))) return std::nullopt;
  std::string s;
  for (char c : in) {
    if (c != '_') s += c;
  }
  bool neg = s[0] == '-';
  std::size_t i = (s[0] == '+' || s[0] == '-') ? 1 : 0;
  std::string d = s.substr(i);
  int base = 10;
  if (d.size() > 2 && d[0] == '0' && (d[1] == 'x' || d[1] == 'X')) {
    base = 16;
    d = d.substr(2);
  } else if (d.size() > 2 && d[0] == '0' && (d[1] == 'o' || d[1] == 'O')) {
    base = 8;
    d = d.substr(2);
  } else if (d.size() > 2 && d[0] == '0' && (d[1] == 'b' || d[1] == 'B')) {
    base = 2;
    d = d.substr(2);
  } else if (d.size() > 1 && d[0] == '0') {
    base = 8;
    d = d.substr(1);
  }
  if (d.empty()) return std::nullopt;
  for (char c : d) {
    if (!std::isalnum(static_cast<unsigned char>(c))) return std::nullopt;
  }
  errno = 0;
  char* end = nullptr;
  unsigned long long u = std::strtoull(d.c_str(), &end, base);
  if (errno != 0 || end != d.c_str() + d.size()) return std::nullopt;
  if (neg) {
    if (u > 9223372036854775808ULL) return std::nullopt;
    return Json(static_cast<std::int64_t>(0 - u));
  }
  if (u <= static_cast<unsigned long long>(INT64_MAX)) return Json(static_cast<std::int64_t>(u));
  return Json(static_cast<std::uint64_t>(u));
}

std::optional<double> yaml_float(std::string_view in) {
  static const std::regex re(R"(^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$)");
  std::string s;
  for (char c : in) {
    if (c != '_') s += c;
  }
  if (!std::regex_match(s, re)) return std::nullopt;
  return std::strtod(s.c_str(), nullptr);
}

Json resolve_plain(const std::string& s) {
  if (is_yaml_null(s)) return nullptr;
  if (auto b = yaml_bool(s)) return *b;
  if (auto i = yaml_int(s)) return *i;
  if (auto f = yaml_float(s)) return *f;
  return s;
}

std::string mark_text(const YAML::Mark& m) {
  if (m.is_null()) return "yaml";
  return fmt::format("yaml: line {}, column {}", m.line + 1, m.column + 1);
}

// Aliases can make a YAML document a cycle or expand exponentially ("billion laughs"): the
// conversion is bounded in depth and in the number of values it produces.
struct Budget {
  int depth = 0;
  std::size_t values = 0;
  static constexpr int kMaxDepth = 200;
  static constexpr std::size_t kMaxValues = 1000000;
};

Json to_json_value(const YAML::Node& n, Budget& b);

void merge_into(Json& obj, const Json& src) {  // YAML merge key "<<": existing keys win
  if (src.is_object()) {
    for (auto it = src.begin(); it != src.end(); ++it) {
      if (!obj.contains(it.key())) obj[it.key()] = *it;
    }
  } else if (src.is_array()) {
    for (auto& m : src) merge_into(obj, m);
  }
}

Json to_json_value(const YAML::Node& n, Budget& b) {
  if (++b.values > Budget::kMaxValues) {
    throw YAML::ParserException(n.Mark(), "too many values (recursive or exploding aliases?)");
  }
  if (b.depth >= Budget::kMaxDepth) {
    throw YAML::ParserException(n.Mark(), "nesting too deep (recursive alias?)");
  }
  ++b.depth;
  struct Restore {
    int& d;
    ~Restore() { --d; }
  } restore{b.depth};
  switch (n.Type()) {
    case YAML::NodeType::Undefined:
    case YAML::NodeType::Null:
      return nullptr;
    case YAML::NodeType::Scalar: {
      const std::string& tag = n.Tag();
      const std::string& s = n.Scalar();
      if (tag == "?") return resolve_plain(s);
      if (tag == "!" || tag == "tag:yaml.org,2002:str") return s;
      if (tag == "tag:yaml.org,2002:null") return nullptr;
      if (tag == "tag:yaml.org,2002:bool") {
        if (auto v = yaml_bool(s)) return *v;
        throw YAML::ParserException(n.Mark(), "cannot decode !!str `" + s + "` as a !!bool");
      }
      if (tag == "tag:yaml.org,2002:int") {
        if (auto i = yaml_int(s)) return *i;
        throw YAML::ParserException(n.Mark(), "cannot decode !!str `" + s + "` as a !!int");
      }
      if (tag == "tag:yaml.org,2002:float") {
        if (auto i = yaml_int(s)) return static_cast<double>(i->get<std::int64_t>());
        if (auto f = yaml_float(s)) return *f;
        throw YAML::ParserException(n.Mark(), "cannot decode !!str `" + s + "` as a !!float");
      }
      return s;
    }
    case YAML::NodeType::Sequence: {
      Json a = Json::array();
      for (const auto& e : n) a.push_back(to_json_value(e, b));
      return a;
    }
    case YAML::NodeType::Map: {
      Json o = Json::object();
      Json merges = Json::array();
      for (const auto& kv : n) {
        const YAML::Node& k = kv.first;
        if (!k.IsScalar() && !k.IsNull()) {
          throw YAML::ParserException(k.Mark(), "a map key must be a scalar");
        }
        std::string key = k.IsNull() ? std::string() : k.Scalar();
        if (key == "<<" && k.Tag() == "?") {
          merges.push_back(to_json_value(kv.second, b));
          continue;
        }
        o[key] = to_json_value(kv.second, b);
      }
      for (auto& m : merges) merge_into(o, m);
      return o;
    }
  }
  return nullptr;
}

// --- YAML output --------------------------------------------------------------------------------

std::string float_text(double d) {
  std::string s = fmt::format("{}", d);
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

void emit(YAML::Emitter& out, const nlohmann::ordered_json& v) {
  switch (v.type()) {
    case nlohmann::ordered_json::value_t::object:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        return;
      }
      out << YAML::BeginMap;
      for (auto it = v.begin(); it != v.end(); ++it) {
        out << YAML::Key;
        if (yaml_plain_is_non_string(it.key())) {
          out << YAML::DoubleQuoted << it.key();
        } else {
          out << it.key();
        }
        out << YAML::Value;
        emit(out, *it);
      }
      out << YAML::EndMap;
      return;
    case nlohmann::ordered_json::value_t::array:
      if (v.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        return;
      }
      out << YAML::BeginSeq;
      for (auto& e : v) emit(out, e);
      out << YAML::EndSeq;
      return;
    case nlohmann::ordered_json::value_t::string: {
      const auto& s = v.get_ref<const std::string&>();
      if (yaml_plain_is_non_string(s)) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      return;
    }
    case nlohmann::ordered_json::value_t::boolean:
      out << (v.get<bool>() ? "true" : "false");
      return;
    case nlohmann::ordered_json::value_t::number_integer:
      out << v.get<std::int64_t>();
      return;
    case nlohmann::ordered_json::value_t::number_unsigned:
      out << v.get<std::uint64_t>();
      return;
    case nlohmann::ordered_json::value_t::number_float:
      out << float_text(v.get<double>());
      return;
    default:
      out << YAML::Null;
      return;
  }
}

}  // namespace

bool yaml_plain_is_non_string(std::string_view s) {
  if (is_yaml_null(s) || yaml_bool(s)) return true;
  if (yaml_int(s) || yaml_float(s)) return true;
  return false;
}

}  // namespace detail

Result<Json, ConfigError> yaml_to_json(std::string_view text) {
  try {
    YAML::Node root = YAML::Load(std::string(text));
    detail::Budget budget;
    return detail::to_json_value(root, budget);
  } catch (const YAML::Exception& e) {
    return config_error(fmt::format("{}: {}", detail::mark_text(e.mark), e.msg));
  }
}

Result<Config, ConfigError> parse_config(std::string_view text, Format format,
                                         std::string_view origin) {
  auto prefixed = [&](const std::string& m) {
    return origin.empty() ? config_error(m) : config_error(fmt::format("{}: {}", origin, m));
  };
  Json j;
  if (format == Format::yaml) {
    auto r = yaml_to_json(text);
    if (!r) return prefixed(r.error().message);
    j = std::move(*r);
  } else {
    try {
      j = Json::parse(text.begin(), text.end());
    } catch (const Json::exception& e) {
      std::string m = e.what();
      // "[json.exception.parse_error.101] parse error at line 1, ..." -> "json: parse error at ..."
      if (auto p = m.find("] "); p != std::string::npos) m = m.substr(p + 2);
      return prefixed("json: " + m);
    }
  }
  auto cfg = decode_config(j);
  if (!cfg) return prefixed(cfg.error().message);
  return cfg;
}

Result<Config, ConfigError> load_config_source(const std::string& source, std::istream& in) {
  if (source == "-") {
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (text.empty()) return config_error("stdin: no config (EOF)");
    return parse_config(text, text[0] == '{' ? Format::json : Format::yaml, "stdin");
  }
  if (source.size() >= 2 && source.front() == '{' && source.back() == '}') {
    return parse_config(source, Format::json, "inline JSON");
  }
  if (source.rfind("http://", 0) == 0 || source.rfind("https://", 0) == 0) {
    return config_error(
        fmt::format("{}: loading a config from a URL is not supported by this build", source));
  }
  auto dot = source.find_last_of('.');
  auto slash = source.find_last_of('/');
  std::string ext;
  if (dot != std::string::npos && (slash == std::string::npos || dot > slash)) {
    ext = detail::lower(source.substr(dot + 1));
  }
  Format fmt_;
  if (ext == "yaml" || ext == "yml") {
    fmt_ = Format::yaml;
  } else if (ext == "json") {
    fmt_ = Format::json;
  } else {
    return config_error(fmt::format(
        "{}: unsupported config type \"{}\" (the extension must be .yaml, .yml or .json)", source,
        ext));
  }
  std::ifstream f(source, std::ios::binary);
  if (!f) return config_error(fmt::format("{}: cannot open: {}", source, std::strerror(errno)));
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  if (f.bad()) return config_error(fmt::format("{}: read error", source));
  return parse_config(text, fmt_, source);
}

std::string write_config(const Config& cfg, Format format) {
  auto j = to_json(cfg);
  if (format == Format::json) return j.dump(2) + "\n";
  YAML::Emitter out;
  out.SetIndent(2);
  detail::emit(out, j);
  return std::string(out.c_str()) + "\n";
}

}  // namespace gost::config

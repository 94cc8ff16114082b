#include "gost/core/log.hpp"

#include <chrono>
#include <cstring>
#include <ctime>

#include <fmt/format.h>

namespace gost {
namespace {
std::string timestamp() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto t = system_clock::to_time_t(now);
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%S", &tm);
  return fmt::format("{}.{:03d}Z", buf, static_cast<int>(ms));
}

void json_escape(std::string& out, std::string_view s) {
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          out += fmt::format("\\u{:04x}", static_cast<unsigned>(static_cast<unsigned char>(c)));
        } else {
          out += c;
        }
    }
  }
}

// logfmt value: quoted when it holds spaces, quotes, '=' or is empty.
void text_value(std::string& out, std::string_view v) {
  bool quote = v.empty();
  for (char c : v) {
    if (c == ' ' || c == '"' || c == '=' || static_cast<unsigned char>(c) < 0x20) quote = true;
  }
  if (!quote) {
    out += v;
    return;
  }
  out += '"';
  json_escape(out, v);
  out += '"';
}
}  // namespace

std::optional<LogLevel> parse_log_level(std::string_view s) {
  std::string l(s);
  for (auto& c : l) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (l == "trace") return LogLevel::trace;
  if (l == "debug") return LogLevel::debug;
  if (l == "info" || l.empty()) return LogLevel::info;
  if (l == "warn" || l == "warning") return LogLevel::warn;
  if (l == "error") return LogLevel::error;
  if (l == "fatal" || l == "panic") return LogLevel::fatal;
  if (l == "none" || l == "off") return LogLevel::none;
  return std::nullopt;
}

std::string_view to_string(LogLevel l) noexcept {
  switch (l) {
    case LogLevel::trace: return "trace";
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::fatal: return "fatal";
    case LogLevel::none: return "none";
  }
  return "info";
}

Logger::Logger(LogLevel level, LogFormat format, std::FILE* out, bool owns_out)
    : level_(level), format_(format), out_(out), owns_out_(owns_out) {}

Logger::~Logger() {
  if (owns_out_ && out_) std::fclose(out_);
}

bool Logger::set_output(const std::string& where) {
  std::FILE* f = nullptr;
  bool own = false;
  if (where.empty() || where == "stderr") {
    f = stderr;
  } else if (where == "stdout") {
    f = stdout;
  } else if (where == "none" || where == "null") {
    f = nullptr;
  } else {
    f = std::fopen(where.c_str(), "a");
    if (!f) return false;
    own = true;
  }
  std::lock_guard lk(mu_);
  if (owns_out_ && out_) std::fclose(out_);
  out_ = f;
  owns_out_ = own;
  return true;
}

void Logger::log(LogLevel l, std::string_view msg, std::initializer_list<LogField> fields) {
  if (!enabled(l) || !out_) return;
  std::string line;
  line.reserve(160);
  if (format_ == LogFormat::json) {
    line += "{\"time\":\"";
    line += timestamp();
    line += "\",\"level\":\"";
    line += to_string(l);
    line += "\",\"msg\":\"";
    json_escape(line, msg);
    line += '"';
    for (auto& f : fields) {
      line += ",\"";
      json_escape(line, f.key);
      line += "\":\"";
      json_escape(line, f.value);
      line += '"';
    }
    line += "}\n";
  } else {
    line += "time=";
    line += timestamp();
    line += " level=";
    line += to_string(l);
    line += " msg=";
    text_value(line, msg);
    for (auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      text_value(line, f.value);
    }
    line += '\n';
  }
  std::lock_guard lk(mu_);
  if (!out_) return;
  std::fwrite(line.data(), 1, line.size(), out_);
  std::fflush(out_);
}

Logger& Logger::global() {
  static Logger g;
  return g;
}

}  // namespace gost

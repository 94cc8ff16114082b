#pragma once
// Structured logging: levels, text or JSON lines, one write per line (thread-safe).

#include <cstdio>
#include <initializer_list>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

namespace gost {

enum class LogLevel { trace = 0, debug, info, warn, error, fatal, none };
enum class LogFormat { text, json };

std::optional<LogLevel> parse_log_level(std::string_view s);
std::string_view to_string(LogLevel l) noexcept;

struct LogField {
  std::string_view key;
  std::string value;
};

class Logger {
 public:
  // out is not owned unless owns_out is true.
  explicit Logger(LogLevel level = LogLevel::info, LogFormat format = LogFormat::text,
                  std::FILE* out = stderr, bool owns_out = false);
  ~Logger();
  Logger(const Logger&) = delete;
  Logger& operator=(const Logger&) = delete;

  bool enabled(LogLevel l) const noexcept { return l >= level_ && level_ != LogLevel::none; }
  LogLevel level() const noexcept { return level_; }
  void set_level(LogLevel l) noexcept { level_ = l; }
  void set_format(LogFormat f) noexcept { format_ = f; }
  LogFormat format() const noexcept { return format_; }
  // Redirects output; "stderr", "stdout", "none" or a file path (appended). False on error.
  bool set_output(const std::string& where);

  void log(LogLevel l, std::string_view msg, std::initializer_list<LogField> fields = {});
  void trace(std::string_view m, std::initializer_list<LogField> f = {}) { log(LogLevel::trace, m, f); }
  void debug(std::string_view m, std::initializer_list<LogField> f = {}) { log(LogLevel::debug, m, f); }
  void info(std::string_view m, std::initializer_list<LogField> f = {}) { log(LogLevel::info, m, f); }
  void warn(std::string_view m, std::initializer_list<LogField> f = {}) { log(LogLevel::warn, m, f); }
  void error(std::string_view m, std::initializer_list<LogField> f = {}) { log(LogLevel::error, m, f); }

  // The process-wide default logger.
  static Logger& global();

 private:
  LogLevel level_;
  LogFormat format_;
  std::FILE* out_;
  bool owns_out_;
  std::mutex mu_;
};

using LoggerPtr = std::shared_ptr<Logger>;

}  // namespace gost

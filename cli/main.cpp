// gost: GOST v3's command line (-L, -F, -C, -O, -D, -DD, -V) on top of the gost library.
// Flags are parsed as Go's flag package parses them (-L x, -L=x, --L x; bool flags take no
// separate value). Everything else is the library's: the URL grammar and the config schema
// (gost/config), the builders and the loader.

#include <fmt/format.h>
#include <pthread.h>
#include <signal.h>
#include <sys/stat.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gost/config/cmd.hpp"
#include "gost/config/config.hpp"
#include "gost/config/loader.hpp"
#include "gost/core/log.hpp"
#include "gost/core/registry.hpp"
#include "gost/core/runtime.hpp"

#ifndef GOST_VERSION
#define GOST_VERSION "0.0.0"
#endif

namespace {

// The GOST release whose command line and config schema this program follows.
constexpr const char* kGostCompat = "3.2.6";

struct Flags {
  std::vector<std::string> services;   // -L
  std::vector<std::string> nodes;      // -F
  std::vector<std::string> configs;    // -C
  std::string output;                  // -O
  bool debug = false;                  // -D
  bool trace = false;                  // -DD
  bool version = false;                // -V
  std::optional<std::string> api;      // -api
  std::optional<std::string> metrics;  // -metrics
  std::optional<std::string> reload;   // -R
  std::vector<std::string> rest;       // arguments after the flags
};

const char* kUsage =
    "Usage of gost:\n"
    "  -C value\n"
    "    \tconfig file(s), URL(s), or inline JSON\n"
    "  -D\tdebug mode\n"
    "  -DD\n"
    "    \ttrace mode\n"
    "  -F value\n"
    "    \tchain node list\n"
    "  -L value\n"
    "    \tservice list\n"
    "  -O string\n"
    "    \toutput format, one of yaml|json format\n"
    "  -R duration\n"
    "    \tauto reload period (e.g. 30s, 1m)\n"
    "  -V\tprint version\n"
    "  -api string\n"
    "    \tapi service address\n"
    "  -metrics string\n"
    "    \tmetrics service address\n";

std::string arch() {
#if defined(__x86_64__)
  return "amd64";
#elif defined(__aarch64__)
  return "arm64";
#elif defined(__i386__)
  return "386";
#elif defined(__arm__)
  return "arm";
#else
  return "unknown";
#endif
}

std::optional<bool> parse_go_bool(std::string_view s) {
  if (s == "1" || s == "t" || s == "T" || s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "0" || s == "f" || s == "F" || s == "false" || s == "False" || s == "FALSE")
    return false;
  return std::nullopt;
}

// Returns an exit code when the program must end now (usage, flag error).
std::optional<int> parse_flags(int argc, char** argv, Flags& f) {
  auto bad = [](const std::string& msg) {
    std::fprintf(stderr, "%s\n%s", msg.c_str(), kUsage);
    return 2;
  };
  int i = 1;
  for (; i < argc; ++i) {
    std::string s = argv[i];
    if (s.size() < 2 || s[0] != '-') break;
    std::size_t minuses = 1;
    if (s[1] == '-') {
      minuses = 2;
      if (s.size() == 2) {  // "--" ends the flags
        ++i;
        f.rest.push_back("--");
        break;
      }
    }
    std::string name = s.substr(minuses);
    if (name.empty() || name[0] == '-' || name[0] == '=') return bad("bad flag syntax: " + s);
    std::optional<std::string> value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    }
    bool* boolean = name == "D"    ? &f.debug
                    : name == "DD" ? &f.trace
                    : name == "V"  ? &f.version
                                   : nullptr;
    if (boolean) {
      if (value) {
        auto b = parse_go_bool(*value);
        if (!b)
          return bad(
              fmt::format("invalid boolean value \"{}\" for -{}: parse error", *value, name));
        *boolean = *b;
      } else {
        *boolean = true;
      }
      continue;
    }
    if (name == "h" || name == "help") {
      std::fputs(kUsage, stderr);
      return 0;
    }
    if (name != "L" && name != "F" && name != "C" && name != "O" && name != "api" &&
        name != "metrics" && name != "R") {
      return bad("flag provided but not defined: -" + name);
    }
    if (!value) {
      if (i + 1 >= argc) return bad("flag needs an argument: -" + name);
      value = argv[++i];
    }
    if (name == "L") f.services.push_back(*value);
    if (name == "F") f.nodes.push_back(*value);
    if (name == "C") f.configs.push_back(*value);
    if (name == "O") f.output = *value;
    if (name == "api") f.api = *value;
    if (name == "metrics") f.metrics = *value;
    if (name == "R") f.reload = *value;
  }
  for (; i < argc; ++i) f.rest.push_back(argv[i]);
  return std::nullopt;
}

int fail(const std::string& msg) {
  std::fprintf(stderr, "gost: %s\n", msg.c_str());
  return 1;
}

bool file_exists(const std::string& p) {
  struct stat st {};
  return ::stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

// viper's search: gost.{json,yaml,yml} in /etc/gost/, $HOME/.gost/, the working directory.
std::optional<std::string> find_default_config(std::string& searched) {
  std::vector<std::string> dirs = {"/etc/gost/"};
  if (const char* home = std::getenv("HOME")) dirs.push_back(std::string(home) + "/.gost/");
  dirs.push_back("./");
  for (auto& d : dirs) {
    searched += (searched.empty() ? "" : " ") + d;
    for (const char* ext : {"json", "yaml", "yml"}) {
      std::string p = d + "gost." + ext;
      if (file_exists(p)) return p;
    }
  }
  return std::nullopt;
}

// -api / -metrics values as GOST reads them: [user:pass@]addr[?...].
struct AddrFlag {
  std::string addr;
  std::optional<gost::config::AuthConfig> auth;
  std::map<std::string, std::string> query;
};
AddrFlag parse_addr_flag(std::string v) {
  AddrFlag out;
  if (auto p = v.find("://"); p != std::string::npos) v = v.substr(p + 3);
  if (auto q = v.find('?'); q != std::string::npos) {
    std::string qs = v.substr(q + 1);
    v = v.substr(0, q);
    std::size_t pos = 0;
    while (pos < qs.size()) {
      auto amp = qs.find('&', pos);
      std::string kv = qs.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
      pos = amp == std::string::npos ? qs.size() : amp + 1;
      auto eq = kv.find('=');
      std::string k = kv.substr(0, eq);
      for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      out.query.emplace(k, eq == std::string::npos ? "" : kv.substr(eq + 1));
    }
  }
  if (auto at = v.rfind('@'); at != std::string::npos) {
    std::string ui = v.substr(0, at);
    v = v.substr(at + 1);
    auto c = ui.find(':');
    out.auth = gost::config::AuthConfig{
        ui.substr(0, c), c == std::string::npos ? "" : ui.substr(c + 1), {}};
  }
  if (auto s = v.find('/'); s != std::string::npos) v = v.substr(0, s);
  out.addr = v;
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  // A peer that resets a connection must not kill the process: writes to it (and splice(2),
  // which has no MSG_NOSIGNAL) then fail with EPIPE instead, as in Go programs.
  std::signal(SIGPIPE, SIG_IGN);
  Flags flags;
  if (auto code = parse_flags(argc, argv, flags)) return *code;
  if (flags.version) {
    std::printf("gost %s-cpp (gost-cpp %s, gcc %s linux/%s)\n", kGostCompat, GOST_VERSION,
                __VERSION__, arch().c_str());
    return 0;
  }
  for (auto& a : flags.rest) {
    if (a == "--")
      return fail("running several gost processes with \" -- \" is not supported by this build");
  }
  if (!flags.rest.empty()) {
    std::fprintf(stderr, "gost: ignoring arguments after the flags: %s ...\n",
                 flags.rest[0].c_str());
  }

  using namespace gost::config;
  gost::Registry registry;
  gost::register_builtin_modules(registry);

  Config cfg;
  for (auto& c : flags.configs) {
    auto b = c.find_first_not_of(" \t\r\n");
    if (b == std::string::npos) continue;
    auto e = c.find_last_not_of(" \t\r\n");
    auto r = load_config_source(c.substr(b, e - b + 1), std::cin);
    if (!r) return fail(r.error().message);
    merge_config(cfg, std::move(*r));
  }
  auto cmd = build_config_from_cmd(flags.services, flags.nodes, registry);
  if (!cmd) return fail(cmd.error().message);
  merge_config(cfg, std::move(*cmd));

  if (cfg.services.empty() && !flags.api && !cfg.api && flags.configs.empty()) {
    std::string searched;
    auto path = find_default_config(searched);
    if (!path)
      return fail("no services: give -L or -C, or put gost.yaml or gost.json in one of: " +
                  searched);
    std::cin.clear();
    auto r = load_config_source(*path, std::cin);
    if (!r) return fail(r.error().message);
    merge_config(cfg, std::move(*r));
  }

  if (const char* v = std::getenv("GOST_LOGGER_LEVEL"); v && *v) {
    if (!cfg.log) cfg.log = LogConfig{};
    cfg.log->level = v;
  }
  if (const char* v = std::getenv("GOST_API"); v && *v) {
    if (!cfg.api) cfg.api = APIConfig{};
    cfg.api->addr = v;
  }
  if (const char* v = std::getenv("GOST_METRICS"); v && *v) {
    if (!cfg.metrics) cfg.metrics = MetricsConfig{};
    cfg.metrics->addr = v;
  }
  if (const char* v = std::getenv("GOST_PROFILING"); v && *v) {
    if (!cfg.profiling) cfg.profiling = ProfilingConfig{};
    cfg.profiling->addr = v;
  }
  if (flags.debug || flags.trace) {
    if (!cfg.log) cfg.log = LogConfig{};
    cfg.log->level = flags.trace ? "trace" : "debug";
  }
  if (flags.api) {
    auto a = parse_addr_flag(*flags.api);
    cfg.api = APIConfig{};
    cfg.api->addr = a.addr;
    cfg.api->auth = a.auth;
    cfg.api->path_prefix = a.query["pathprefix"];
    cfg.api->access_log = a.query["accesslog"] == "true" || a.query["accesslog"] == "1";
  }
  if (flags.metrics) {
    auto m = parse_addr_flag(*flags.metrics);
    cfg.metrics = MetricsConfig{};
    cfg.metrics->addr = m.addr;
    cfg.metrics->auth = m.auth;
    cfg.metrics->path = m.query["path"];
  }

  if (!flags.output.empty()) {
    std::fputs(write_config(cfg, flags.output == "json" ? Format::json : Format::yaml).c_str(),
               stdout);
    return 0;
  }
  if (flags.reload) return fail("-R (periodic reload) is not supported by this build");

  if (cfg.log) {
    if (auto err = apply_log_config(*cfg.log, gost::Logger::global())) return fail(err->message);
  }

  // Signals are taken synchronously by this thread; block them before any thread starts so that
  // the runtime's threads inherit the mask.
  sigset_t sigs;
  sigemptyset(&sigs);
  sigaddset(&sigs, SIGINT);
  sigaddset(&sigs, SIGTERM);
  sigaddset(&sigs, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

  // One runtime thread per core, or as many as GOMAXPROCS says: the variable that caps the Go
  // tool's threads caps this one's too.
  std::size_t threads = 0;
  if (const char* mp = std::getenv("GOMAXPROCS")) {
    char* end = nullptr;
    long n = std::strtol(mp, &end, 10);
    if (end != mp && *end == '\0' && n > 0 && n <= 1024) threads = static_cast<std::size_t>(n);
  }
  // GOST_CPU_AFFINITY=1 pins the threads; GOST_CPU_STEERING=0 spreads new connections by hash
  // instead of by the CPU that took them in; GOST_BALANCE_MIN_IDLE=N (per cent of one CPU, 0 =
  // always) is how much idle CPU time steering's balancing needs to move a connection to a less
  // loaded thread (RuntimeOptions).
  gost::RuntimeOptions ro;
  ro.threads = threads;
  if (const char* aff = std::getenv("GOST_CPU_AFFINITY")) ro.cpu_affinity = std::string_view(aff) == "1";
  if (const char* st = std::getenv("GOST_CPU_STEERING")) ro.steer_by_cpu = std::string_view(st) != "0";
  if (const char* mi = std::getenv("GOST_BALANCE_MIN_IDLE")) {
    char* end = nullptr;
    long n = std::strtol(mi, &end, 10);
    if (end == mi || *end != '\0' || n < 0 || n > 100000) return fail("GOST_BALANCE_MIN_IDLE: a per cent of one CPU, 0 to 100000");
    ro.balance_min_idle = static_cast<int>(n);
  }
  gost::Runtime runtime(ro);
  auto app = App::create(runtime, registry, cfg);
  if (!app) return fail(app.error().message);
  runtime.start();
  std::string what;
  if (auto ec = (*app)->start(&what)) {
    runtime.stop();
    runtime.join();
    return fail(what);
  }

  int sig = 0;
  for (;;) {
    if (sigwait(&sigs, &sig) != 0) continue;
    if (sig == SIGHUP) {
      gost::Logger::global().warn(
          "reloading the config (SIGHUP) is not supported by this build; ignored");
      continue;
    }
    break;
  }
  gost::Logger::global().info("shutting down", {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  (*app)->stop(std::chrono::seconds(5));
  app->reset();
  runtime.stop();
  runtime.join();
  return 0;
}

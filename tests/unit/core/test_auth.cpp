// Static authers, auther files and groups.
#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_future.hpp>
#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "gost/core/auth.hpp"

namespace {

std::optional<std::string> auth(const gost::AutherPtr& a, std::string user, std::string pass) {
  asio::io_context io;
  gost::AuthOptions opts;  // named: GCC 12 destroys braced temporaries passed to coroutines twice
  auto f = asio::co_spawn(io, a->authenticate(std::move(user), std::move(pass), std::move(opts)),
                          asio::use_future);
  io.run();
  return f.get();
}

// A file in a fresh temporary directory, removed with the object.
struct TempFile {
  std::filesystem::path dir, path;
  explicit TempFile(const std::string& content) {
    std::random_device rd;
    dir = std::filesystem::temp_directory_path() / ("gost-auth-test-" + std::to_string(rd()));
    std::filesystem::create_directories(dir);
    path = dir / "secrets.txt";
    std::ofstream(path, std::ios::binary) << content;
  }
  ~TempFile() {
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

}  // namespace

TEST_CASE("static auther: the client id is the user name", "[auth]") {
  auto a = gost::make_static_auther({{"alice", "s3cret"}, {"bob", "pw"}});
  CHECK(auth(a, "alice", "s3cret") == std::optional<std::string>("alice"));
  CHECK(auth(a, "bob", "pw") == std::optional<std::string>("bob"));
  CHECK_FALSE(auth(a, "alice", "wrong"));
  CHECK_FALSE(auth(a, "alice", "s3cret "));
  CHECK_FALSE(auth(a, "alice", ""));
  CHECK_FALSE(auth(a, "carol", "s3cret"));
  CHECK_FALSE(auth(a, "", ""));
  CHECK_FALSE(auth(a, "Alice", "s3cret"));  // user names are case-sensitive
}

TEST_CASE("static auther: GOST's edge cases", "[auth]") {
  // An empty table accepts nobody.
  CHECK_FALSE(auth(gost::make_static_auther({}), "", ""));
  CHECK_FALSE(auth(gost::make_static_auther({}), "x", "y"));
  // A user with an empty password is accepted with any password.
  auto a = gost::make_static_auther({{"guest", ""}});
  CHECK(auth(a, "guest", "") == std::optional<std::string>("guest"));
  CHECK(auth(a, "guest", "anything") == std::optional<std::string>("guest"));
  CHECK_FALSE(auth(a, "other", ""));
}

TEST_CASE("auther group: any member accepts", "[auth][group]") {
  CHECK(gost::make_auther_group({}) == nullptr);
  CHECK(gost::make_auther_group({nullptr}) == nullptr);
  auto a = gost::make_static_auther({{"alice", "1"}});
  auto b = gost::make_static_auther({{"bob", "2"}, {"alice", "3"}});
  CHECK(gost::make_auther_group({a, nullptr}) == a);
  auto g = gost::make_auther_group({a, b});
  CHECK(auth(g, "alice", "1") == std::optional<std::string>("alice"));
  CHECK(auth(g, "alice", "3") == std::optional<std::string>("alice"));
  CHECK(auth(g, "bob", "2") == std::optional<std::string>("bob"));
  CHECK_FALSE(auth(g, "bob", "1"));
  CHECK_FALSE(auth(g, "carol", "1"));
}

TEST_CASE("auther file: users, comments, blank lines", "[auth][file]") {
  TempFile f(
      "# users\n"
      "\n"
      "alice s3cret\r\n"
      "   bob\t\tpw  \n"
      "  # indented comment\n"
      "admin           #123456\n"  // '#' inside a line is part of the password
      "carol pass with spaces\n"
      "alice newer\n"  // the last entry wins
      "   \t  \n"
      "dave last-line-without-newline");
  auto r = gost::parse_auther_file(f.path.string());
  REQUIRE(r);
  const auto& u = *r;
  CHECK(u.size() == 5);
  CHECK(u.at("alice") == "newer");
  CHECK(u.at("bob") == "pw");
  CHECK(u.at("admin") == "#123456");
  CHECK(u.at("carol") == "pass with spaces");
  CHECK(u.at("dave") == "last-line-without-newline");

  auto a = gost::make_static_auther(*r);
  CHECK(auth(a, "carol", "pass with spaces") == std::optional<std::string>("carol"));
}

TEST_CASE("auther file: errors name the file and the line", "[auth][file]") {
  {
    TempFile f("alice pw\n# ok\nbob\ncarol pw\n");
    auto r = gost::parse_auther_file(f.path.string());
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find(f.path.string()) != std::string::npos);
    CHECK(r.error().message.find("line 3") != std::string::npos);
  }
  {
    TempFile f(std::string("alice pw\nbob p\x01w\n"));
    auto r = gost::parse_auther_file(f.path.string());
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("line 2") != std::string::npos);
  }
  {
    TempFile f("");
    auto r = gost::parse_auther_file(f.path.string());
    REQUIRE(r);
    CHECK(r->empty());
  }
  auto missing = gost::parse_auther_file("/nonexistent/gost/secrets.txt");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message.find("/nonexistent/gost/secrets.txt") != std::string::npos);
}

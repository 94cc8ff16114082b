// Metadata accessors and Go-style durations.
#include <catch2/catch.hpp>

#include "gost/core/metadata.hpp"

using namespace std::chrono_literals;
using gost::format_duration;
using gost::Metadata;
using gost::parse_duration;

TEST_CASE("parse_duration: Go syntax", "[metadata][duration]") {
  CHECK(parse_duration("1h2m3.5s") == 3723500ms);
  CHECK(parse_duration("300ms") == 300ms);
  CHECK(parse_duration("1.5h") == 5400000ms);
  CHECK(parse_duration("2m") == 120000ms);
  CHECK(parse_duration("0") == 0ms);
  CHECK(parse_duration("0s") == 0ms);
  CHECK(parse_duration(".5s") == 500ms);
  CHECK(parse_duration("5.s") == 5000ms);
  CHECK(parse_duration("-1.5s") == -1500ms);
  CHECK(parse_duration("+2s") == 2000ms);
  CHECK(parse_duration("1500us") == 2ms);         // rounded to the nearest ms
  CHECK(parse_duration("1500\xC2\xB5s") == 2ms);  // U+00B5 micro sign
  CHECK(parse_duration("1500\xCE\xBCs") == 2ms);  // U+03BC greek mu
  CHECK(parse_duration("2000000ns") == 2ms);
  CHECK(parse_duration(" 10s ") == 10000ms);
  // Non-zero durations below 1 ms do not collapse to 0 ("none").
  CHECK(parse_duration("10us") == 1ms);
  CHECK(parse_duration("1ns") == 1ms);
}

TEST_CASE("parse_duration: plain integers are seconds", "[metadata][duration]") {
  CHECK(parse_duration("30") == 30000ms);
  CHECK(parse_duration("-5") == -5000ms);
  CHECK(parse_duration("0") == 0ms);
}

TEST_CASE("parse_duration: rejects bad input", "[metadata][duration]") {
  for (const char* s : {"", " ", "-", "s", "1.5", "1x", "1h 2m", "h1", "1..5s", ".s", "1s2", "abc",
                        "10sec", "1e3s", "99999999999999999999h"}) {
    INFO(s);
    CHECK_FALSE(parse_duration(s));
  }
}

TEST_CASE("format_duration prints like Go", "[metadata][duration]") {
  CHECK(format_duration(0ms) == "0s");
  CHECK(format_duration(500ms) == "500ms");
  CHECK(format_duration(1500ms) == "1.5s");
  CHECK(format_duration(90s) == "1m30s");
  CHECK(format_duration(1h) == "1h0m0s");
  CHECK(format_duration(3723500ms) == "1h2m3.5s");
  CHECK(format_duration(10s) == "10s");
  CHECK(format_duration(1005ms) == "1.005s");
  CHECK(format_duration(-1500ms) == "-1.5s");
  for (auto d : {1ms, 999ms, 1000ms, 61001ms, 3600000ms, 86399999ms}) {
    INFO(d.count());
    CHECK(parse_duration(format_duration(d)) == d);
  }
}

TEST_CASE("Metadata keys are case-insensitive", "[metadata]") {
  Metadata md;
  CHECK(md.empty());
  md.set("ReadTimeout", "5s");
  CHECK(md.contains("readtimeout"));
  CHECK(md.contains("READTIMEOUT"));
  CHECK(md.get("readTimeout") == std::optional<std::string>("5s"));
  CHECK(md.items().count("readtimeout") == 1);
  md.set("READTIMEOUT", "6s");  // same key
  CHECK(md.size() == 1);
  CHECK(md.get_string("readtimeout") == "6s");
  md.erase("ReadTimeOut");
  CHECK_FALSE(md.contains("readtimeout"));
  CHECK_FALSE(md.get("missing"));
  CHECK(md.get_string("missing", "def") == "def");
}

TEST_CASE("Metadata typed accessors", "[metadata]") {
  Metadata md;
  for (const char* t : {"true", "TRUE", "1", "yes", "On", "t"}) {
    md.set("b", t);
    INFO(t);
    CHECK(md.get_bool("b") == true);
  }
  for (const char* f : {"false", "0", "no", "OFF", "f"}) {
    md.set("b", f);
    INFO(f);
    CHECK(md.get_bool("b", true) == false);
  }
  md.set("b", "maybe");
  CHECK(md.get_bool("b", true) == true);
  CHECK(md.get_bool("b", false) == false);
  CHECK(md.get_bool("none", true) == true);

  md.set("i", " 42 ");
  CHECK(md.get_int("i") == 42);
  md.set("i", "-7");
  CHECK(md.get_int("i") == -7);
  md.set("i", "+7");
  CHECK(md.get_int("i") == 7);
  md.set("i", "true");
  CHECK(md.get_int("i") == 1);
  md.set("i", "12abc");
  CHECK(md.get_int("i", 9) == 9);
  CHECK(md.get_int("none", 3) == 3);

  md.set("f", "1.25");
  CHECK(md.get_float("f") == Approx(1.25));
  md.set("f", "x");
  CHECK(md.get_float("f", 2.5) == Approx(2.5));

  md.set("d", "1m30s");
  CHECK(md.get_duration("d") == 90s);
  md.set("d", "15");
  CHECK(md.get_duration("d") == 15s);
  md.set("d", "bogus");
  CHECK(md.get_duration("d", 7s) == 7s);
  CHECK(md.get_duration("none", 3s) == 3s);
}

TEST_CASE("Metadata lists and maps", "[metadata]") {
  Metadata md;
  md.set("l", R"(["a", "b c", 3])");
  CHECK(md.get_strings("l") == std::vector<std::string>{"a", "b c", "3"});
  md.set("l", "a, b ,,c");
  CHECK(md.get_strings("l") == std::vector<std::string>{"a", "b", "c"});
  md.set("l", "single");
  CHECK(md.get_strings("l") == std::vector<std::string>{"single"});
  md.set("l", "[not json");  // falls back to a comma list
  CHECK(md.get_strings("l") == std::vector<std::string>{"[not json"});
  CHECK(md.get_strings("none").empty());

  md.set("m", R"({"k1": "v1", "k2": 2})");
  auto m = md.get_string_map("m");
  CHECK(m.size() == 2);
  CHECK(m["k1"] == "v1");
  CHECK(m["k2"] == "2");
  md.set("m", "k1:v1, k2 : v2:with:colons,bad");
  m = md.get_string_map("m");
  CHECK(m.size() == 2);
  CHECK(m["k1"] == "v1");
  CHECK(m["k2"] == "v2:with:colons");
  CHECK(md.get_string_map("none").empty());
}

TEST_CASE("Metadata::merge_missing keeps existing keys", "[metadata]") {
  Metadata a, b;
  a.set("x", "1");
  b.set("X", "2");
  b.set("y", "3");
  a.merge_missing(b);
  CHECK(a.get_string("x") == "1");
  CHECK(a.get_string("y") == "3");
  CHECK(a.size() == 2);
}

// gRPC Chunk framing (GOST's GostTunel service), tunnel paths and GOST 2.x target names.
#include <catch2/catch.hpp>

#include "http2/grpc_codec.hpp"
#include "http2/internal.hpp"

using namespace gost;
using namespace gost::http2;

TEST_CASE("grpc: Chunk framing is grpc-go's", "[http2][grpc]") {
  std::vector<std::uint8_t> out;
  const std::string hello = "hello";
  grpc::serialize_chunk(Bytes(reinterpret_cast<const std::uint8_t*>(hello.data()), hello.size()),
                        out);
  // | 0 | len=7 | 0x0A 0x05 "hello" |
  std::vector<std::uint8_t> want{0, 0, 0, 0, 7, 0x0A, 5, 'h', 'e', 'l', 'l', 'o'};
  CHECK(out == want);
  auto p = grpc::parse_chunk(Bytes(out));
  REQUIRE(p.ok());
  CHECK(p.consumed == out.size());
  CHECK(p.value.offset == 7);
  CHECK(p.value.length == 5);

  // An empty Chunk is an empty message (proto3 leaves the field out).
  out.clear();
  grpc::serialize_chunk(Bytes(), out);
  CHECK(out == std::vector<std::uint8_t>{0, 0, 0, 0, 0});
  auto e = grpc::parse_chunk(Bytes(out));
  REQUIRE(e.ok());
  CHECK(e.value.length == 0);

  // 300 bytes: a two-byte varint length (0xAC 0x02).
  std::vector<std::uint8_t> big(300, 'x');
  out.clear();
  grpc::serialize_chunk(Bytes(big), out);
  CHECK(out[3] == 0x01);  // 303 = 0x012F
  CHECK(out[4] == 0x2F);
  CHECK(out[5] == 0x0A);
  CHECK(out[6] == 0xAC);
  CHECK(out[7] == 0x02);
  auto b = grpc::parse_chunk(Bytes(out));
  REQUIRE(b.ok());
  CHECK(b.value.length == 300);
}

TEST_CASE("grpc: partial, unknown fields and bad messages", "[http2][grpc]") {
  std::vector<std::uint8_t> msg{0, 0, 0, 0, 7, 0x0A, 5, 'h', 'e', 'l', 'l', 'o'};
  for (std::size_t n = 0; n < msg.size(); ++n)
    CHECK(grpc::parse_chunk(Bytes(msg.data(), n)).need_more());
  // Unknown varint field 2 before the data is skipped.
  std::vector<std::uint8_t> unk{0, 0, 0, 0, 6, 0x10, 0x01, 0x0A, 2, 'h', 'i'};
  auto u = grpc::parse_chunk(Bytes(unk));
  REQUIRE(u.ok());
  CHECK(u.value.offset == 9);
  CHECK(u.value.length == 2);
  // Compressed flag: unsupported; flag 2: bad; too long; truncated field.
  std::vector<std::uint8_t> comp{1, 0, 0, 0, 0};
  CHECK(grpc::parse_chunk(Bytes(comp)).ec == errc::unsupported);
  std::vector<std::uint8_t> flag2{2, 0, 0, 0, 0};
  CHECK(grpc::parse_chunk(Bytes(flag2)).failed());
  std::vector<std::uint8_t> huge{0, 0x7f, 0, 0, 0};
  CHECK(grpc::parse_chunk(Bytes(huge)).ec == errc::message_too_large);
  std::vector<std::uint8_t> trunc{0, 0, 0, 0, 3, 0x0A, 5, 'h'};
  CHECK(grpc::parse_chunk(Bytes(trunc)).ec == errc::bad_request);
  std::vector<std::uint8_t> group{0, 0, 0, 0, 1, 0x0B};
  CHECK(grpc::parse_chunk(Bytes(group)).failed());
}

TEST_CASE("grpc: tunnel paths as GOST builds them", "[http2][grpc]") {
  CHECK(grpc::tunnel_path("") == "/GostTunel/Tunnel");
  CHECK(grpc::tunnel_path("/") == "/GostTunel/Tunnel");
  CHECK(grpc::tunnel_path("svc") == "/svc/Tunnel");
  CHECK(grpc::tunnel_path("/my.Svc/Pipe") == "/my.Svc/Pipe");
  CHECK(grpc::tunnel_path("/a/b/c/") == "/a/b-c");
}

TEST_CASE("http2: GOST 2.x Gost-Target names", "[http2]") {
  auto v = decode_server_name("T2WmIFpYaGhiWEJzWlM1amIyMDZORFF6");
  REQUIRE(v);
  CHECK(*v == "example.com:443");
  CHECK(!decode_server_name("T2WmIFpYaGhiWEJzWlM1amIyMDZORFF7"));  // crc mismatch
  CHECK(!decode_server_name("!!"));
  CHECK(!decode_server_name(""));
}

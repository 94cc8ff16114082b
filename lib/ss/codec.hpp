#pragma once
// Shadowsocks stream and packet codecs. Pure: no I/O; the caller owns the buffers.
//
// AEAD stream (SIP004), each direction:
//   [salt][len: 2B BE, sealed (+16 tag)][payload: len B sealed (+16 tag)] [len][payload] ...
//   subkey = HKDF-SHA1(master key, salt, "ss-subkey"); nonce = 12-byte little-endian counter
//   from 0, +1 per seal/open; len <= 0x3FFF. The client's first payload starts with the target
//   in SOCKS5 address form (ATYP ADDR PORT).
// 2022 edition (SIP022), request (client -> server):
//   [salt][EIH 16B per identity hop][sealed fixed header: type 0 | timestamp 8B BE | len 2B]
//   [sealed variable header (len B): SOCKS5 address | padding len 2B | padding | initial payload]
//   then chunks as above with len <= 0xFFFF.
//   response: [salt][sealed: type 1 | timestamp | request salt | len 2B][sealed first payload
//   (len B)] then chunks. subkey = BLAKE3 derive_key("shadowsocks 2022 session subkey",
//   PSK || salt). EIH i = AES-ECB(derive_key("shadowsocks 2022 identity subkey", iPSK_i || salt),
//   BLAKE3(iPSK_{i+1} or uPSK)[0..16)).
// AEAD packet (UDP): [salt][sealed with nonce 0: SOCKS5 address | data].
// GOST UDP-tun frame (ssu over a stream): [len(DATA) 2B BE][0xFF][SOCKS5 address][DATA].

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "gost/core/address.hpp"
#include "gost/core/codec.hpp"
#include "ss/crypto.hpp"
#include "ss/replay.hpp"

namespace gost::ss {

inline constexpr std::int64_t kTimestampWindow = 30;  // seconds, SIP022
inline constexpr std::size_t kMaxPadding = 900;
inline constexpr std::uint8_t kTunFrag = 0xFF;

// A salt held inline (no allocation per connection).
struct Salt {
  std::array<std::uint8_t, kMaxSaltSize> b{};
  std::uint8_t n = 0;
  Salt() = default;
  Salt(const std::uint8_t* p, std::size_t len) { assign(p, len); }
  Salt(const std::vector<std::uint8_t>& v) : Salt(v.data(), v.size()) {}  // NOLINT: implicit
  void assign(const std::uint8_t* p, std::size_t len) {
    n = static_cast<std::uint8_t>(len < b.size() ? len : b.size());
    for (std::size_t i = 0; i < n; ++i) b[i] = p[i];
  }
  std::uint8_t* data() noexcept { return b.data(); }
  const std::uint8_t* data() const noexcept { return b.data(); }
  std::size_t size() const noexcept { return n; }
  bool empty() const noexcept { return n == 0; }
  std::uint8_t& operator[](std::size_t i) noexcept { return b[i]; }
};

// Keys of one configured endpoint (shared by its connections, read-only after setup).
struct Keys {
  const Method* method = nullptr;
  // AEAD: the master key. 2022: the PSKs from the password, split on ':' (client: the identity
  // PSKs then the user PSK; server: its own PSK is the last).
  std::vector<std::vector<std::uint8_t>> psks;
  // 2022 server with users: BLAKE3(uPSK)[0..16) -> (name, uPSK).
  std::map<std::array<std::uint8_t, 16>, std::pair<std::string, std::vector<std::uint8_t>>> users;
  // Server: salts of accepted streams (replays are refused). May be null.
  std::shared_ptr<SaltFilter> filter;

  const std::vector<std::uint8_t>& key() const { return psks.back(); }
};

// Builds Keys from method and password (and a users map name -> base64 uPSK for a 2022 server).
// Errors name the problem (unknown method, bad base64 PSK, wrong key length).
Result<Keys, std::string> make_keys(const std::string& method, const std::string& password,
                                    const std::map<std::string, std::string>& users = {});

// Decodes one direction of a stream. step() looks at the raw bytes buffered so far and either
// needs more, or decodes the next unit (salt, header or chunk) in place.
class Decoder {
 public:
  enum class Role { server, client };
  Decoder(const Keys* keys, Role role) : keys_(keys), role_(role) {}

  struct Step {
    ParseStatus status = ParseStatus::need_more;
    std::size_t need = 0;       // need_more: raw bytes the next unit needs in total
    std::size_t consumed = 0;   // ok: raw bytes used
    std::size_t plain_off = 0;  // ok: plaintext at data + plain_off (may be empty)
    std::size_t plain_len = 0;
    bool in_out = false;  // ok: the plaintext was written to `out` instead
    std::error_code ec;
  };
  // `out`, when big enough for a whole payload chunk, receives it directly (no copy).
  Step step(std::uint8_t* data, std::size_t size, std::uint8_t* out = nullptr,
            std::size_t out_cap = 0);

  // Client (2022): the request salt the response must echo.
  void set_request_salt(const std::uint8_t* s, std::size_t n) { hs().req_salt.assign(s, n); }
  // Server (2022): the client's salt, echoed in the response (empty after release_handshake()).
  const Salt& peer_salt() const;
  // Server: the user the identity header named (2022 with users).
  const std::string& user() const;
  // The PSK of this stream (the user's with 2022 users); it lives in Keys.
  const std::vector<std::uint8_t>& session_key() const {
    return session_key_ ? *session_key_ : keys_->key();
  }
  // Seconds since the epoch, for the 2022 timestamp check (tests and fuzzing fix it).
  void set_clock(std::int64_t (*now)()) { hs().now = now; }
  bool header_done() const noexcept { return stage_ >= kLen; }
  // True once the salts are no longer needed here: the header is decoded and (server) the salt
  // went through the replay filter.
  bool handshake_done() const noexcept {
    return stage_ >= kLen && (role_ == Role::client || replay_checked_);
  }
  // Frees the salts and the clock hook (an idle stream then holds only keys and nonces).
  void release_handshake() noexcept { hs_.reset(); }
  // The size of the payload chunk to be decoded next (0 when the next unit is not a payload).
  std::size_t next_payload() const noexcept { return stage_ == kPayload ? len_ : 0; }

 private:
  enum Stage { kSalt, kFixed, kVar, kFirst, kLen, kPayload };
  Step fail(std::error_code ec);
  // What only the header needs, on the heap until release_handshake().
  struct Handshake {
    Salt salt;      // the peer's
    Salt req_salt;  // client (2022): ours, to be echoed
    std::int64_t (*now)() = nullptr;
  };
  Handshake& hs() {
    if (!hs_) hs_ = std::make_unique<Handshake>();
    return *hs_;
  }
  const Keys* keys_;
  std::unique_ptr<Handshake> hs_;
  const std::vector<std::uint8_t>* session_key_ = nullptr;  // in Keys
  const std::string* user_ = nullptr;                       // in Keys
  Aead aead_;
  std::uint32_t len_ = 0;
  Role role_;
  Stage stage_ = kSalt;
  bool replay_checked_ = false;
};

// Encodes one direction of a stream.
class Encoder {
 public:
  enum class Role { server, client };
  Encoder(const Keys* keys, Role role);

  // Client: the target written at the start; must be set before the first encode().
  std::error_code set_target(const Address& target);
  // Server (2022): the request salt to echo, and the session key (the user's PSK), which must
  // outlive the encoder (it lives in Keys).
  void set_response_info(const Salt& request_salt, const std::vector<std::uint8_t>& key) {
    hs().req_salt = request_salt;
    session_key_ = &key;
  }

  // Worst-case bytes the headers add before the first chunk; out_cap must exceed this plus
  // one chunk's overhead.
  static constexpr std::size_t kHeaderRoom =
      32 + 16 * 4 + 11 + 16 + 32 + 259 + 2 + kMaxPadding + 64;
  static constexpr std::size_t kChunkOverhead = 2 + 2 * kTagSize;

  // Encrypts a prefix of in[0..n) into out (with the stream headers first on the first call).
  // Returns bytes written to out, and *consumed bytes of in; 0 on a crypto error.
  // n == 0 on the first call of a client writes the header alone (2022: with padding).
  std::size_t encode(const std::uint8_t* in, std::size_t n, std::uint8_t* out, std::size_t cap,
                     std::size_t* consumed);
  bool started() const noexcept { return started_; }
  // Our salt; empty once the header is written (it is not needed any more).
  const Salt& salt() const;
  void set_clock(std::int64_t (*now)()) { hs().now = now; }
  // Tests: a fixed salt instead of a random one.
  void set_salt(const std::vector<std::uint8_t>& s) { hs().salt = Salt(s); }

 private:
  std::size_t start(const std::uint8_t* in, std::size_t n, std::uint8_t* out, std::size_t cap,
                    std::size_t* consumed);
  // What only the header needs, on the heap until the header is written.
  struct Handshake {
    Salt salt;                         // ours
    std::vector<std::uint8_t> target;  // SOCKS5 address bytes (client)
    Salt req_salt;                     // server (2022): the request salt to echo
    std::int64_t (*now)() = nullptr;
  };
  Handshake& hs() {
    if (!hs_) hs_ = std::make_unique<Handshake>();
    return *hs_;
  }
  const Keys* keys_;
  std::unique_ptr<Handshake> hs_;
  const std::vector<std::uint8_t>* session_key_ = nullptr;  // in Keys
  Aead aead_;
  Role role_;
  bool started_ = false;
};

std::int64_t unix_now();

// AEAD UDP packet: appends [salt][sealed(address | data)] to out.
std::error_code seal_packet(const Keys& keys, const Address& addr, const std::uint8_t* data,
                            std::size_t n, std::vector<std::uint8_t>& out);
// Opens a packet in place: on success the data is at pkt + *data_off, *data_len bytes long.
std::error_code open_packet(const Keys& keys, std::uint8_t* pkt, std::size_t n, Address* addr,
                            std::size_t* data_off, std::size_t* data_len);

// SIP022 UDP packets as GOST's go-shadowsocks2 builds them:
//   [AES-ECB(header key, session id 8B BE | packet id 8B BE)][EIH 16B per identity hop]
//   [AEAD(body key, nonce = header[4..16]): type | timestamp 8B | (response: client session id)
//    | padding len 2B | padding | SOCKS5 address | data]
// with the body subkey = derive_key("shadowsocks 2022 session subkey", key || session id as
// 8 little-endian bytes) (GOST's byte order) and EIH = AES-ECB(iPSK, BLAKE3(next PSK)[0..16) ^
// plain separate header).
struct Packet2022 {
  std::uint64_t session_id = 0;
  std::uint64_t packet_id = 0;
  std::uint64_t client_session_id = 0;  // in responses
  Address addr;
  std::vector<std::uint8_t> key;  // server: the key the client used (its user PSK)
  std::string user;
};
// Client request (keys: the client's PSK list).
std::error_code seal_2022_request(const Keys& keys, std::uint64_t session_id,
                                  std::uint64_t packet_id, const Address& target,
                                  const std::uint8_t* data, std::size_t n,
                                  std::vector<std::uint8_t>& out, std::int64_t now);
// Server response sealed with `key` (the session's user PSK, or the server PSK).
std::error_code seal_2022_response(const Keys& keys, const std::vector<std::uint8_t>& key,
                                   std::uint64_t session_id, std::uint64_t packet_id,
                                   std::uint64_t client_session_id, const Address& from,
                                   const std::uint8_t* data, std::size_t n,
                                   std::vector<std::uint8_t>& out, std::int64_t now);
// Opens a request (server) or a response (client) in place.
std::error_code open_2022_packet(const Keys& keys, bool server, std::uint8_t* pkt, std::size_t n,
                                 Packet2022* info, std::size_t* data_off, std::size_t* data_len,
                                 std::int64_t now);

// Packet-id replay window of one session (the last 64 ids).
class PacketWindow {
 public:
  bool check_and_add(std::uint64_t id);
  void reset() { init_ = false; }

 private:
  bool init_ = false;
  std::uint64_t last_ = 0;
  std::uint64_t bits_ = 0;
};

// GOST UDP-tun frame.
struct TunFrame {
  Address addr;
  std::size_t data_off = 0;  // within the parsed input
  std::size_t data_len = 0;
};
Parsed<TunFrame> parse_tun_frame(Bytes in);
std::error_code serialize_tun_header(const Address& addr, std::size_t data_len,
                                     std::vector<std::uint8_t>& out);

// SOCKS5 address (ATYP ADDR PORT).
Parsed<Address> parse_address(Bytes in);
std::error_code serialize_address(const Address& a, std::vector<std::uint8_t>& out);

}  // namespace gost::ss

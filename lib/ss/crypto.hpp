#pragma once
// Shadowsocks ciphers on OpenSSL 3 EVP: the AEAD methods of SIP004 and the 2022 edition (SIP022),
// key derivation (EVP_BytesToKey-MD5 for passwords, HKDF-SHA1 "ss-subkey", BLAKE3 derive_key),
// and one reusable AEAD context per connection direction whose nonce is a little-endian counter.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

typedef struct evp_cipher_st EVP_CIPHER;
typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace gost::ss {

enum class Edition { aead, aead2022, none };

struct Method {
  std::string name;  // canonical lower-case name
  Edition edition = Edition::aead;
  std::size_t key_size = 0;
  std::size_t salt_size = 0;
  const EVP_CIPHER* cipher = nullptr;  // the AEAD
  const EVP_CIPHER* ecb = nullptr;     // AES-ECB of key_size (2022 identity headers)
  std::size_t max_payload() const { return edition == Edition::aead ? 0x3FFF : 0xFFFF; }
  bool plain() const { return edition == Edition::none; }
};

inline constexpr std::size_t kTagSize = 16;
inline constexpr std::size_t kNonceSize = 12;
inline constexpr std::size_t kMaxSaltSize = 32;
inline constexpr std::size_t kMaxKeySize = 32;

// Method by name, case-insensitive: aes-128-gcm, aes-256-gcm, chacha20-ietf-poly1305,
// 2022-blake3-aes-128-gcm, 2022-blake3-aes-256-gcm, and GOST's "none" / "dummy" (no encryption:
// the target address and then the data in clear). nullptr when unknown.
const Method* find_method(std::string_view name);

// EVP_BytesToKey with MD5, one iteration, no salt: the AEAD master key from a password.
std::vector<std::uint8_t> password_key(std::string_view password, std::size_t key_size);
// HKDF-SHA1(key, salt, info "ss-subkey") of key.size() bytes (SIP004).
std::vector<std::uint8_t> aead_subkey(const std::vector<std::uint8_t>& key,
                                      const std::uint8_t* salt, std::size_t salt_size);
// BLAKE3 derive_key(context, key || salt) of key_size bytes (SIP022).
void derive_2022(std::string_view context, const std::uint8_t* key, std::size_t key_size,
                 const std::uint8_t* salt, std::size_t salt_size, std::uint8_t* out);
// Standard base64 (padded) decoding; nullopt on bad input.
std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view s);

void random_bytes(std::uint8_t* p, std::size_t n);

// One AES block (ECB) with a key of 16 or 32 bytes, in place.
bool aes_block(const Method& m, const std::uint8_t* key, std::uint8_t block[16], bool encrypt);

// One direction's AEAD state: the key and the nonce, a little-endian counter incremented by
// each seal/open as SIP004/SIP022 chunks require. It holds no cipher context: each seal/open
// borrows the thread's context for the cipher and direction, re-keying it only when another
// Aead used it last, so an idle connection keeps 60 bytes per direction instead of an
// EVP_CIPHER_CTX (~1 KiB). An Aead may be used from any thread.
class Aead {
 public:
  Aead() = default;
  ~Aead();
  Aead(const Aead&) = delete;
  Aead& operator=(const Aead&) = delete;

  bool init(const Method& m, const std::uint8_t* key, bool encrypt);
  bool ready() const noexcept { return cipher_ != nullptr; }

  // Seals the concatenation of up to three segments into out (tag appended). out may equal the
  // first segment's pointer (in place) when there is one segment. Returns false on an EVP error.
  bool seal(const std::uint8_t* a, std::size_t na, std::uint8_t* out,
            const std::uint8_t* b = nullptr, std::size_t nb = 0, const std::uint8_t* c = nullptr,
            std::size_t nc = 0);
  // Opens in[0..n) (n includes the tag) into out (may equal in). False when authentication fails.
  bool open(const std::uint8_t* in, std::size_t n, std::uint8_t* out);

  void set_zero_nonce() noexcept;
  // Sets the nonce of the next seal/open (SIP022 UDP takes it from the packet header).
  void set_nonce(const std::uint8_t nonce[kNonceSize]) noexcept;

 private:
  // The thread's context for this cipher and direction, keyed with key_ and set to nonce_.
  EVP_CIPHER_CTX* begin();
  void next_nonce() noexcept;
  const EVP_CIPHER* cipher_ = nullptr;
  std::uint64_t id_ = 0;  // unique per init(): which key a cached context holds
  bool encrypt_ = false;
  std::uint8_t key_len_ = 0;
  std::uint8_t key_[kMaxKeySize] = {};
  std::uint8_t nonce_[kNonceSize] = {};
};

}  // namespace gost::ss

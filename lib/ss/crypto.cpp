#include "ss/crypto.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cctype>
#include <cstring>

#include "ss/blake3.hpp"

namespace gost::ss {
namespace {

struct Methods {
  std::array<Method, 7> list;
  Methods() {
    // Fetched once: a per-connection EVP_CipherInit then needs no provider lookup.
    auto* gcm128 = EVP_CIPHER_fetch(nullptr, "AES-128-GCM", nullptr);
    auto* gcm256 = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
    auto* chacha = EVP_CIPHER_fetch(nullptr, "ChaCha20-Poly1305", nullptr);
    auto* ecb128 = EVP_CIPHER_fetch(nullptr, "AES-128-ECB", nullptr);
    auto* ecb256 = EVP_CIPHER_fetch(nullptr, "AES-256-ECB", nullptr);
    list[0] = Method{"aes-128-gcm", Edition::aead, 16, 16, gcm128, ecb128};
    list[1] = Method{"aes-256-gcm", Edition::aead, 32, 32, gcm256, ecb256};
    list[2] = Method{"chacha20-ietf-poly1305", Edition::aead, 32, 32, chacha, nullptr};
    list[3] = Method{"2022-blake3-aes-128-gcm", Edition::aead2022, 16, 16, gcm128, ecb128};
    list[4] = Method{"2022-blake3-aes-256-gcm", Edition::aead2022, 32, 32, gcm256, ecb256};
    list[5] = Method{"none", Edition::none, 0, 0, nullptr, nullptr};
    list[6] = Method{"dummy", Edition::none, 0, 0, nullptr, nullptr};
  }
};

const Methods& methods() {
  static const Methods m;
  return m;
}

}  // namespace

const Method* find_method(std::string_view name) {
  std::string n(name);
  for (auto& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& m : methods().list) {
    if (m.name == n) return (m.cipher || m.plain()) ? &m : nullptr;
  }
  return nullptr;
}

std::vector<std::uint8_t> password_key(std::string_view password, std::size_t key_size) {
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> prev;
  while (out.size() < key_size) {
    std::vector<std::uint8_t> in = prev;
    in.insert(in.end(), password.begin(), password.end());
    std::uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_Digest(in.data(), in.size(), md, &len, EVP_md5(), nullptr);
    prev.assign(md, md + len);
    out.insert(out.end(), prev.begin(), prev.end());
  }
  out.resize(key_size);
  return out;
}

std::vector<std::uint8_t> aead_subkey(const std::vector<std::uint8_t>& key,
                                      const std::uint8_t* salt, std::size_t salt_size) {
  // RFC 5869 with SHA-1: PRK = HMAC(salt, IKM); T(i) = HMAC(PRK, T(i-1) | info | i).
  std::uint8_t prk[EVP_MAX_MD_SIZE];
  unsigned int prk_len = 0;
  HMAC(EVP_sha1(), salt, static_cast<int>(salt_size), key.data(), key.size(), prk, &prk_len);
  static constexpr char kInfo[] = "ss-subkey";
  std::vector<std::uint8_t> out;
  std::vector<std::uint8_t> t;
  for (std::uint8_t i = 1; out.size() < key.size(); ++i) {
    std::vector<std::uint8_t> msg = t;
    msg.insert(msg.end(), kInfo, kInfo + sizeof(kInfo) - 1);
    msg.push_back(i);
    std::uint8_t md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    HMAC(EVP_sha1(), prk, static_cast<int>(prk_len), msg.data(), msg.size(), md, &len);
    t.assign(md, md + len);
    out.insert(out.end(), t.begin(), t.end());
  }
  out.resize(key.size());
  return out;
}

void derive_2022(std::string_view context, const std::uint8_t* key, std::size_t key_size,
                 const std::uint8_t* salt, std::size_t salt_size, std::uint8_t* out) {
  Blake3 h = Blake3::derive_key(context);
  h.update(key, key_size);
  h.update(salt, salt_size);
  h.finalize(out, key_size);
}

std::optional<std::vector<std::uint8_t>> base64_decode(std::string_view s) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (s.size() % 4 != 0) return std::nullopt;
  std::size_t pad = 0;
  while (pad < 2 && pad < s.size() && s[s.size() - 1 - pad] == '=') ++pad;
  s.remove_suffix(pad);
  std::vector<std::uint8_t> out;
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    int v = val(c);
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<std::uint8_t>((acc >> bits) & 0xff));
    }
  }
  return out;
}

void random_bytes(std::uint8_t* p, std::size_t n) {
  if (RAND_bytes(p, static_cast<int>(n)) != 1) {
    // RAND_bytes only fails without an entropy source; never send predictable salts silently.
    std::abort();
  }
}

bool aes_block(const Method& m, const std::uint8_t* key, std::uint8_t block[16], bool encrypt) {
  if (!m.ecb) return false;
  EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
  if (!ctx) return false;
  int len = 0;
  bool ok = EVP_CipherInit_ex(ctx, m.ecb, nullptr, key, nullptr, encrypt ? 1 : 0) == 1 &&
            EVP_CIPHER_CTX_set_padding(ctx, 0) == 1 &&
            EVP_CipherUpdate(ctx, block, &len, block, 16) == 1 && len == 16;
  EVP_CIPHER_CTX_free(ctx);
  return ok;
}

namespace {
// Per-thread cipher contexts, one per (cipher, direction), each remembering whose key it holds.
struct CtxSlot {
  const EVP_CIPHER* cipher = nullptr;
  bool encrypt = false;
  std::uint64_t owner = 0;
  EVP_CIPHER_CTX* ctx = nullptr;
};
struct CtxCache {
  std::vector<CtxSlot> slots;
  ~CtxCache() {
    for (auto& s : slots) EVP_CIPHER_CTX_free(s.ctx);
  }
};
thread_local CtxCache tl_ctx;
std::atomic<std::uint64_t> next_aead_id{1};
}  // namespace

Aead::~Aead() { OPENSSL_cleanse(key_, sizeof(key_)); }

bool Aead::init(const Method& m, const std::uint8_t* key, bool encrypt) {
  cipher_ = nullptr;
  if (!m.cipher || m.key_size > kMaxKeySize) return false;
  std::memcpy(key_, key, m.key_size);
  key_len_ = static_cast<std::uint8_t>(m.key_size);
  encrypt_ = encrypt;
  id_ = next_aead_id.fetch_add(1, std::memory_order_relaxed);
  std::memset(nonce_, 0, sizeof(nonce_));
  cipher_ = m.cipher;
  // Fail now, not at the first chunk, if the cipher cannot be keyed.
  return begin() != nullptr;
}

EVP_CIPHER_CTX* Aead::begin() {
  if (!cipher_) return nullptr;
  CtxSlot* slot = nullptr;
  for (auto& s : tl_ctx.slots) {
    if (s.cipher == cipher_ && s.encrypt == encrypt_) {
      slot = &s;
      break;
    }
  }
  if (!slot) {
    EVP_CIPHER_CTX* ctx = EVP_CIPHER_CTX_new();
    if (!ctx) return nullptr;
    if (EVP_CipherInit_ex(ctx, cipher_, nullptr, nullptr, nullptr, encrypt_ ? 1 : 0) != 1) {
      EVP_CIPHER_CTX_free(ctx);
      return nullptr;
    }
    tl_ctx.slots.push_back(CtxSlot{cipher_, encrypt_, 0, ctx});
    slot = &tl_ctx.slots.back();
  }
  // Re-keying reuses the context's cipher (no provider context is reallocated).
  const bool rekey = slot->owner != id_;
  slot->owner = 0;
  if (EVP_CipherInit_ex(slot->ctx, nullptr, nullptr, rekey ? key_ : nullptr, nonce_,
                        encrypt_ ? 1 : 0) != 1) {
    return nullptr;
  }
  slot->owner = id_;
  return slot->ctx;
}

void Aead::set_zero_nonce() noexcept { std::memset(nonce_, 0, sizeof(nonce_)); }
void Aead::set_nonce(const std::uint8_t nonce[kNonceSize]) noexcept {
  std::memcpy(nonce_, nonce, kNonceSize);
}

void Aead::next_nonce() noexcept {
  for (auto& b : nonce_) {
    if (++b != 0) break;
  }
}

bool Aead::seal(const std::uint8_t* a, std::size_t na, std::uint8_t* out, const std::uint8_t* b,
                std::size_t nb, const std::uint8_t* c, std::size_t nc) {
  if (!encrypt_) return false;
  EVP_CIPHER_CTX* ctx = begin();
  if (!ctx) return false;
  int len = 0;
  std::uint8_t* p = out;
  const std::uint8_t* seg[3] = {a, b, c};
  const std::size_t segn[3] = {na, nb, nc};
  for (int i = 0; i < 3; ++i) {
    if (segn[i] == 0) continue;
    if (EVP_EncryptUpdate(ctx, p, &len, seg[i], static_cast<int>(segn[i])) != 1) return false;
    p += len;
  }
  if (EVP_EncryptFinal_ex(ctx, p, &len) != 1) return false;
  p += len;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG, kTagSize, p) != 1) return false;
  next_nonce();
  return true;
}

bool Aead::open(const std::uint8_t* in, std::size_t n, std::uint8_t* out) {
  if (encrypt_ || n < kTagSize) return false;
  const std::size_t m = n - kTagSize;
  EVP_CIPHER_CTX* ctx = begin();
  next_nonce();
  if (!ctx) return false;
  int len = 0;
  // The tag is copied out first: decrypting in place overwrites nothing past m, but the tag
  // must be set before Final.
  std::uint8_t tag[kTagSize];
  std::memcpy(tag, in + m, kTagSize);
  if (m > 0 && EVP_DecryptUpdate(ctx, out, &len, in, static_cast<int>(m)) != 1) return false;
  if (EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG, kTagSize, tag) != 1) return false;
  return EVP_DecryptFinal_ex(ctx, out + m, &len) == 1;
}

}  // namespace gost::ss

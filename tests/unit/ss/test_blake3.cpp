// BLAKE3 against the official test vectors (BLAKE3-team/BLAKE3 test_vectors/test_vectors.json):
// input i % 251, key "whats the Elvish word for friend", derive_key context
// "BLAKE3 2019-12-27 16:29:52 test vectors context".
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ss/blake3.hpp"

using namespace gost::ss;

namespace {
std::string hex(const std::uint8_t* p, std::size_t n) {
  static const char* d = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) {
    s += d[p[i] >> 4];
    s += d[p[i] & 15];
  }
  return s;
}
std::vector<std::uint8_t> input(std::size_t n) {
  std::vector<std::uint8_t> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = static_cast<std::uint8_t>(i % 251);
  return v;
}
const char* kKey = "whats the Elvish word for friend";
const char* kContext = "BLAKE3 2019-12-27 16:29:52 test vectors context";

std::string run(int mode, std::size_t len, std::size_t out_len, std::size_t split = 0) {
  auto in = input(len);
  Blake3 h = mode == 0   ? Blake3()
             : mode == 1 ? Blake3(reinterpret_cast<const std::uint8_t*>(kKey))
                         : Blake3::derive_key(kContext);
  if (split > 0 && split < len) {
    h.update(in.data(), split);
    h.update(in.data() + split, len - split);
  } else {
    h.update(in.data(), in.size());
  }
  std::vector<std::uint8_t> out(out_len);
  h.finalize(out.data(), out.size());
  return hex(out.data(), out.size());
}

struct Vec {
  std::size_t len;
  const char* hash;
  const char* keyed;
  const char* derive;
};
// First 32 bytes of each output.
const Vec kVectors[] = {
    {1, "2d3adedff11b61f14c886e35afa036736dcd87a74d27b5c1510225d0f592e213",
     "6d7878dfff2f485635d39013278ae14f1454b8c0a3a2d34bc1ab38228a80c95b",
     "b3e2e340a117a499c6cf2398a19ee0d29cca2bb7404c73063382693bf66cb06c"},
    {1023, "10108970eeda3eb932baac1428c7a2163b0e924c9a9e25b35bba72b28f70bd11",
     "c951ecdf03288d0fcc96ee3413563d8a6d3589547f2c2fb36d9786470f1b9d6e",
     "74a16c1c3d44368a86e1ca6df64be6a2f64cce8f09220787450722d85725dea5"},
    {1024, "42214739f095a406f3fc83deb889744ac00df831c10daa55189b5d121c855af7",
     "75c46f6f3d9eb4f55ecaaee480db732e6c2105546f1e675003687c31719c7ba4",
     "7356cd7720d5b66b6d0697eb3177d9f8d73a4a5c5e968896eb6a689684302706"},
    {1025, "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444",
     "357dc55de0c7e382c900fd6e320acc04146be01db6a8ce7210b7189bd664ea69",
     "effaa245f065fbf82ac186839a249707c3bddf6d3fdda22d1b95a3c970379bcb"},
    {2048, "e776b6028c7cd22a4d0ba182a8bf62205d2ef576467e838ed6f2529b85fba24a",
     "879cf1fa2ea0e79126cb1063617a05b6ad9d0b696d0d757cf053439f60a99dd1",
     "7b2945cb4fef70885cc5d78a87bf6f6207dd901ff239201351ffac04e1088a23"},
    {2049, "5f4d72f40d7a5f82b15ca2b2e44b1de3c2ef86c426c95c1af0b6879522563030",
     "9f29700902f7c86e514ddc4df1e3049f258b2472b6dd5267f61bf13983b78dd5",
     "2ea477c5515cc3dd606512ee72bb3e0e758cfae7232826f35fb98ca1bcbdf273"},
    {3073, "7124b49501012f81cc7f11ca069ec9226cecb8a2c850cfe644e327d22d3e1cd3",
     "68dede9bef00ba89e43f31a6825f4cf433389fedae75c04ee9f0cf16a427c95a",
     "72613c9ec9ff7e40f8f5c173784c532ad852e827dba2bf85b2ab4b76f7079081"},
    {4097, "9b4052b38f1c5fc8b1f9ff7ac7b27cd242487b3d890d15c96a1c25b8aa0fb995",
     "00df940cd36bb9fa7cbbc3556744e0dbc8191401afe70520ba292ee3ca80abbc",
     "aca51029626b55fda7117b42a7c211f8c6e9ba4fe5b7a8ca922f34299500ead8"},
    {5121, "628bd2cb2004694adaab7bbd778a25df25c47b9d4155a55f8fbd79f2fe154cff",
     "6ccf1c34753e7a044db80798ecd0782a8f76f33563accaddbfbb2e0ea4b2d024",
     "b07f01e518e702f7ccb44a267e9e112d403a7b3f4883a47ffbed4b48339b3c34"},
    {7168, "61da957ec2499a95d6b8023e2b0e604ec7f6b50e80a9678b89d2628e99ada77a",
     "b42835e40e9d4a7f42ad8cc04f85a963a76e18198377ed84adddeaecacc6f3fc",
     "11c37a112765370c94a51415d0d651190c288566e295d505defdad895dae2237"},
    {7169, "a003fc7a51754a9b3c7fae0367ab3d782dccf28855a03d435f8cfe74605e7817",
     "ed9b1a922c046fdb3d423ae34e143b05ca1bf28b710432857bf738bcedbfa511",
     "554b0a5efea9ef183f2f9b931b7497995d9eb26f5c5c6dad2b97d62fc5ac31d9"},
};
}  // namespace

TEST_CASE("blake3: empty input, full extended output of every mode") {
  CHECK(
      run(0, 0, 131) ==
      "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262e00f03e7b69af26b7faaf09fcd3"
      "33050338ddfe085b8cc869ca98b206c08243a26f5487789e8f660afe6c99ef9e0c52b92e7393024a80459cf91f4"
      "76f9ffdbda7001c22e159b402631f277ca96f2defdf1078282314e763699a31c5363165421cce14d");
  CHECK(
      run(1, 0, 131) ==
      "92b2b75604ed3c761f9d6f62392c8a9227ad0ea3f09573e783f1498a4ed60d26b18171a2f22a4b94822c701f107"
      "153dba24918c4bae4d2945c20ece13387627d3b73cbf97b797d5e59948c7ef788f54372df45e45e4293c7dc18c1"
      "d41144a9758be58960856be1eabbe22c2653190de560ca3b2ac4aa692a9210694254c371e851bc8f");
  CHECK(
      run(2, 0, 131) ==
      "2cc39783c223154fea8dfb7c1b1660f2ac2dcbd1c1de8277b0b0dd39b7e50d7d905630c8be290dfcf3e6842f13b"
      "ddd573c098c3f17361f1f206b8cad9d088aa4a3f746752c6b0ce6a83b0da81d59649257cdf8eb3e9f7d4998e410"
      "21fac119deefb896224ac99f860011f73609e6e0e4540f93b273e56547dfd3aa1a035ba6689d89a0");
}

TEST_CASE("blake3: 1025 bytes, full extended hash output (two output blocks and a tail)") {
  CHECK(
      run(0, 1025, 131) ==
      "d00278ae47eb27b34faecf67b4fe263f82d5412916c1ffd97c8cb7fb814b8444f4c4a22b4b399155358a994e52b"
      "f255de60035742ec71bd08ac275a1b51cc6bfe332b0ef84b409108cda080e6269ed4b3e2c3f7d722aa4cdc98d16"
      "deb554e5627be8f955c98e1d5f9565a9194cad0c4285f93700062d9595adb992ae68ff12800ab67a");
}

TEST_CASE("blake3: official vectors, hash / keyed_hash / derive_key, whole and split updates") {
  for (const auto& v : kVectors) {
    INFO("input_len " << v.len);
    CHECK(run(0, v.len, 32) == v.hash);
    CHECK(run(1, v.len, 32) == v.keyed);
    CHECK(run(2, v.len, 32) == v.derive);
    CHECK(run(0, v.len, 32, 1) == v.hash);
    CHECK(run(0, v.len, 32, 1024) == v.hash);
    CHECK(run(2, v.len, 32, 63) == v.derive);
  }
}

// Replays a fuzz corpus through LLVMFuzzerTestOneInput (used when building without libFuzzer).
// Usage: <target> <file-or-dir>...
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size);

static int run_file(const std::filesystem::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::vector<char> buf((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  LLVMFuzzerTestOneInput(reinterpret_cast<const std::uint8_t*>(buf.data()), buf.size());
  return 1;
}

int main(int argc, char** argv) {
  int n = 0;
  for (int i = 1; i < argc; ++i) {
    std::filesystem::path p(argv[i]);
    if (std::filesystem::is_directory(p)) {
      for (auto& e : std::filesystem::recursive_directory_iterator(p))
        if (e.is_regular_file()) n += run_file(e.path());
    } else if (std::filesystem::exists(p)) {
      n += run_file(p);
    }
  }
  // Random inputs as well, so a target with a small corpus still gets exercised.
  std::uint64_t x = 0x9E3779B97F4A7C15ull;
  std::vector<std::uint8_t> buf;
  for (int i = 0; i < 20000; ++i) {
    x ^= x << 13; x ^= x >> 7; x ^= x << 17;
    buf.resize(x % 300);
    for (auto& b : buf) { x ^= x << 13; x ^= x >> 7; x ^= x << 17; b = static_cast<std::uint8_t>(x); }
    LLVMFuzzerTestOneInput(buf.data(), buf.size());
  }
  std::printf("replayed %d corpus files and 20000 random inputs\n", n);
  return 0;
}

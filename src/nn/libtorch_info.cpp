// What libtorch says of the CPU code it runs: ATen's vector capability and
// the versions of the oneDNN and MKL inside it. These are C++ functions
// returning std::string, so rnn-lab reaches them through this C shim
// (built by build.rs against the same libtorch, with the same C++ ABI).
#include <cstring>
#include <string>

namespace at {
std::string get_cpu_capability();
std::string get_mkl_version();
std::string get_mkldnn_version();
}  // namespace at

namespace {
// Copies `s` into `out` (at most `size` bytes, NUL-terminated); returns
// its full length, or 0 when libtorch threw.
template <typename F>
size_t answer(F f, char* out, size_t size) {
  try {
    std::string s = f();
    if (size > 0) {
      size_t n = s.size() < size - 1 ? s.size() : size - 1;
      std::memcpy(out, s.data(), n);
      out[n] = '\0';
    }
    return s.size();
  } catch (...) {
    return 0;
  }
}
}  // namespace

extern "C" size_t rnn_lab_cpu_capability(char* out, size_t size) {
  return answer(at::get_cpu_capability, out, size);
}
extern "C" size_t rnn_lab_mkl_version(char* out, size_t size) {
  return answer(at::get_mkl_version, out, size);
}
extern "C" size_t rnn_lab_onednn_version(char* out, size_t size) {
  return answer(at::get_mkldnn_version, out, size);
}

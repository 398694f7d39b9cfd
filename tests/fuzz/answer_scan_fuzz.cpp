// Fuzz target (differential): a model's answer streamed to the response scanner in chunks (byte 0
// seeds their lengths) must read exactly as the same answer checked whole, and report the same
// detector counts; the scanner must never crash, fail or hang on any text.
#include <cstdio>
#include <cstdlib>

#include "answer_policy.hpp"
#include "fuzz_support.hpp"
#include "policy/response_scanner.hpp"

using namespace sovereign;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const std::string_view text = fuzz::as_text(data + 1, size - 1);
  policy::ResponseScanner whole(fuzz::answer_policy(), "anyone");
  const std::string expected = whole.complete(text);
  policy::ResponseScanner streamed(fuzz::answer_policy(), "anyone");
  fuzz::ChunkLengths lengths(data[0]);
  std::string out;
  for (std::size_t at = 0; at < text.size();) {
    const std::size_t n = std::min(text.size() - at, lengths.next());
    out += streamed.feed(text.substr(at, n));
    at += n;
  }
  out += streamed.finish();
  if (whole.failed() || streamed.failed()) {
    std::fprintf(stderr, "the scanner failed on an answer\n");
    std::abort();
  }
  if (out != expected) {
    std::fprintf(stderr, "streamed and whole answers differ\n  whole:    %s\n  streamed: %s\n", expected.c_str(),
                 out.c_str());
    std::abort();
  }
  if (whole.counts() != streamed.counts()) {
    std::fprintf(stderr, "streamed and whole answers count different findings\n");
    std::abort();
  }
  return 0;
}

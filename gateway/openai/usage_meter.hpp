#pragma once
// The tokens a backend's answer used, read from the bytes the gateway relays to the client, so that
// a tenant's tokens-per-minute budget is charged what was used, not only what was estimated before
// the request was forwarded.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/openai/sse_lines.hpp"

namespace sovereign::gateway {

struct TokenUsage {
  std::uint64_t tokens = 0;
  // True: the backend's own count, prompt and completion (its `usage`). False: only the streamed
  // chunks that carried generated text, about one token each; the caller adds its prompt estimate.
  bool reported = false;
};

class UsageMeter {
 public:
  explicit UsageMeter(bool stream) : stream_(stream) {}

  // A JSON answer is fed whole, in one call; a stream is fed as its bytes arrive, split anywhere.
  void feed(std::string_view bytes);
  // Nothing when the answer carried neither a usage object nor generated text (an error, say).
  std::optional<TokenUsage> result() const;

  static constexpr std::size_t max_event_bytes = 1 << 20;  // longer stream lines are not read

 private:
  void read_object(std::string_view json);

  bool stream_;
  SseLineEnds line_ends_;
  std::string line_;             // the unfinished line of a stream
  bool skipping_line_ = false;   // the current line passed max_event_bytes
  std::uint64_t text_chunks_ = 0;
  std::optional<std::uint64_t> reported_;
};

}  // namespace sovereign::gateway

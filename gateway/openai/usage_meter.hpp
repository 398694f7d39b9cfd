#pragma once
// The tokens a backend's answer used, read from the bytes the gateway relays to the client, so that
// a tenant's tokens-per-minute budget is charged what was used, not only what was estimated before
// the request was forwarded.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "gateway/openai/sse_data.hpp"
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

  // A JSON answer is fed whole, in one call; a stream is fed as its bytes arrive, split anywhere, and
  // read event by event (an event's data lines joined, as a client joins them).
  void feed(std::string_view bytes);
  // The stream ended: an event it did not end with a blank line is read as whole, as the answer
  // rewriter reads it.
  void finish();
  // Nothing when the answer carried neither a usage object nor generated text (an error, say).
  std::optional<TokenUsage> result() const;

  static constexpr std::size_t max_event_bytes = 1 << 20;  // longer stream events are not read

 private:
  void read_object(std::string_view json);
  void end_event();

  bool stream_;
  SseLineEnds line_ends_;
  std::string line_;             // the unfinished line of a stream
  bool line_has_bytes_ = false;  // the current line is not blank (its bytes may have been skipped)
  SseEventData event_;           // the data lines of the current event
  bool skipping_event_ = false;  // the current event passed max_event_bytes
  std::uint64_t text_chunks_ = 0;
  std::optional<std::uint64_t> reported_;
};

}  // namespace sovereign::gateway

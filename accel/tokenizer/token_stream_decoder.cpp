#include "accel/tokenizer/token_stream_decoder.hpp"

namespace sovereign::accel {
namespace {

constexpr std::string_view kReplacement = "\xEF\xBF\xBD";

// Length of the UTF-8 sequence a lead byte starts, or 0 if it starts none.
std::size_t sequence_length(unsigned char lead) {
  if (lead < 0x80) return 1;
  if (lead >= 0xC2 && lead <= 0xDF) return 2;
  if (lead >= 0xE0 && lead <= 0xEF) return 3;
  if (lead >= 0xF0 && lead <= 0xF4) return 4;
  return 0;
}

// Whether byte `index` (1-based) of a sequence starting with `lead` may be `byte` (RFC 3629's table: no overlong
// forms, no surrogates, nothing past U+10FFFF).
bool continuation_ok(unsigned char lead, std::size_t index, unsigned char byte) {
  if ((byte & 0xC0) != 0x80) return false;
  if (index != 1) return true;
  if (lead == 0xE0) return byte >= 0xA0;
  if (lead == 0xED) return byte <= 0x9F;
  if (lead == 0xF0) return byte >= 0x90;
  if (lead == 0xF4) return byte <= 0x8F;
  return true;
}

}  // namespace

std::string TokenStreamDecoder::push(std::int32_t id) {
  pending_ += tokenizer_.decode_token(id);
  return take_complete(false);
}

std::string TokenStreamDecoder::finish() { return take_complete(true); }

std::string TokenStreamDecoder::take_complete(bool at_end) {
  std::string out;
  std::size_t pos = 0;
  while (pos < pending_.size()) {
    const auto lead = static_cast<unsigned char>(pending_[pos]);
    const std::size_t length = sequence_length(lead);
    if (length == 0) {
      out += kReplacement;
      ++pos;
      continue;
    }
    std::size_t have = 1;
    bool broken = false;
    while (have < length && pos + have < pending_.size()) {
      if (!continuation_ok(lead, have, static_cast<unsigned char>(pending_[pos + have]))) {
        broken = true;
        break;
      }
      ++have;
    }
    if (broken) {  // the lead byte can never complete; what follows it is looked at afresh
      out += kReplacement;
      ++pos;
      continue;
    }
    if (have < length) {  // incomplete: wait for the next token unless the stream has ended
      if (!at_end) break;
      out += kReplacement;
      pos = pending_.size();
      break;
    }
    out.append(pending_, pos, length);
    pos += length;
  }
  pending_.erase(0, pos);
  if (at_start_ && !out.empty()) {
    if (tokenizer_.strips_leading_space() && out.front() == ' ') out.erase(0, 1);
    at_start_ = false;
  }
  return out;
}

}  // namespace sovereign::accel

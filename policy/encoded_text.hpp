#pragma once
// Text hidden in base64 ("NDExMSAxMTExIDExMTEgMTExMQ==" is a card number) or hex ("34313131..."): the
// scanner decodes each run of such characters it meets (DetectorSet::scan) and scans what it spells,
// one level deep.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace sovereign::policy {

// Runs shorter than this hold fewer than 15 bytes: no value worth a decode.
inline constexpr std::size_t min_encoded_run = 20;

// The text a run of base64 characters (standard or URL-safe alphabet, with or without padding) decodes to,
// or nothing when it is not base64 or does not decode to text (printable characters, white space,
// UTF-8): random keys and binary data decode to bytes that are not.
std::optional<std::string> decode_base64_text(std::string_view run);
// The same for a run of an even number of hex digits ("34313131" is "4111").
std::optional<std::string> decode_hex_text(std::string_view run);
// A run as hex where it is all hex digits, else as base64.
std::optional<std::string> decode_encoded_text(std::string_view run);

}  // namespace sovereign::policy

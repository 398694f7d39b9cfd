#pragma once
// Text hidden in base64 ("NDExMSAxMTExIDExMTEgMTExMQ==" is a card number): the scanner decodes each
// run of base64 characters it meets (DetectorSet::scan) and scans what it spells, one level deep.
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

}  // namespace sovereign::policy

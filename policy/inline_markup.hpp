#pragma once
// HTML tags between a value's groups hide it from patterns that read the text as written, while a
// reader (and a model) sees the value whole: "4111 <b>1111</b> 1111 1111" in a rich-text e-mail,
// "DE89 3704<br>0044 0532 0130 00" or "4111</td><td>1111</td><td>..." in a pasted table. The scanner
// reads such text a second time as a browser shows it (DetectorSet::scan), and a value found only
// that way is a finding over the characters that wrote it, the tags between its groups included.
//
// The rule: a tag is '<', an optional '/', a known element name (any letter case), then '>' or
// "/>" or white space and attributes (no '<' or '>') up to '>', at most max_tag_length bytes in all.
// A run of such tags and the white space around them reads as one space when it holds white space or
// a tag that breaks the line or the cell (br, td, p, div, li...), and as nothing when it is only inline
// tags (b, span, em, a...). Any other '<' ("a < b", "<T>", "<jane@example.com>") stays text.
#include <cstddef>
#include <string_view>
#include <vector>

#include "policy/encoded_text.hpp"

namespace sovereign::policy {

// The longest tag read as one (its attributes included): a style attribute of a rich-text e-mail fits.
inline constexpr std::size_t max_tag_length = 512;

// The length of the tag that begins at text[at], or 0 where none does; `breaks` says whether it
// reads as a blank.
std::size_t tag_at(std::string_view text, std::size_t at, bool& breaks);

// Reads `text` as it is shown, into `out` (source: where each byte of out.text comes from, see
// UnescapedText; a run of tags read as a space comes from the run's first byte). Returns false,
// leaving `out` unspecified, when the text holds no tag (the common case: a memchr pass decides, or
// `tags`: the offsets of every '<' of the text, in order, as TextMarks finds them with the other
// bytes a scan looks for, in one pass).
bool read_without_tags(std::string_view text, UnescapedText& out, const std::vector<std::size_t>* tags = nullptr);

// For a streamed answer: the length of the tag that ends right before `end`, or 0 where none does.
std::size_t tag_ending_at(std::string_view text, std::size_t end);
// Where a tag that the end of `text` cuts off begins ("4111 <b", "4111 </sp", a '<' alone), at or
// after `from`: the next chunk may complete it. text.size() when the text does not end inside a
// possible tag.
std::size_t unfinished_tag_start(std::string_view text, std::size_t from);

}  // namespace sovereign::policy

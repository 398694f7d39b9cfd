#pragma once
// The quoted texts ("..." and '...') of a YAML document, read from the file at the places yaml-cpp
// reports their scalars. yaml-cpp lets a quoted text that no quote closes run to the end of the file,
// and joins into a quoted text the lines written as further keys or list items when a quote further
// down happens to close it: either way the rest of a policy or configuration would be silently
// dropped, or yaml-cpp would stumble over the rest of that later quote's line and report a mistake
// there. The loader refuses both at the opening quote (load_single_document), and lint names every
// quoted text that goes on over several lines.

#include <yaml-cpp/mark.h>

#include <optional>
#include <string>
#include <vector>

#include "policy/yaml_text.hpp"

namespace sovereign::policy {

struct QuotedText {
    YAML::Mark opening;                 // the opening quote
    std::optional<YAML::Mark> closing;  // the closing quote; none: the text runs to the end of the file
    // Of its further lines, the first that reads as a new entry (a key, a list item or a comment) and is
    // indented no further than the keys or list items around the text. YAML requires a quoted text's
    // further lines to be indented past those, so such a line was written as an entry, not as text.
    std::optional<YAML::Mark> entry_line;
    std::string entry_kind;  // what entry_line reads as: "a key", "a list item" or "a comment"

    bool spans_lines() const { return !closing || closing->line != opening.line; }
};

// The quoted texts of the document `text` holds, in the order of the file; of a document with a syntax
// error, those before it.
std::vector<QuotedText> quoted_texts(const YamlText& text);

// The first problem of a quoted text in `text` as a YAML::ParserException at its opening quote: one that
// is never closed, or one into which lines written as entries are joined. Nothing when there is none.
void check_quoted_texts(const YamlText& text);

}  // namespace sovereign::policy

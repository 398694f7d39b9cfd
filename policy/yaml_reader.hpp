#pragma once
// Typed, position-aware reading of YAML nodes: every wrong type, unknown or repeated key becomes a
// diagnostic at FILE:LINE:COL instead of an exception or a silently ignored value.

#include <yaml-cpp/yaml.h>

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "policy/types.hpp"
#include "policy/yaml_text.hpp"

namespace sovereign::policy {

// What a YAML syntax error says, for people: yaml-cpp's own message, except for its nesting limit,
// which it reports as "bad file".
std::string yaml_syntax_message(const YAML::Exception& e);

// The one document of a YAML stream. yaml-cpp's Load keeps the first and drops the rest without a
// word (a rule after a stray "---" would never be enforced): a second document that holds anything
// is a YAML::ParserException at its start instead. So is a quoted text that takes in the rest of the
// file or lines written as entries (quoted_texts.hpp), at its opening quote, and nesting deeper than
// yaml-cpp reads, at the node past its limit.
YAML::Node load_single_document(std::string_view text);
YAML::Node load_single_document(const YamlText& text);

// What an unknown key '<<' means: a YAML merge key, which this reader does not expand.
inline constexpr std::string_view merge_key_note =
    ": YAML merge keys ('<<: *anchor') are not expanded here; write the keys out (anchors and aliases of "
    "whole values work)";

// Reads one YAML document and reports problems in it; holds the file label and the text it parsed.
class YamlReader {
public:
    YamlReader(std::string file, std::vector<Diagnostic>& diagnostics)
        : file_(std::move(file)), diagnostics_(diagnostics) {}

    // Parses text into a node; a syntax error becomes a diagnostic and nullopt.
    std::optional<YAML::Node> parse(std::string_view text);

    void error(const YAML::Node& at, std::string message);
    void error(const YAML::Mark& at, std::string message);

    // The node must be a map whose keys are all in `allowed`; unknown keys get a "did you mean",
    // repeated keys an error. `required` keys must be present. Returns false if it is not a map.
    bool check_map(const YAML::Node& node, std::string_view what, std::span<const std::string_view> allowed,
                   std::span<const std::string_view> required = {});

    std::optional<std::string> text(const YAML::Node& node, std::string_view what);
    std::optional<bool> boolean(const YAML::Node& node, std::string_view what);
    std::optional<long long> integer(const YAML::Node& node, std::string_view what);
    // A list of strings; a single string is accepted as a list of one.
    std::optional<std::vector<std::string>> text_list(const YAML::Node& node, std::string_view what);

    const std::string& file() const { return file_; }
    // How many problems have been reported so far (to tell which part of a file had one).
    std::size_t problem_count() const { return diagnostics_.size(); }
    // 1-based positions; a node with no place in the text (an empty document) is at 1:1.
    static int one_based(int zero_based) { return zero_based >= 0 ? zero_based + 1 : 1; }
    static int line_of(const YAML::Node& node) { return node.IsDefined() ? one_based(node.Mark().line) : 1; }
    static int column_of(const YAML::Node& node) { return node.IsDefined() ? one_based(node.Mark().column) : 1; }

private:
    // yaml-cpp places an empty value ("-" or "key:" with nothing after it) at the next token, often
    // on a later line: the mark of the '-' or ':' before it instead, from the text parse() read.
    YAML::Mark empty_value_mark(const YAML::Mark& next_token) const;

    std::string file_;
    std::vector<Diagnostic>& diagnostics_;
    YamlText text_;  // what parse() read
};

// Caps on what a policy or test file may contain: a file beyond these is refused, not processed slowly.
inline constexpr std::size_t max_yaml_file_bytes = 4 * 1024 * 1024;
inline constexpr std::size_t max_list_items = 10000;
inline constexpr std::size_t max_text_bytes = 64 * 1024;

}  // namespace sovereign::policy

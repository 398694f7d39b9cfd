#include "policy/syntax_recovery.hpp"

#include <algorithm>
#include <optional>
#include <vector>

#include "policy/yaml_reader.hpp"

namespace sovereign::policy {

namespace {

constexpr std::string_view syntax_error_prefix = "YAML syntax error: ";
constexpr std::string_view second_document = "a second YAML document starts here";
// Each error leaves out at least one more line; a file with more errors than this is reported as far.
constexpr int max_parts_left_out = 64;

bool is_syntax_error(const Diagnostic& d) { return d.message.starts_with(syntax_error_prefix); }

// The lines of a text: where each begins.
std::vector<std::size_t> line_starts(std::string_view text) {
    std::vector<std::size_t> starts{0};
    for (std::size_t i = 0; i < text.size(); ++i)
        if (text[i] == '\n' && i + 1 < text.size()) starts.push_back(i + 1);
    return starts;
}

std::string_view line(std::string_view text, const std::vector<std::size_t>& starts, std::size_t i) {
    const std::size_t begin = starts[i];
    const std::size_t end = text.find('\n', begin);
    return text.substr(begin, (end == std::string_view::npos ? text.size() : end) - begin);
}

// A line that opens a top-level section: a key at the start of the line (not a comment, a list item,
// a document marker or a blank line).
bool opens_section(std::string_view l) {
    if (l.empty() || l[0] == ' ' || l[0] == '\t' || l[0] == '#' || l[0] == '-' || l[0] == '\r') return false;
    return !l.starts_with("...") && !l.starts_with("%");
}

// A line that opens an item of a block list at `indent` spaces ("  - name: x", "  -").
bool opens_item(std::string_view l, std::size_t indent) {
    return l.size() > indent && l.find_first_not_of(' ') == indent && l[indent] == '-' &&
           (l.size() == indent + 1 || l[indent + 1] == ' ' || l[indent + 1] == '\r');
}

// Lines [first, last) of a text, and the top-level section they belong to.
struct Part {
    std::size_t first = 0;
    std::size_t last = 0;
    std::string section;        // empty: the text after a second document's marker
    bool whole_section = false;
};

// The part that line `at` is in: the item of its section's block list, or (with `whole_section`, or
// where the section holds no such list or the line comes before its first item) the whole section.
std::optional<Part> part_at(std::string_view text, std::size_t at, bool whole_section) {
    const auto starts = line_starts(text);
    if (at >= starts.size()) at = starts.size() - 1;
    std::size_t first = at + 1;
    while (first > 0 && !opens_section(line(text, starts, first - 1))) --first;
    if (first == 0) return std::nullopt;  // before any section: nothing to leave out but everything
    --first;
    std::size_t last = at + 1;
    while (last < starts.size() && !opens_section(line(text, starts, last))) ++last;
    const std::string_view key_line = line(text, starts, first);
    const std::size_t colon = key_line.find(':');
    if (colon == std::string_view::npos) return std::nullopt;
    std::string section(key_line.substr(0, colon));
    while (!section.empty() && section.back() == ' ') section.pop_back();
    const Part whole{first, last, section, true};
    if (whole_section || at == first) return whole;
    // The list's items begin where its first item does, at that indentation.
    std::size_t item = first + 1;
    while (item < last) {
        const std::string_view l = line(text, starts, item);
        const std::size_t indent = l.find_first_not_of(' ');
        if (indent != std::string_view::npos && l[indent] != '#' && l[indent] != '\r') {
            if (!opens_item(l, indent)) return whole;
            break;
        }
        ++item;
    }
    if (item >= last || at < item) return whole;
    const std::size_t indent = line(text, starts, item).find_first_not_of(' ');
    std::size_t begin = at;
    while (begin > item && !opens_item(line(text, starts, begin), indent)) --begin;
    std::size_t end = at + 1;
    while (end < last && !opens_item(line(text, starts, end), indent)) ++end;
    if (begin == item && end == last) return whole;  // the only item: the section goes
    return Part{begin, end, section, false};
}

// The text with lines [first, last) emptied, their line breaks kept.
std::string emptied(std::string_view text, std::size_t first, std::size_t last) {
    const auto starts = line_starts(text);
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < starts.size(); ++i) {
        const std::string_view l = line(text, starts, i);
        if (i < first || i >= last) out.append(l);
        if (starts[i] + l.size() < text.size()) out.push_back('\n');
    }
    return out;
}

bool parses(const std::string& text) {
    try {
        (void)load_single_document(text);
    } catch (const YAML::Exception&) {
        return false;
    }
    return true;
}

// Whether the error is the part's: the part fails to parse on its own (the rest of the text emptied),
// and an item's section key line parses without it (in "rules: [" the items are not to blame).
bool fails_alone(std::string_view text, const Part& part) {
    const auto starts = line_starts(text);
    if (part.whole_section) return !parses(emptied(emptied(text, 0, part.first), part.last, starts.size()));
    std::size_t key = part.first;
    while (key > 0 && !opens_section(line(text, starts, key))) --key;
    const std::string key_alone = emptied(emptied(text, 0, key), key + 1, starts.size());
    std::string alone = emptied(text, 0, key);
    alone = emptied(alone, key + 1, part.first);
    alone = emptied(alone, part.last, starts.size());
    return parses(key_alone) && !parses(alone);
}

}  // namespace

LoadResult load_past_syntax_errors(std::string_view yaml, const std::string& file_label) {
    LoadResult result = load_policy_text(yaml, file_label);
    std::vector<Diagnostic> syntax_errors;
    std::string text(yaml);
    LeftOut left_out;
    for (int round = 0; round < max_parts_left_out; ++round) {
        const auto error = std::find_if(result.diagnostics.begin(), result.diagnostics.end(), is_syntax_error);
        if (error == result.diagnostics.end()) break;
        const bool repeated = std::any_of(syntax_errors.begin(), syntax_errors.end(), [&](const Diagnostic& d) {
            return d.line == error->line && d.column == error->column && d.message == error->message;
        });
        if (repeated) break;  // leaving out what it was in did not remove it: its place is not where it says
        syntax_errors.push_back(*error);
        const std::size_t at = static_cast<std::size_t>(error->line - 1);
        std::optional<Part> part;
        if (error->message.find(second_document) != std::string::npos) {
            part = Part{at, line_starts(text).size(), "", false};
        } else {
            // The item the error is in, else its section; an error reported on the line that opens a
            // section (yaml-cpp's "end of map not found") may be the previous section's.
            part = part_at(text, at, false);
            if (part && !fails_alone(text, *part)) part = part_at(text, at, true);
            if (part && !fails_alone(text, *part) && at > 0 && part->first == at) part = part_at(text, at - 1, true);
            if (part && !fails_alone(text, *part)) part.reset();
        }
        if (!part) break;
        text = emptied(text, part->first, part->last);
        if (part->whole_section) left_out.sections.insert(part->section);
        else if (!part->section.empty()) left_out.items_of.insert(part->section);
        if (text.find_first_not_of(" \t\r\n") == std::string::npos) break;  // nothing left to read
        result = load_policy_text(text, file_label, left_out);
    }
    if (syntax_errors.empty()) return result;
    const bool read_past = std::none_of(result.diagnostics.begin(), result.diagnostics.end(), is_syntax_error) &&
                           text.find_first_not_of(" \t\r\n") != std::string::npos;
    LoadResult out;
    out.diagnostics = std::move(syntax_errors);
    if (!read_past) return out;
    for (auto& d : result.diagnostics) out.diagnostics.push_back(std::move(d));
    out.partial = result.policy ? result.policy : result.partial;
    out.read = result.read;
    return out;
}

}  // namespace sovereign::policy

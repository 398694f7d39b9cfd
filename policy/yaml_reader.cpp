#include "policy/yaml_reader.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

#include <yaml-cpp/depthguard.h>

#include "policy/diagnostic.hpp"
#include "policy/utf8.hpp"

namespace sovereign::policy {

std::string yaml_syntax_message(const YAML::Exception& e) {
    if (dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr)
        return "lists and mappings are nested too deeply here (the YAML reader stops at about 500 levels; "
               "no policy or configuration needs more than a few)";
    return e.msg;
}

namespace {

// Where the second document of a YAML stream begins: the line of its "---" (or of "..." ending the
// first), which yaml-cpp does not report for a document that is empty.
// Where a second document with content begins: the "---" or "..." line (at the start of a line, where
// YAML allows such a marker only between documents) after the first document's content, when any
// content follows it (blank lines, comments, directives and further markers are none). Read from the
// text: yaml-cpp's LoadAll, which would say it, loops without end on some malformed files (a file that
// is only "," grew past every memory limit).
std::optional<YAML::Mark> second_document(std::string_view text) {
    bool content = false;                // the first document has begun
    std::optional<YAML::Mark> marker;    // the first marker after it
    std::size_t line_start = 0;
    for (int line = 0; line_start <= text.size(); ++line) {
        std::size_t line_end = text.find('\n', line_start);
        if (line_end == std::string_view::npos) line_end = text.size();
        std::string_view l = text.substr(line_start, line_end - line_start);
        const bool is_marker = (l.starts_with("---") || l.starts_with("...")) &&
                               (l.size() == 3 || l[3] == ' ' || l[3] == '\t' || l[3] == '\r');
        if (is_marker && (content || l.starts_with("...")) && !marker) {
            marker = YAML::Mark();
            marker->pos = static_cast<int>(line_start);
            marker->line = line;
            marker->column = 0;
        }
        if (is_marker) l = l.substr(3);  // "--- key: value" holds content after its marker
        const auto first = l.find_first_not_of(" \t\r");
        if (first != std::string_view::npos && l[first] != '#' && (l[first] != '%' || is_marker)) {
            if (marker) return marker;
            content = true;
        }
        line_start = line_end + 1;
    }
    return std::nullopt;
}

// The first line whose indentation holds a tab, at that tab.
std::optional<YAML::Mark> tab_indented_line(std::string_view text) {
    std::size_t line_start = 0;
    for (int line = 0; line_start < text.size(); ++line) {
        std::size_t at = line_start;
        while (at < text.size() && (text[at] == ' ' || text[at] == '\t')) {
            if (text[at] == '\t') {
                YAML::Mark mark;
                mark.pos = static_cast<int>(at);
                mark.line = line;
                mark.column = static_cast<int>(at - line_start);
                return mark;
            }
            ++at;
        }
        const auto end = text.find('\n', line_start);
        if (end == std::string_view::npos) break;
        line_start = end + 1;
    }
    return std::nullopt;
}

}  // namespace

YAML::Node load_single_document(std::string_view text) {
    if (const auto bad = first_ill_formed_utf8(text)) {
        YAML::Mark mark;
        mark.pos = static_cast<int>(*bad);
        mark.line = static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(*bad), '\n'));
        const auto line_start = text.rfind('\n', *bad == 0 ? 0 : *bad - 1);
        mark.column = static_cast<int>(line_start == std::string_view::npos || *bad == 0 ? *bad : *bad - line_start - 1);
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(text[*bad]));
        throw YAML::ParserException(mark, std::string("byte ") + hex +
                                              " is not UTF-8; the file must be saved as UTF-8 (iconv -f LATIN1 -t UTF-8)");
    }
    // yaml-cpp reports a tab in indentation as some later structure error ("end of map not found"):
    // when the text fails to parse, a line indented with a tab is named instead.
    if (const auto tab = tab_indented_line(text)) {
        try {
            (void)YAML::Load(std::string(text));
        } catch (const YAML::Exception&) {
            throw YAML::ParserException(*tab, "a tab indents this line; YAML indents with spaces only");
        }
    }
    if (const auto second = second_document(text))
        throw YAML::ParserException(*second, "a second YAML document starts here; the file must be one document "
                                             "(remove the '---' line and merge what follows it into the first)");
    return YAML::Load(std::string(text));
}

std::optional<YAML::Node> YamlReader::parse(std::string_view text) {
    if (text.size() > max_yaml_file_bytes) {
        diagnostics_.push_back({file_, 1, 1, "file is " + std::to_string(text.size()) + " bytes; the limit is " +
                                                 std::to_string(max_yaml_file_bytes)});
        return std::nullopt;
    }
    text_.assign(text);
    line_starts_.assign(1, 0);
    for (std::size_t i = 0; i < text_.size(); ++i)
        if (text_[i] == '\n') line_starts_.push_back(i + 1);
    try {
        return load_single_document(text);
    } catch (const YAML::Exception& e) {
        diagnostics_.push_back({file_, one_based(e.mark.line), one_based(e.mark.column), "YAML syntax error: " + yaml_syntax_message(e)});
    }
    return std::nullopt;
}

// A key missing from a const mapping reads as an invalid node, whose mark yaml-cpp refuses to give.
void YamlReader::error(const YAML::Node& at, std::string message) {
    if (!at.IsDefined()) return error(YAML::Mark::null_mark(), std::move(message));
    error(at.IsNull() ? empty_value_mark(at.Mark()) : at.Mark(), std::move(message));
}

YAML::Mark YamlReader::empty_value_mark(const YAML::Mark& next_token) const {
    if (next_token.pos < 0 || text_.empty()) return next_token;
    std::size_t at = std::min(static_cast<std::size_t>(next_token.pos), text_.size());
    while (at > 0 && (text_[at - 1] == ' ' || text_[at - 1] == '\t' || text_[at - 1] == '\r' || text_[at - 1] == '\n'))
        --at;
    if (at == 0 || (text_[at - 1] != '-' && text_[at - 1] != ':')) return next_token;
    const std::size_t indicator = at - 1;
    const auto line = std::upper_bound(line_starts_.begin(), line_starts_.end(), indicator) - line_starts_.begin() - 1;
    YAML::Mark mark;
    mark.pos = static_cast<int>(indicator);
    mark.line = static_cast<int>(line);
    mark.column = static_cast<int>(indicator - line_starts_[static_cast<std::size_t>(line)]);
    return mark;
}

void YamlReader::error(const YAML::Mark& at, std::string message) {
    diagnostics_.push_back({file_, one_based(at.line), one_based(at.column), std::move(message)});
}

bool YamlReader::check_map(const YAML::Node& node, std::string_view what, std::span<const std::string_view> allowed,
                           std::span<const std::string_view> required) {
    if (!node.IsDefined()) return false;  // a required key that is missing: its parent reported it
    if (!node.IsMap()) {
        error(node, std::string(what) + " must be a mapping of keys to values");
        return false;
    }
    std::set<std::string> seen;
    for (auto it = node.begin(); it != node.end(); ++it) {
        if (!it->first.IsScalar()) {
            error(it->first, "keys in " + std::string(what) + " must be plain words");
            continue;
        }
        const auto key = it->first.Scalar();
        if (!seen.insert(key).second) {
            error(it->first, "'" + key + "' appears twice in " + std::string(what));
            continue;
        }
        bool known = false;
        for (const auto a : allowed) known = known || a == key;
        if (!known) {
            const auto suggestion = closest_name(key, allowed);
            error(it->first, "unknown key '" + key + "' in " + std::string(what) +
                                 (key == "<<" ? std::string(merge_key_note)
                                  : suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?"));
        }
    }
    for (const auto r : required) {
        if (!seen.contains(std::string(r))) error(node, std::string(what) + " needs '" + std::string(r) + "'");
    }
    return true;
}

std::optional<std::string> YamlReader::text(const YAML::Node& node, std::string_view what) {
    if (!node.IsDefined()) return std::nullopt;  // missing: reported by check_map of its mapping
    if (!node.IsScalar()) {
        error(node, std::string(what) + " must be text");
        return std::nullopt;
    }
    if (node.Scalar().size() > max_text_bytes) {
        error(node, std::string(what) + " is longer than " + std::to_string(max_text_bytes) + " bytes");
        return std::nullopt;
    }
    return node.Scalar();
}

std::optional<bool> YamlReader::boolean(const YAML::Node& node, std::string_view what) {
    if (!node.IsDefined()) return std::nullopt;
    if (node.IsScalar()) {
        const auto& s = node.Scalar();
        if (s == "true") return true;
        if (s == "false") return false;
    }
    error(node, std::string(what) + " must be true or false");
    return std::nullopt;
}

std::optional<long long> YamlReader::integer(const YAML::Node& node, std::string_view what) {
    if (!node.IsDefined()) return std::nullopt;
    if (node.IsScalar()) {
        const auto& s = node.Scalar();
        try {
            std::size_t used = 0;
            const long long value = std::stoll(s, &used);
            if (used == s.size()) return value;
        } catch (const std::exception&) {
        }
    }
    error(node, std::string(what) + " must be a whole number");
    return std::nullopt;
}

std::optional<std::vector<std::string>> YamlReader::text_list(const YAML::Node& node, std::string_view what) {
    if (!node.IsDefined()) return std::nullopt;
    if (node.IsScalar()) {
        auto one = text(node, what);
        if (!one) return std::nullopt;
        return std::vector<std::string>{*one};
    }
    if (!node.IsSequence()) {
        error(node, std::string(what) + " must be a list of names, like [a, b]");
        return std::nullopt;
    }
    if (node.size() > max_list_items) {
        error(node, std::string(what) + " has more than " + std::to_string(max_list_items) + " items");
        return std::nullopt;
    }
    std::vector<std::string> out;
    bool ok = true;
    for (const auto& item : node) {
        auto value = text(item, std::string(what) + " items");
        if (value) out.push_back(*value);
        else ok = false;
    }
    if (!ok) return std::nullopt;
    return out;
}

}  // namespace sovereign::policy

#include "policy/yaml_reader.hpp"

#include <algorithm>
#include <cstdio>
#include <optional>
#include <set>

#include <yaml-cpp/depthguard.h>

#include "policy/diagnostic.hpp"
#include "policy/nesting_limit.hpp"
#include "policy/quoted_texts.hpp"
#include "policy/utf8.hpp"

namespace sovereign::policy {

std::string yaml_syntax_message(const YAML::Exception& e) {
    if (dynamic_cast<const YAML::DeepRecursion*>(&e) != nullptr)
        return "lists and mappings are nested too deeply here (the YAML reader stops at about 500 levels; "
               "no policy or configuration needs more than a few)";
    return e.msg;
}

namespace {

// Where a second document with content begins: the "---" or "..." line (at the start of a line, where
// YAML allows such a marker only between documents) after the first document's content, when any
// content follows it (blank lines, comments, directives and further markers are none). Read from the
// text: yaml-cpp's LoadAll, which would say it, loops without end on some malformed files (a file that
// is only "," grew past every memory limit).
std::optional<YAML::Mark> second_document(const YamlText& text) {
    bool content = false;                // the first document has begun
    std::optional<YAML::Mark> marker;    // the first marker after it
    for (std::size_t line = 0; line < text.line_count(); ++line) {
        std::string_view l = text.line(line);
        const bool is_marker = (l.starts_with("---") || l.starts_with("...")) &&
                               (l.size() == 3 || l[3] == ' ' || l[3] == '\t');
        if (is_marker && (content || l.starts_with("...")) && !marker) marker = text.mark_at(text.line_start(line));
        if (is_marker) l = l.substr(3);  // "--- key: value" holds content after its marker
        const auto first = l.find_first_not_of(" \t");
        if (first != std::string_view::npos && l[first] != '#' && (l[first] != '%' || is_marker)) {
            if (marker) return marker;
            content = true;
        }
    }
    return std::nullopt;
}

// The first line whose indentation holds a tab, at that tab.
std::optional<YAML::Mark> tab_indented_line(const YamlText& text) {
    for (std::size_t line = 0; line < text.line_count(); ++line) {
        const std::string_view l = text.line(line);
        const auto indentation = l.find_first_not_of(" \t");
        const auto tab = l.substr(0, indentation).find('\t');
        if (tab != std::string_view::npos) return text.mark_at(text.line_start(line) + tab);
    }
    return std::nullopt;
}

// YAML::Load, with a nesting error placed at the node past the limit.
YAML::Node load_placing_nesting_errors(const YamlText& text) {
    try {
        return YAML::Load(text.text());
    } catch (const YAML::DeepRecursion& e) {
        if (const auto at = first_node_past_nesting_limit(text)) throw YAML::ParserException(*at, yaml_syntax_message(e));
        throw;
    }
}

}  // namespace

YAML::Node load_single_document(std::string_view yaml) { return load_single_document(YamlText(yaml)); }

YAML::Node load_single_document(const YamlText& text) {
    const std::string& yaml = text.text();
    if (const auto bad = first_ill_formed_utf8(yaml)) {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02X", static_cast<unsigned char>(yaml[*bad]));
        throw YAML::ParserException(text.mark_at(*bad), std::string("byte ") + hex +
                                                            " is not UTF-8; the file must be saved as UTF-8 (iconv -f LATIN1 -t UTF-8)");
    }
    // yaml-cpp reports a tab in indentation as some later structure error ("end of map not found"):
    // when the text fails to parse, a line indented with a tab is named instead.
    if (const auto tab = tab_indented_line(text)) {
        try {
            (void)YAML::Load(text.text());
        } catch (const YAML::Exception&) {
            throw YAML::ParserException(*tab, "a tab indents this line; YAML indents with spaces only");
        }
    }
    if (const auto second = second_document(text))
        throw YAML::ParserException(*second, "a second YAML document starts here; the file must be one document "
                                             "(remove the '---' line and merge what follows it into the first)");
    YAML::Node root;
    try {
        root = load_placing_nesting_errors(text);
    } catch (const YAML::ParserException&) {
        // The mistake may be a quoted text's, reported at its opening quote where it is to be fixed: one
        // left open in a file whose last line has no line break (yaml-cpp says so at the end of the file;
        // with the break added, it reads the text to the end), or one that a quote further down closed,
        // after which yaml-cpp stumbled over the rest of that quote's line.
        check_quoted_texts(YamlText(yaml + "\n"));
        throw;
    }
    check_quoted_texts(text);
    return root;
}

std::optional<YAML::Node> YamlReader::parse(std::string_view text) {
    if (text.size() > max_yaml_file_bytes) {
        diagnostics_.push_back({file_, 1, 1, "file is " + std::to_string(text.size()) + " bytes; the limit is " +
                                                 std::to_string(max_yaml_file_bytes)});
        return std::nullopt;
    }
    text_ = YamlText(text);
    try {
        return load_single_document(text_);
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
    const std::string& t = text_.text();
    if (next_token.pos < 0 || t.empty()) return next_token;
    std::size_t at = text_.offset_of(next_token);
    while (at > 0 && (t[at - 1] == ' ' || t[at - 1] == '\t' || t[at - 1] == '\r' || t[at - 1] == '\n')) --at;
    if (at == 0 || (t[at - 1] != '-' && t[at - 1] != ':')) return next_token;
    return text_.mark_at(at - 1);
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

namespace {

// A quoted scalar is text to YAML and to the JSON Schema an editor checks the file with: "true" in
// quotes is no boolean there, nor "1" a number, so the loader does not read them as such either.
bool quoted(const YAML::Node& node) { return node.Tag() == "!"; }

}  // namespace

std::optional<bool> YamlReader::boolean(const YAML::Node& node, std::string_view what) {
    if (!node.IsDefined()) return std::nullopt;
    if (node.IsScalar() && quoted(node) && (node.Scalar() == "true" || node.Scalar() == "false")) {
        error(node, std::string(what) + " must be true or false, written without quotes (in quotes it is text)");
        return std::nullopt;
    }
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
    if (node.IsScalar() && !quoted(node)) {
        const auto& s = node.Scalar();
        try {
            std::size_t used = 0;
            const long long value = std::stoll(s, &used);
            if (used == s.size()) return value;
        } catch (const std::exception&) {
        }
    }
    error(node, std::string(what) + " must be a whole number" +
                    (node.IsScalar() && quoted(node) ? ", written without quotes (in quotes it is text)" : ""));
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

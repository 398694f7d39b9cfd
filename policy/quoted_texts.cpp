#include "policy/quoted_texts.hpp"

#include <algorithm>
#include <string_view>

#include <yaml-cpp/exceptions.h>

namespace sovereign::policy {

namespace {

// What a line (without its indentation) reads as, when it reads as a YAML entry: "- x", "key: x",
// "# note". Empty when it reads as text.
std::string entry_kind(std::string_view content) {
    const auto ends_indicator = [&](std::size_t i) {
        return i >= content.size() || content[i] == ' ' || content[i] == '\t';
    };
    if (content.empty()) return "";
    if (content[0] == '#') return "a comment";
    if (content[0] == '-' && ends_indicator(1)) return "a list item";
    if (content[0] == '"' || content[0] == '\'') return "";
    for (std::size_t i = 1; i < content.size(); ++i) {
        if (content[i] == ':' && ends_indicator(i + 1)) return "a key";
        if (content[i] == '#' && (content[i - 1] == ' ' || content[i - 1] == '\t')) return "";
    }
    return "";
}

// Follows the document as yaml-cpp reads it, keeping, for the list or mapping each scalar is in, the
// column its further lines must be indented past.
class QuotedTextFinder final : public YAML::EventHandler {
public:
    explicit QuotedTextFinder(const YamlText& text) : text_(text) {}

    std::vector<QuotedText> found;

    void OnDocumentStart(const YAML::Mark&) override { indents_.assign(1, -1); }
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t, const std::string&) override {
        const std::size_t at = text_.content_start(text_.offset_of(mark));
        if (at < text_.text().size() && (text_.text()[at] == '"' || text_.text()[at] == '\''))
            found.push_back(read_quoted(at, indents_.back()));
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value style) override {
        enter(mark, style);
    }
    void OnSequenceEnd() override { indents_.pop_back(); }
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value style) override {
        enter(mark, style);
    }
    void OnMapEnd() override { indents_.pop_back(); }

private:
    // A block list or mapping: its items or keys stand at the column where its content begins. In a flow
    // collection ([...] or {...}) lines are indented past the block around it.
    void enter(const YAML::Mark& mark, YAML::EmitterStyle::value style) {
        indents_.push_back(style == YAML::EmitterStyle::Flow
                               ? indents_.back()
                               : text_.mark_at(text_.content_start(text_.offset_of(mark))).column);
    }

    QuotedText read_quoted(std::size_t opening, int indent) const {
        const std::string& t = text_.text();
        const char quote = t[opening];
        QuotedText quoted;
        quoted.opening = text_.mark_at(opening);
        std::size_t end = t.size();
        for (std::size_t i = opening + 1; i < t.size(); ++i) {
            if (quote == '"' && t[i] == '\\') {  // an escape: the character after it is never the end
                ++i;
            } else if (t[i] == quote) {
                if (quote == '\'' && i + 1 < t.size() && t[i + 1] == '\'') {  // '' is a quote inside '...'
                    ++i;
                    continue;
                }
                end = i;
                quoted.closing = text_.mark_at(i);
                break;
            }
        }
        const auto last_line = static_cast<std::size_t>(text_.mark_at(end).line);
        for (auto line = static_cast<std::size_t>(quoted.opening.line) + 1; line <= last_line && line < text_.line_count();
             ++line) {
            const std::string_view l = text_.line(line);
            if (static_cast<int>(std::min(l.find_first_not_of(' '), l.size())) > indent) continue;
            const std::size_t content = std::min(l.find_first_not_of(" \t"), l.size());
            std::string kind = entry_kind(l.substr(content));
            if (kind.empty()) continue;
            quoted.entry_line = text_.mark_at(text_.line_start(line) + content);
            quoted.entry_kind = std::move(kind);
            break;
        }
        return quoted;
    }

    const YamlText& text_;
    std::vector<int> indents_{-1};
};

}  // namespace

std::vector<QuotedText> quoted_texts(const YamlText& text) {
    QuotedTextFinder finder(text);
    try {
        read_yaml_events(text, finder);
    } catch (const YAML::Exception&) {
        // A syntax error: the quoted texts before it are those read.
    }
    return std::move(finder.found);
}

void check_quoted_texts(const YamlText& text) {
    for (const auto& quoted : quoted_texts(text)) {
        if (!quoted.closing) throw YAML::ParserException(quoted.opening, "the quoted text that starts here is never closed");
        if (quoted.entry_line)
            throw YAML::ParserException(
                quoted.opening,
                "the quoted text that starts here runs on into line " + std::to_string(quoted.entry_line->line + 1) +
                    ", which reads as " + quoted.entry_kind +
                    ": close the quote where the text ends (a quoted text that goes on over several lines indents "
                    "its further lines past its key or '-')");
    }
}

}  // namespace sovereign::policy

#include "policy/yaml_text.hpp"

#include <algorithm>
#include <sstream>

#include <yaml-cpp/parser.h>

namespace sovereign::policy {

YamlText::YamlText(std::string_view text) : text_(text), line_starts_{0} {
    if (text_.starts_with("\xEF\xBB\xBF")) byte_order_mark_ = 3;
    for (std::size_t i = 0; i < text_.size(); ++i)
        if (text_[i] == '\n') line_starts_.push_back(i + 1);
}

std::string_view YamlText::line(std::size_t line) const {
    const std::size_t begin = line_starts_[line];
    std::size_t end = line + 1 < line_starts_.size() ? line_starts_[line + 1] - 1 : text_.size();
    if (end > begin && text_[end - 1] == '\r') --end;
    return std::string_view(text_).substr(begin, end - begin);
}

YAML::Mark YamlText::mark_at(std::size_t offset) const {
    offset = std::min(offset, text_.size());
    const auto line = static_cast<std::size_t>(std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) -
                                               line_starts_.begin() - 1);
    const std::size_t line_begin = line == 0 ? std::min(byte_order_mark_, offset) : line_starts_[line];
    YAML::Mark mark;
    mark.pos = static_cast<int>(offset - std::min(byte_order_mark_, offset));
    mark.line = static_cast<int>(line);
    mark.column = static_cast<int>(offset - line_begin);
    return mark;
}

std::size_t YamlText::offset_of(const YAML::Mark& mark) const {
    if (mark.pos < 0) return 0;
    return std::min(static_cast<std::size_t>(mark.pos) + byte_order_mark_, text_.size());
}

std::size_t YamlText::content_start(std::size_t node_offset) const {
    std::size_t at = node_offset;
    const auto space = [&](std::size_t i) {
        return text_[i] == ' ' || text_[i] == '\t' || text_[i] == '\r' || text_[i] == '\n';
    };
    while (at < text_.size()) {
        if (text_[at] == '&' || text_[at] == '!') {
            while (at < text_.size() && !space(at)) ++at;
        } else if (space(at)) {
            ++at;
        } else if (text_[at] == '#' && at > node_offset) {  // after a property and a space: a comment
            while (at < text_.size() && text_[at] != '\n') ++at;
        } else {
            break;
        }
    }
    return at;
}

void read_yaml_events(const YamlText& text, YAML::EventHandler& handler) {
    std::istringstream in(text.text());
    YAML::Parser parser(in);
    // The first document only: the files read here are one (load_single_document checks that), and
    // reading on for more loops without end on some malformed texts.
    (void)parser.HandleNextDocument(handler);
}

}  // namespace sovereign::policy

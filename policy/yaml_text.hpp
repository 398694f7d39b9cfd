#pragma once
// A YAML file's text with the offsets of its lines: byte offsets turned into yaml-cpp's marks (0-based
// line, column and offset) and back, for the checks that read the text around what yaml-cpp parsed.

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/mark.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace sovereign::policy {

class YamlText {
public:
    YamlText() : YamlText(std::string_view{}) {}
    explicit YamlText(std::string_view text);

    const std::string& text() const { return text_; }
    std::size_t line_count() const { return line_starts_.size(); }
    std::size_t line_start(std::size_t line) const { return line_starts_[line]; }
    // The line without its line break (and without a '\r' before it).
    std::string_view line(std::size_t line) const;

    YAML::Mark mark_at(std::size_t offset) const;
    // yaml-cpp counts offsets and the columns of the first line from after a UTF-8 byte order mark.
    std::size_t offset_of(const YAML::Mark& mark) const;

    // Where a node's content begins, given where yaml-cpp places the node: past its anchor ('&name')
    // and tag ('!tag'), and the spaces, line breaks and comments after them.
    std::size_t content_start(std::size_t node_offset) const;

private:
    std::string text_;
    std::size_t byte_order_mark_ = 0;
    std::vector<std::size_t> line_starts_;
};

// Reports the first document of `text` to `handler`, event by event, as yaml-cpp reads it, for the
// checks that need where each node begins; throws what yaml-cpp throws at a syntax error.
void read_yaml_events(const YamlText& text, YAML::EventHandler& handler);

}  // namespace sovereign::policy

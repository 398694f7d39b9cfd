#pragma once
// Where a YAML text nests lists and mappings deeper than yaml-cpp reads. yaml-cpp's DeepRecursion
// carries the place its scanner had read up to, which for "[[[[..." is the end of the line, far from
// the bracket that went past the limit.

#include <optional>

#include <yaml-cpp/mark.h>

#include "policy/yaml_text.hpp"

namespace sovereign::policy {

// The start of the first node past yaml-cpp's nesting limit (the bracket, list item or key that
// crosses it), or nullopt when the text does not reach the limit.
std::optional<YAML::Mark> first_node_past_nesting_limit(const YamlText& text);

}  // namespace sovereign::policy

#pragma once
// A list in words, for messages, reasons and lint findings: "a, b, c".
#include <string>
#include <string_view>
#include <vector>

namespace sovereign::policy {

inline std::string join(const std::vector<std::string>& items, std::string_view separator = ", ") {
    std::string out;
    for (const auto& item : items) {
        if (!out.empty()) out += separator;
        out += item;
    }
    return out;
}

}  // namespace sovereign::policy

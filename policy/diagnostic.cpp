#include "policy/diagnostic.hpp"

#include <algorithm>
#include <vector>

namespace sovereign::policy {

std::string format_diagnostic(const Diagnostic& d) {
    return d.file + ":" + std::to_string(d.line) + ":" + std::to_string(d.column) + ": " + (d.advisory ? "warning: " : "") +
           d.message;
}

namespace {
std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) row[j] = j;
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diagonal = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t above = row[j];
            const std::size_t substitution = diagonal + (a[i - 1] == b[j - 1] ? 0 : 1);
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, substitution});
            diagonal = above;
        }
    }
    return row[b.size()];
}
}  // namespace

constexpr std::size_t max_suggested_length = 256;

std::string closest_name(std::string_view word, std::span<const std::string_view> candidates) {
    std::string best;
    // A typo changes a few characters; anything further is a different word, not worth suggesting.
    std::size_t best_distance = std::max<std::size_t>(2, word.size() / 3) + 1;
    // Names are short; a long word is no typo of one, and costs its length times each candidate's.
    if (word.size() > max_suggested_length) return best;
    for (const auto candidate : candidates) {
        // The distance is at least the difference in length: no need to compute it.
        const std::size_t apart = word.size() > candidate.size() ? word.size() - candidate.size() : candidate.size() - word.size();
        if (apart >= best_distance) continue;
        const std::size_t distance = edit_distance(word, candidate);
        if (distance < best_distance) {
            best_distance = distance;
            best = std::string(candidate);
        }
    }
    return best;
}

}  // namespace sovereign::policy

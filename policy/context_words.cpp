#include "policy/context_words.hpp"

#include <algorithm>

namespace sovereign::policy {
namespace {

// How far from a finding a context word may be: a label and a few words of a sentence.
constexpr std::size_t context_before = 64;
constexpr std::size_t context_after = 24;

unsigned char lower(char c) {
    return static_cast<unsigned char>((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
}

bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           static_cast<unsigned char>(c) >= 0x80;
}

unsigned char first_byte(const std::string& word) { return static_cast<unsigned char>(word[0]); }

}  // namespace

ContextWords::ContextWords(const std::vector<std::string>& lower_case_words) {
    for (const auto& word : lower_case_words)
        if (!word.empty()) words_.push_back(word);
    std::stable_sort(words_.begin(), words_.end(),
                     [](const std::string& a, const std::string& b) { return first_byte(a) < first_byte(b); });
    std::size_t i = 0;
    for (unsigned c = 0; c <= 256; ++c) {
        while (i < words_.size() && first_byte(words_[i]) < c) ++i;
        first_[c] = static_cast<std::uint32_t>(i);
    }
}

bool ContextWords::may_follow(std::string_view text, std::size_t end) const {
    return !words_.empty() && end + context_after > text.size();
}

bool ContextWords::near(std::string_view text, std::size_t begin, std::size_t end) const {
    if (words_.empty()) return false;
    const std::size_t lo = begin > context_before ? begin - context_before : 0;
    const std::size_t hi = std::min(text.size(), end + context_after);
    const std::string_view window = text.substr(lo, hi - lo);
    for (std::size_t at = 0; at < window.size(); ++at) {
        const unsigned char first = lower(window[at]);
        if (first_[first] == first_[first + 1]) continue;  // no word begins with this letter
        if (at > 0 && word_char(window[at - 1])) continue;  // not where a word begins
        for (std::uint32_t w = first_[first]; w < first_[first + 1]; ++w) {
            const std::string& word = words_[w];
            if (at + word.size() > window.size()) continue;
            std::size_t k = 1;
            while (k < word.size() && lower(window[at + k]) == static_cast<unsigned char>(word[k])) ++k;
            if (k == word.size()) return true;
        }
    }
    return false;
}

}  // namespace sovereign::policy

#include "policy/context_words.hpp"

#include <algorithm>

#include "policy/case_fold.hpp"
#include "policy/utf8.hpp"

namespace sovereign::policy {
namespace {

// How far from a finding a context word may be: a label and a few words of a sentence.
constexpr std::size_t context_before = 64;
constexpr std::size_t context_after = 24;

unsigned char lower(char c) {
    return static_cast<unsigned char>((c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c);
}

// The bytes of words: ASCII letters and digits, and every byte of a character beyond ASCII.
const ByteClass& word_bytes() {
    static const ByteClass bytes = [] {
        std::array<bool, 256> members{};
        for (unsigned c = 0; c < 256; ++c)
            members[c] = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
        return ByteClass(members);
    }();
    return bytes;
}

unsigned char first_byte(const std::string& word) { return static_cast<unsigned char>(word[0]); }

// The bit of `seconds_` that an ASCII second letter (folded) sets: distinct for the letters; digits
// share bits with letters, which only lets a few more places through to the comparison.
std::uint64_t second_bit(unsigned char folded) { return std::uint64_t{1} << (folded & 63); }

// The first byte of code point cp written in UTF-8.
unsigned char lead_byte(std::uint32_t cp) {
    char bytes[4];
    write_utf8(cp, bytes);
    return static_cast<unsigned char>(bytes[0]);
}

// Whether `word` (case-folded) goes on at text[at] from its k-th byte, the text's letters compared
// folded. ASCII letters are folded as they are compared; a character beyond ASCII is decoded and
// folded first.
inline bool goes_on_at(std::string_view text, std::size_t at, std::string_view word, std::size_t k) {
    while (k < word.size()) {
        if (at >= text.size()) return false;
        if (static_cast<unsigned char>(text[at]) < 0x80) {
            if (lower(text[at]) != static_cast<unsigned char>(word[k])) return false;
            ++at;
            ++k;
            continue;
        }
        const FoldedCharacter c = fold_character(text, at);
        if (word.substr(k, c.size) != c.view()) return false;
        at += c.read;
        k += c.size;
    }
    return true;
}

}  // namespace

ContextWords::ContextWords(const std::vector<std::string>& words) {
    for (const auto& word : words)
        if (!word.empty()) words_.push_back(case_folded(word));
    std::stable_sort(words_.begin(), words_.end(),
                     [](const std::string& a, const std::string& b) { return first_byte(a) < first_byte(b); });
    std::size_t i = 0;
    for (unsigned c = 0; c <= 256; ++c) {
        while (i < words_.size() && first_byte(words_[i]) < c) ++i;
        first_[c] = static_cast<std::uint32_t>(i);
    }
    // The bytes that may begin a word: an ASCII letter in either case where a word begins with it, and
    // the lead byte of a character beyond ASCII that is, or folds to, a word's first letter
    // ("Überweisung"; "ДОГОВОР", whose Д folds to д; the Kelvin sign, which folds to k).
    const auto has_words = [&](unsigned char first) { return first_[first] != first_[first + 1]; };
    std::array<bool, 256> may_begin{};
    for (unsigned byte = 0; byte < 0x80; ++byte) may_begin[byte] = has_words(lower(static_cast<char>(byte)));
    for (unsigned lead = 0xC0; lead < 256; ++lead) may_begin[lead] = has_words(static_cast<unsigned char>(lead));
    for (const auto& [from, to] : case_fold_pairs())
        if (from >= 0x80 && has_words(lead_byte(to))) may_begin[lead_byte(from)] = true;
    may_begin_word_ = ByteClass(may_begin);
    // A one-letter word lets every second character through. A second byte beyond ASCII sets no bit:
    // only a character beyond ASCII in the text can match it, and such a text character skips the test.
    for (const auto& word : words_) {
        std::uint64_t& seconds = seconds_[first_byte(word)];
        if (word.size() == 1) seconds = ~std::uint64_t{0};
        else if (static_cast<unsigned char>(word[1]) < 0x80) seconds |= second_bit(static_cast<unsigned char>(word[1]));
    }
}

bool ContextWords::second_letter_rules_out(std::string_view window, std::size_t at, unsigned char first) const {
    if (at + 1 >= window.size() || static_cast<unsigned char>(window[at + 1]) >= 0x80) return false;
    return (seconds_[first] & second_bit(lower(window[at + 1]))) == 0;
}

bool ContextWords::may_follow(std::string_view text, std::size_t end) const {
    return !words_.empty() && end + context_after > text.size();
}

// The window of a finding at [begin, end): context_before bytes before it to context_after after it.
std::string_view ContextWords::window(std::string_view text, std::size_t begin, std::size_t end) {
    const std::size_t lo = begin > context_before ? begin - context_before : 0;
    const std::size_t hi = std::min(text.size(), end + context_after);
    return text.substr(lo, hi - lo);
}

bool ContextWords::word_begins_at(std::string_view window, std::size_t at) const {
    const auto byte = static_cast<unsigned char>(window[at]);
    const auto first = byte < 0x80 ? lower(window[at]) : static_cast<unsigned char>(fold_character(window, at).bytes[0]);
    // An ASCII first letter is the word's; one beyond ASCII is compared again, folded.
    const std::size_t from = byte < 0x80 ? 1 : 0;
    if (from == 1 && second_letter_rules_out(window, at, first)) return false;
    for (std::uint32_t w = first_[first]; w < first_[first + 1]; ++w)
        if (goes_on_at(window, at + from, words_[w], from)) return true;
    return false;
}

bool ContextWords::near(std::string_view text, std::size_t begin, std::size_t end) const {
    return ByteClass::lookups_64_wide() ? near_by_blocks(text, begin, end) : near_by_bytes(text, begin, end);
}

bool ContextWords::near_by_blocks(std::string_view text, std::size_t begin, std::size_t end) const {
    if (words_.empty()) return false;
    const std::string_view in = window(text, begin, end);
    // The places where a byte that may begin a word stands at a word's start (the window's first byte,
    // or after a byte that is no part of a word) are asked further.
    std::uint64_t word_before = 0;  // bit 0: the block before ended in a byte of a word
    for (std::size_t block = 0; block < in.size(); block += 64) {
        const std::uint64_t in_words = word_bytes().mask(in, block);
        std::uint64_t starts = may_begin_word_.mask(in, block) & ~((in_words << 1) | word_before);
        word_before = in_words >> 63;
        for (; starts != 0; starts &= starts - 1)
            if (word_begins_at(in, block + static_cast<std::size_t>(__builtin_ctzll(starts)))) return true;
    }
    return false;
}

bool ContextWords::near_by_bytes(std::string_view text, std::size_t begin, std::size_t end) const {
    if (words_.empty()) return false;
    const std::string_view in = window(text, begin, end);
    for (std::size_t at = 0; at < in.size(); ++at)
        if (may_begin_word_.contains(in[at]) && (at == 0 || !word_bytes().contains(in[at - 1])) && word_begins_at(in, at))
            return true;
    return false;
}

}  // namespace sovereign::policy

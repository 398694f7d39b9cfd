#pragma once
// ContextWords: the context words of one detector ("card", "iban", "steuer"...), arranged for the
// question asked of every finding it confirms: does one of them begin a word near it? The window's
// word starts whose letter begins some word are found 64 bytes at a time by table lookups
// (policy/byte_runs.hpp) where the processor has them, else a byte at a time; the words are grouped
// by first letter, so only those are compared there (a detector has up to a few dozen words, in
// several languages).
#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "policy/byte_runs.hpp"

namespace sovereign::policy {

class ContextWords {
public:
    ContextWords() = default;
    // The words in any letter case (they are kept case-folded, policy/case_fold.hpp); empty ones are
    // ignored.
    explicit ContextWords(const std::vector<std::string>& words);

    // True when one of the words begins a word (letters compared without case, as case_fold.hpp
    // folds them) in the window of
    // 64 bytes before [begin, end) to 24 bytes after it: a label and a few words of a sentence.
    bool near(std::string_view text, std::size_t begin, std::size_t end) const;
    // True when a word could still follow a finding that ends at `end` in text that goes on beyond
    // what has been received (a streamed answer): its window after the finding is not complete yet.
    bool may_follow(std::string_view text, std::size_t end) const;

    // The two walks near() chooses between by processor, for tests to compare: the window's word
    // starts found 64 bytes at a time by table lookups (where ByteClass::lookups_64_wide(); elsewhere
    // a block's masks cost more than a look at each byte), or a byte at a time.
    bool near_by_blocks(std::string_view text, std::size_t begin, std::size_t end) const;
    bool near_by_bytes(std::string_view text, std::size_t begin, std::size_t end) const;

private:
    static std::string_view window(std::string_view text, std::size_t begin, std::size_t end);
    // Whether one of the words begins at window[at], a word start whose byte may begin a word.
    bool word_begins_at(std::string_view window, std::size_t at) const;
    // Whether the character after an ASCII first letter at window[at] (folded: `first`) begins none of
    // the second letters of the words that begin with it; false where that character is beyond ASCII
    // or the window ends.
    bool second_letter_rules_out(std::string_view window, std::size_t at, unsigned char first) const;

    std::vector<std::string> words_;          // case-folded, ordered by first byte
    std::array<std::uint32_t, 257> first_{};  // words_[first_[c], first_[c + 1]) begin with byte c
    ByteClass may_begin_word_;                // bytes that may begin a word, in any case (see the constructor)
    // For each first byte, the ASCII second letters of its words, folded, as bit (letter & 63): a word
    // start whose next character is another ASCII letter is passed over without comparing words.
    std::array<std::uint64_t, 256> seconds_{};
};

}  // namespace sovereign::policy

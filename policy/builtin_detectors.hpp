#pragma once
// The detectors every policy gets: their patterns, default class, validator and context words.

#include <span>
#include <string_view>
#include <vector>

namespace sovereign::policy {

using Validator = bool (*)(std::string_view);

// A byte range of a text; empty when an expander finds no complete value.
struct TextRange {
    std::size_t begin = 0;
    std::size_t end = 0;
};
// Grows a short pattern match (an anchor such as "x@y" or "-----BEGIN ... KEY-----") to the whole value.
// vectorscan cannot report start offsets for long variable-length patterns, so those detectors match an
// anchor and expand it here.
using Expander = TextRange (*)(std::string_view text, std::size_t begin, std::size_t end);

// Finds a pattern's next match at or after `from` without vectorscan: [begin, end), or begin == npos.
using Finder = TextRange (*)(std::string_view text, std::size_t from);

// Finds the value that holds the run of digits [run_begin, run_end) at a place its form fixes (a date
// written with its month as a word ends with its year; a lower-case IBAN's check digits follow its
// country code), without vectorscan: [begin, end), or begin == npos. The detector set calls it for
// every run of its pass over the digits of a text, so such a pattern costs no pass of its own. What it
// returns is the whole value: no expander applies.
using DigitRunFinder = TextRange (*)(std::string_view text, std::size_t run_begin, std::size_t run_end);

// For the streamed-answer scanner, where a detector's values may be written with spaces (so that the
// run of characters a value may contain does not find their start): the earliest position in
// buffer[from, end), at most `reach` before the end, where a value may begin that the next chunk
// could complete; buffer.size() when none.
using Straddle = std::size_t (*)(std::string_view buffer, std::size_t from, std::size_t reach);

// Which neighbouring characters mean a candidate is only part of a longer token (and so not a value).
enum class Boundary { none, digit, digit_group, alnum, ipv4, ipv6, email, token };

// One vectorscan expression of a detector; some forms are only trusted next to a context word.
struct BuiltinPattern {
    std::string_view regex;
    bool needs_context = false;
    // Every match holds six digits with at most three other characters, or a line break between groups
    // (policy/line_breaks.hpp), between consecutive ones; such
    // patterns are only run around places where that occurs (see DetectorSet::scan). Only honoured for
    // detectors whose boundary is digit, digit_group or alnum: the window scan relies on it. With an
    // expander (the pattern's or its detector's) the pattern is an anchor, the start of a value the
    // expander completes (it is matched after a boundary character but not before one); then it is the
    // value that holds the six digits, within the detector's max_length of the anchor.
    bool digit_dense = false;
    // One character class repeated a fixed number of times: it matches at every position inside a long
    // run of its characters (a base64 blob holds thousands of 32-character windows), so the detector's
    // expander takes the whole run. Runs are found without vectorscan (DetectorSet, find_run) and each is
    // reported once.
    bool whole_runs = false;
    // Confirms this pattern's matches instead of the detector's validator (null: the detector's).
    Validator validate = nullptr;
    // Completes this pattern's matches instead of the detector's expander (null: the detector's).
    Expander expand = nullptr;
    // Finds the pattern's matches instead of vectorscan (null: vectorscan does), for a pattern led by
    // one common character and nothing else literal: vectorscan's literal matchers handle a one-byte
    // literal badly, and IPv6's colons alone made the whole database scan prose at half its speed; or
    // for one of character classes only, which a run finder skips through prose faster (fiscal codes).
    Finder find = nullptr;
    // Finds the pattern's matches at runs of digits instead of vectorscan (see DigitRunFinder; null: it
    // does not).
    DigitRunFinder find_at_digits = nullptr;
    // With find_at_digits: the finder is only asked about runs with a letter beside them (a letter or a
    // dash right before or after the run, or a letter standing alone after a blank): its values all have
    // one, and asking it about every number of prose cost prose scanning 7%.
    bool letter_beside_run = false;
    // Finds the pattern's anchor at runs of digits instead of `find` (null: it does not), for a pattern
    // whose every match begins with the last digit of a run (the IPv4 anchor, a digit, a dot, a digit):
    // given each run of the pass over a text's digits, it returns the match that begins there, or
    // begin == npos; the expander completes it as it would find's. Such a pattern costs no pass of its own.
    DigitRunFinder anchor_at_digits = nullptr;
    // With find, for a pattern whose every match begins with a colon (the IPv6 anchor): the match that
    // begins at the colon text[at], or begin == npos. A whole text's scan asks it at each colon of the
    // one pass that finds its marks (TextMarks), instead of find's pass over the text; find's matches
    // are those of every colon, in order.
    using ColonFinder = TextRange (*)(std::string_view text, std::size_t at);
    ColonFinder at_colon = nullptr;
};

// A built-in detector's definition. Policies may reassign its class but not change its pattern.
struct BuiltinDetector {
    std::string_view name;
    std::string_view default_class;
    std::string_view description;
    std::vector<BuiltinPattern> patterns;
    Validator validate = nullptr;
    Boundary boundary = Boundary::none;
    std::vector<std::string_view> context;   // lower-case words that raise confidence
    bool (*may_contain)(char) = nullptr;      // characters a match can contain (for streamed output)
    std::string_view may_begin;               // characters a match can begin with
    std::string_view literal_prefix;          // every match starts with this, when non-empty
    Expander expand = nullptr;                // null: the pattern match is the value
    std::size_t max_length = 0;               // longest value after expansion (0: the pattern's own width)
    bool fallback = false;                    // a catch-all that gives way to specific detectors
    Straddle straddle = nullptr;              // null: the run of may_contain characters decides
};

const std::vector<BuiltinDetector>& builtin_detectors();

// True when the characters around [begin, end) in text do not extend the candidate into a longer token.
bool stands_alone(Boundary boundary, std::string_view text, std::size_t begin, std::size_t end);

}  // namespace sovereign::policy

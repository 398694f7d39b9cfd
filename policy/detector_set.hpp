#pragma once
// All detectors of one policy compiled into a single vectorscan database, scanned in one pass per text.

#include <hs/hs.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "policy/builtin_detectors.hpp"
#include "policy/byte_runs.hpp"
#include "policy/context_words.hpp"
#include "policy/encoded_text.hpp"

namespace sovereign::policy {

// One detector as the policy uses it: built-in or custom, with the class its findings raise data to.
struct DetectorSpec {
    struct Pattern {
        std::string regex;
        unsigned flags = 0;          // vectorscan flags besides SOM_LEFTMOST (CASELESS, UTF8)
        bool needs_context = false;  // only counts when a context word is near
        bool digit_dense = false;    // see BuiltinPattern::digit_dense
        bool whole_runs = false;     // see BuiltinPattern::whole_runs
        Validator validate = nullptr;  // see BuiltinPattern::validate
        Expander expand = nullptr;     // see BuiltinPattern::expand
        Finder find = nullptr;         // see BuiltinPattern::find
        DigitRunFinder find_at_digits = nullptr;  // see BuiltinPattern::find_at_digits
        bool letter_beside_run = false;           // see BuiltinPattern::letter_beside_run
        DigitRunFinder anchor_at_digits = nullptr;  // see BuiltinPattern::anchor_at_digits
        BuiltinPattern::ColonFinder at_colon = nullptr;  // see BuiltinPattern::at_colon
    };
    std::string name;
    int class_level = 0;
    bool builtin = false;
    std::string description;
    std::vector<Pattern> patterns;
    Validator validate = nullptr;
    Boundary boundary = Boundary::none;
    std::vector<std::string> context;        // lower-case words
    std::array<bool, 256> may_contain{};      // characters a value can contain, when known
    bool may_contain_known = false;          // false: any character (custom regular expressions)
    std::string may_begin;                   // characters a value can begin with; empty: any
    std::string literal_prefix;
    Expander expand = nullptr;
    std::size_t max_length = 0;
    bool fallback = false;  // gives way to any other detector confirming the same text
    Straddle straddle = nullptr;
    int line = 0;
    int column = 0;
};

// A confirmed finding: bytes [begin, end) of the scanned text.
struct Detection {
    std::size_t detector = 0;
    std::size_t begin = 0;
    std::size_t end = 0;
    bool context_found = false;
};

// A pattern that vectorscan refused, with its reason, for lint to place at the detector's line.
struct PatternProblem {
    std::size_t detector = 0;
    std::string message;
};

// Why a scan could not complete; the caller must fail closed.
struct ScanFailure {
    std::string detector;  // the detector involved, or "scanner"
    std::string message;
};

// Longest match a detector's pattern may have: bounds what streamed output must hold back.
inline constexpr std::size_t max_pattern_width = 8192 + 256;
// A scan that finds more than this is refused rather than allowed to grow without bound.
inline constexpr std::size_t max_detections_per_scan = 100000;

// The compiled database plus the detectors it serves. Immutable and safe to share between threads.
class DetectorSet {
public:
    // Compiles every pattern; on any refusal returns null and fills problems.
    static std::unique_ptr<const DetectorSet> compile(std::vector<DetectorSpec> detectors,
                                                      std::vector<PatternProblem>& problems);
    ~DetectorSet();
    DetectorSet(const DetectorSet&) = delete;
    DetectorSet& operator=(const DetectorSet&) = delete;

    // Finds detections in text that begin at or after `from`; the bytes before it only serve as context.
    // Detections come back sorted by begin, with duplicates and contained findings removed.
    // Returns false (and fills failure) if vectorscan or a validator failed.
    // With `awaiting_context`, text that goes on beyond what was received (a streamed answer): set to
    // the earliest begin of a value that lacks only a context word that could still follow it.
    [[nodiscard]] bool scan(std::string_view text, std::size_t from, std::vector<Detection>& out,
                            ScanFailure& failure, std::size_t* awaiting_context = nullptr) const;

    // The same scan with the digit-dense patterns run over the whole text instead of in windows around
    // triggers: slower, and the reference the windowed scan must agree with (tests, benchmarks).
    [[nodiscard]] bool scan_whole_text(std::string_view text, std::size_t from, std::vector<Detection>& out,
                                       ScanFailure& failure) const;

    const std::vector<DetectorSpec>& detectors() const { return detectors_; }
    std::size_t max_width(std::size_t detector) const { return max_widths_[detector]; }
    std::size_t widest() const { return widest_; }  // the largest max_width of all detectors
    // For a streamed answer's hold-back (ResponseScanner): the bytes a detector's value may hold, and
    // those it may begin with (where its may_begin says), look-alikes' bytes included in both
    // (lookalike_fold.hpp), each one table.
    const ByteClass& value_bytes(std::size_t detector) const { return value_bytes_[detector]; }
    const ByteClass& value_start_bytes(std::size_t detector) const { return value_start_bytes_[detector]; }
    // Index of a detector by name, or npos.
    std::size_t find(std::string_view name) const;

private:
    DetectorSet() = default;
    enum class DensePass { windows, whole_text };
    // `nested`: the scan of text decoded from a base64 or hex run or unescaped, which decodes nothing further.
    // `marks`: those of `text` (TextMarks), or null (a scan that is not nested then finds them itself).
    bool scan(std::string_view text, std::size_t from, std::vector<Detection>& out, ScanFailure& failure,
              DensePass dense_pass, std::size_t* awaiting_context, bool nested = false,
              const TextMarks* marks = nullptr) const;
    bool scan_with_tags(std::string_view text, std::size_t from, std::vector<Detection>& out, ScanFailure& failure,
                        DensePass dense_pass, std::size_t* awaiting_context) const;
    void keep_one_per_place(std::vector<Detection>& out) const;
    bool scan_folded(std::string_view text, std::size_t from, std::vector<Detection>& out, ScanFailure& failure,
                     DensePass dense_pass, std::size_t* awaiting_context, bool nested,
                     const TextMarks* marks = nullptr) const;

    struct PatternRef {
        std::size_t detector;
        bool needs_context;
        bool wrapped;  // digit-dense: matched with one boundary character on each side
        bool anchor;   // digit-dense with an expander: wrapped on its left only
        // Reported once per scan (see BuiltinPattern::whole_runs); its start is end - width.
        bool whole_runs;
        std::size_t width;
        Validator validate;  // the pattern's own, else the detector's
        Expander expand;     // the pattern's own, else the detector's; null: the match is the value
    };
    std::vector<DetectorSpec> detectors_;
    std::vector<ContextWords> context_words_;  // by detector
    std::vector<PatternRef> patterns_;  // by vectorscan id, across both databases
    std::vector<std::size_t> max_widths_;
    std::size_t widest_ = 0;
    // The database scanned over the whole text: every pattern but the digit-dense ones. Those are in a
    // database of their own, run only in windows around chains of digits (for_each_digit_chain): prose
    // has few such places, and those character-class-only patterns are what costs time.
    hs_database_t* full_text_database_ = nullptr;
    hs_database_t* end_database_ = nullptr;  // patterns that can match at the end of a text ($): unpadded
    hs_database_t* dense_database_ = nullptr;
    // Many digit-dense patterns only count next to a context word (a date next to "born", nine digits
    // next to "BSN"): a window with none of their words near it is scanned without them. That is the
    // bulk of the digit-dense database, and of the time text full of numbers (log lines) takes.
    bool has_context_only_dense_ = false;
    std::vector<std::size_t> anchors_at_digits_;  // the found patterns whose matches come from the pass over the digits
    hs_database_t* dense_without_context_only_ = nullptr;  // null: no pattern needs no context word
    ContextWords dense_context_words_;  // the words of every detector with a context-only dense pattern
    // The whole-runs patterns are found without vectorscan: each is one character class repeated a
    // fixed number of times, and as a vectorscan pattern it cost more than all the others together
    // (about 180 ns a scan before the first byte, measured on prose). A run is reported as vectorscan
    // would report the pattern: once, at the end of its first window.
    struct RunsPattern {
        unsigned id;                 // in patterns_
        std::size_t width;           // the shortest run reported
        ByteClass chars;             // the class, as vectorscan matches it (probed when compiled)
    };
    std::vector<RunsPattern> runs_patterns_;
    // Patterns found by their own finder (BuiltinPattern::find), not by vectorscan, or at the runs of
    // the pass over a text's digits (BuiltinPattern::anchor_at_digits): then collected in that pass and
    // reported here, in the same order as the other found patterns' matches.
    struct FoundPattern {
        unsigned id;   // in patterns_
        Finder find;
        DigitRunFinder at_digits;  // instead of find, where not null
        BuiltinPattern::ColonFinder at_colon;  // with find: asked at each colon of a whole text's marks
    };
    std::vector<FoundPattern> found_patterns_;
    // Patterns found at the runs of the pass over a text's digits (BuiltinPattern::find_at_digits).
    struct DigitRunPattern {
        unsigned id;   // in patterns_
        DigitRunFinder find;
        bool letter_beside;  // only for runs with a letter beside them (BuiltinPattern::letter_beside_run)
    };
    std::vector<DigitRunPattern> digit_run_patterns_;
    // Those of digit_run_patterns_ asked about every run (not letter_beside), in their order: a run with
    // no letter beside it, most runs, walks only these.
    std::vector<DigitRunPattern> digit_run_patterns_any_run_;
    std::size_t dense_reach_ = 0;  // longest digit-dense match (or value, for an anchor)
    std::array<bool, 256> dense_chars_{};  // characters a digit-dense match may contain
    std::vector<ByteClass> value_bytes_;        // per detector: may_contain or a look-alike's byte
    std::vector<ByteClass> value_start_bytes_;  // per detector: may_begin or a look-alike's byte
    // Where the digit-dense database must run for a chain of digits reported at trigger_end.
    TextRange dense_window(std::string_view text, std::size_t trigger_end) const;
    std::uint64_t id_ = 0;  // identifies this database to per-thread scratch space
};

}  // namespace sovereign::policy

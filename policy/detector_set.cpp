#include "policy/detector_set.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>
#include <optional>

#include "policy/encoded_text.hpp"
#include "policy/inline_markup.hpp"
#include "policy/lookalike_fold.hpp"
#include "policy/utf8.hpp"

namespace sovereign::policy {

namespace {

// Starting a scan costs about as much as scanning a hundred bytes of digits: windows closer than that
// are scanned as one.
constexpr std::size_t window_merge_gap = 64;
// vectorscan 5.4.9 (Debian 12's) does not report some matches that end in the last bytes of a text
// longer than 64 bytes: `\+[1-9]` compiled alone missed the "+4" that ended one random text in six,
// the IPv4 form an address in one in thirteen, and among other patterns, depending on which, less
// often. With this many zero bytes after the text it reported every one, so each text is scanned
// padded; a match that reaches into the padding is not one of the text's and is dropped, and the
// patterns that can match at the end of a text ($) are scanned once more without it (end_database_).
constexpr std::size_t scan_padding = 64;

std::atomic<std::uint64_t> next_database_id{1};

// vectorscan scratch space is per thread; it is grown to fit each database the thread scans with.
struct ThreadScratch {
    hs_scratch_t* scratch = nullptr;
    std::uint64_t fitted_to = 0;
    ~ThreadScratch() {
        if (scratch != nullptr) hs_free_scratch(scratch);
    }
};
thread_local ThreadScratch thread_scratch;

// A digit-dense pattern runs wrapped in one character on each side that its detector's boundary
// allows next to a value: vectorscan then reports only ends where a value can stop, rather than
// every prefix of a long number, and that is most of what a scan of digits costs.
// Empty: the boundary cannot be expressed as a character class, and the pattern is not digit-dense.
std::string_view boundary_class(Boundary boundary) {
    switch (boundary) {
        case Boundary::digit:
        case Boundary::digit_group:
            return "[^0-9]";
        case Boundary::alnum:
            return "[^0-9A-Za-z]";
        default:
            return {};
    }
}

int ignore_match(unsigned, unsigned long long, unsigned long long, unsigned, void*) { return 1; }

// Whether byte i of the unescaped text was written by an escape of the original: it is not the one
// byte that stands at its place there.
bool written_by_escape(std::string_view original, const UnescapedText& u, std::size_t i) {
    return u.source[i + 1] != u.source[i] + 1 || original[u.source[i]] != u.text[i];
}

// The finding d of an unescaped region widened by the character on either side of it that an escape
// wrote, where one did; d's own span where none did, and where d touches an edge at which the region
// cut into a word: the region's reading of the value itself may be cut short there.
TextRange escapes_beside(std::string_view original, const UnescapedText& u, const Detection& d, RegionCuts cuts) {
    TextRange widened{d.begin, d.end};
    if ((d.begin == 0 && cuts.before) || (d.end == u.text.size() && cuts.after)) return widened;
    if (d.begin > 0 && written_by_escape(original, u, d.begin - 1)) {
        widened.begin = d.begin - 1;
        while (widened.begin > 0 && u.source[widened.begin - 1] == u.source[widened.begin]) --widened.begin;
    }
    if (d.end < u.text.size() && written_by_escape(original, u, d.end)) {
        widened.end = d.end + 1;
        while (widened.end < u.text.size() && u.source[widened.end] == u.source[d.end]) ++widened.end;
    }
    return widened;
}

// The characters a whole-runs pattern (one class repeated `width` times) accepts: those that match it
// written `width` times over. Empty if vectorscan cannot compile or scan it.
std::optional<std::array<bool, 256>> probe_run_class(const std::string& regex, unsigned flags, std::size_t width) {
    hs_database_t* database = nullptr;
    hs_compile_error_t* error = nullptr;
    if (hs_compile(regex.c_str(), flags, HS_MODE_BLOCK, nullptr, &database, &error) != HS_SUCCESS) {
        hs_free_compile_error(error);
        return std::nullopt;
    }
    hs_scratch_t* scratch = nullptr;
    std::optional<std::array<bool, 256>> chars;
    if (hs_alloc_scratch(database, &scratch) == HS_SUCCESS) {
        chars.emplace();
        for (std::size_t c = 0; c < 256 && chars; ++c) {
            const std::string probe(width, static_cast<char>(c));
            const hs_error_t result = hs_scan(database, probe.data(), static_cast<unsigned>(probe.size()), 0, scratch,
                                              ignore_match, nullptr);
            if (result == HS_SCAN_TERMINATED) (*chars)[c] = true;
            else if (result != HS_SUCCESS) chars.reset();
        }
        hs_free_scratch(scratch);
    }
    hs_free_database(database);
    return chars;
}

}  // namespace

std::unique_ptr<const DetectorSet> DetectorSet::compile(std::vector<DetectorSpec> detectors,
                                                        std::vector<PatternProblem>& problems) {
    std::unique_ptr<DetectorSet> set(new DetectorSet());
    struct Group {
        std::vector<std::string> expressions;
        std::vector<unsigned> flags;
        std::vector<unsigned> ids;
    };
    Group general;
    Group at_end;  // general patterns that can match at the end of the text ($, a trailing \b), again unpadded
    Group dense;
    Group dense_without_context_only;
    std::vector<std::string> dense_context_words;
    set->max_widths_.assign(detectors.size(), 0);
    for (std::size_t d = 0; d < detectors.size(); ++d) {
        for (const auto& pattern : detectors[d].patterns) {
            unsigned pattern_flags = pattern.flags | HS_FLAG_SOM_LEFTMOST;
            hs_expr_info_t* info = nullptr;
            hs_compile_error_t* error = nullptr;
            // Compiling each expression alone first gives a reason that names the detector at fault.
            if (hs_expression_info(pattern.regex.c_str(), pattern_flags, &info, &error) != HS_SUCCESS) {
                problems.push_back({d, std::string("vectorscan cannot compile the pattern: ") +
                                           (error != nullptr ? error->message : "unknown error")});
                hs_free_compile_error(error);
                continue;
            }
            const unsigned width = info->max_width;
            const unsigned min_width = info->min_width;
            const bool matches_at_end = info->matches_at_eod != 0;
            std::free(info);
            if (min_width == 0) {
                problems.push_back({d, "the pattern can match empty text; it must match at least one character"});
                continue;
            }
            if (width > max_pattern_width) {
                problems.push_back({d, "the pattern can match text of unbounded or very long length; bound its "
                                       "repeats (for example [0-9]{4,12} instead of [0-9]+) to at most " +
                                           std::to_string(max_pattern_width) + " characters"});
                continue;
            }
            set->max_widths_[d] = std::max({set->max_widths_[d], static_cast<std::size_t>(width),
                                            detectors[d].max_length});
            // A whole-runs pattern must have a fixed width (its start is end - width) and an expander.
            const Expander expand = pattern.expand != nullptr ? pattern.expand : detectors[d].expand;
            const bool whole_runs = pattern.whole_runs && width == min_width && expand != nullptr;
            const std::string_view wrap = boundary_class(detectors[d].boundary);
            const bool digit_dense = pattern.digit_dense && !wrap.empty() && !whole_runs;
            Group& group = digit_dense ? dense : general;
            // A digit-dense anchor is the start of a value its expander completes: wrapped on its left only.
            const bool anchor = digit_dense && expand != nullptr;
            if (digit_dense) {
                set->dense_reach_ = std::max<std::size_t>({set->dense_reach_, width, anchor ? detectors[d].max_length : 0});
                for (std::size_t ch = 0; ch < 256; ++ch)
                    set->dense_chars_[ch] = set->dense_chars_[ch] || !detectors[d].may_contain_known ||
                                            detectors[d].may_contain[ch];
            }
            group.ids.push_back(static_cast<unsigned>(set->patterns_.size()));
            // A finder at runs of digits returns whole values (DigitRunFinder): no expander completes them.
            const bool at_digits = pattern.find_at_digits != nullptr && !digit_dense;
            set->patterns_.push_back({d, pattern.needs_context, digit_dense, anchor, whole_runs, width,
                                      pattern.validate != nullptr ? pattern.validate : detectors[d].validate,
                                      at_digits ? nullptr : expand});
            if (whole_runs) {
                std::optional<std::array<bool, 256>> chars = probe_run_class(pattern.regex, pattern.flags, width);
                if (!chars || std::none_of(chars->begin(), chars->end(), [](bool in) { return in; })) {
                    problems.push_back({d, "a whole-runs pattern must be one character class repeated a fixed "
                                           "number of times"});
                    continue;
                }
                set->runs_patterns_.push_back({group.ids.back(), width, ByteClass(*chars)});
                group.ids.pop_back();
                continue;
            }
            if (at_digits) {
                set->digit_run_patterns_.push_back(
                    {group.ids.back(), pattern.find_at_digits, pattern.letter_beside_run});
                if (!pattern.letter_beside_run) set->digit_run_patterns_any_run_.push_back(set->digit_run_patterns_.back());
                group.ids.pop_back();
                continue;
            }
            if ((pattern.find != nullptr || pattern.anchor_at_digits != nullptr) && !digit_dense) {
                set->found_patterns_.push_back({group.ids.back(), pattern.find, pattern.anchor_at_digits, pattern.at_colon});
                if (pattern.anchor_at_digits != nullptr) set->anchors_at_digits_.push_back(set->found_patterns_.size() - 1);
                group.ids.pop_back();
                continue;
            }
            group.expressions.push_back(digit_dense ? std::string(wrap) + "(?:" + pattern.regex + ")" +
                                                          (anchor ? std::string() : std::string(wrap))
                                                    : pattern.regex);
            group.flags.push_back(pattern_flags);
            if (matches_at_end && !digit_dense) {
                // Also scanned unpadded, for $ (which cannot match before the padding). The padded scan
                // stays: a trailing \b reads the padding's zero byte as the end of the text, and there
                // vectorscan reported what it missed unpadded (a custom `\bP[0-9]{6}\b` missed two in
                // three values ending a text). The unpadded scan keeps only matches at the very end, and
                // a value both scans find there is kept once (see the end of scan()).
                at_end.ids.push_back(group.ids.back());
                at_end.expressions.push_back(group.expressions.back());
                at_end.flags.push_back(pattern_flags);
            }
            if (digit_dense && pattern.needs_context) {
                set->has_context_only_dense_ = true;
                dense_context_words.insert(dense_context_words.end(), detectors[d].context.begin(),
                                           detectors[d].context.end());
            } else if (digit_dense) {
                dense_without_context_only.ids.push_back(group.ids.back());
                dense_without_context_only.expressions.push_back(group.expressions.back());
                dense_without_context_only.flags.push_back(pattern_flags);
            }
        }
    }
    if (!problems.empty()) return nullptr;
    for (const std::size_t width : set->max_widths_) set->widest_ = std::max(set->widest_, width);
    // A policy may use no detector at all (rules on tenants and models only): its set finds nothing.
    auto build = [&](const Group& group, hs_database_t** database) {
        std::vector<const char*> pointers;
        for (const auto& e : group.expressions) pointers.push_back(e.c_str());
        hs_compile_error_t* error = nullptr;
        if (hs_compile_multi(pointers.data(), group.flags.data(), group.ids.data(),
                             static_cast<unsigned>(pointers.size()), HS_MODE_BLOCK, nullptr, database,
                             &error) == HS_SUCCESS)
            return true;
        std::size_t at = 0;
        if (error != nullptr && error->expression >= 0) {
            const unsigned id = group.ids[static_cast<std::size_t>(error->expression)];
            if (id < set->patterns_.size()) at = set->patterns_[id].detector;
        }
        problems.push_back({at, std::string("vectorscan cannot compile the detector database: ") +
                                    (error != nullptr ? error->message : "unknown error")});
        hs_free_compile_error(error);
        return false;
    };
    if (!general.expressions.empty() && !build(general, &set->full_text_database_)) return nullptr;
    if (!at_end.expressions.empty() && !build(at_end, &set->end_database_)) return nullptr;
    if (!dense.expressions.empty() && !build(dense, &set->dense_database_)) return nullptr;
    if (set->has_context_only_dense_ && !dense_without_context_only.expressions.empty() &&
        !build(dense_without_context_only, &set->dense_without_context_only_))
        return nullptr;
    set->dense_context_words_ = ContextWords(dense_context_words);
    set->context_words_.reserve(detectors.size());
    for (const auto& detector : detectors) set->context_words_.emplace_back(detector.context);
    for (const auto& detector : detectors) {
        std::array<bool, 256> value{}, start{};
        for (unsigned c = 0; c < 256; ++c) {
            const bool lookalike = lookalike_byte(static_cast<unsigned char>(c));
            value[c] = detector.may_contain[c] || lookalike;
            start[c] = detector.may_begin.find(static_cast<char>(c)) != std::string::npos || lookalike;
        }
        set->value_bytes_.emplace_back(value);
        set->value_start_bytes_.emplace_back(start);
    }
    set->detectors_ = std::move(detectors);
    set->id_ = next_database_id.fetch_add(1);
    return set;
}

DetectorSet::~DetectorSet() {
    if (full_text_database_ != nullptr) hs_free_database(full_text_database_);
    if (end_database_ != nullptr) hs_free_database(end_database_);
    if (dense_database_ != nullptr) hs_free_database(dense_database_);
    if (dense_without_context_only_ != nullptr) hs_free_database(dense_without_context_only_);
}

TextRange DetectorSet::dense_window(std::string_view text, std::size_t trigger_end) const {
    // The place ends one character after a digit of the match (or at the end of the text), so the match
    // lies within reach of that digit on either side; and it consists of characters the digit-dense
    // detectors may contain, so the window stops at the first other character.
    const std::size_t digit = trigger_end >= 2 ? trigger_end - 2 : 0;
    const std::size_t floor = digit > dense_reach_ ? digit - dense_reach_ : 0;
    const std::size_t ceiling = std::min(text.size(), trigger_end + dense_reach_);
    std::size_t lo = trigger_end > 0 ? trigger_end - 1 : 0;
    while (lo > floor && dense_chars_[static_cast<unsigned char>(text[lo - 1])]) --lo;
    std::size_t hi = trigger_end;
    while (hi < ceiling && dense_chars_[static_cast<unsigned char>(text[hi])]) ++hi;
    return {lo, hi};
}

std::size_t DetectorSet::find(std::string_view name) const {
    for (std::size_t i = 0; i < detectors_.size(); ++i)
        if (detectors_[i].name == name) return i;
    return static_cast<std::size_t>(-1);
}

bool DetectorSet::scan(std::string_view text, std::size_t from, std::vector<Detection>& out,
                       ScanFailure& failure, std::size_t* awaiting_context) const {
    return scan_with_tags(text, from, out, failure, DensePass::windows, awaiting_context);
}

bool DetectorSet::scan_whole_text(std::string_view text, std::size_t from, std::vector<Detection>& out,
                                  ScanFailure& failure) const {
    return scan_with_tags(text, from, out, failure, DensePass::whole_text, nullptr);
}

// Text with HTML tags is read a second time as it is shown (policy/inline_markup.hpp), and a value
// found there over a run of tags is a finding over the characters that wrote it. What the text as
// written holds stays found (an address in a link's href, which the shown text leaves out).
bool DetectorSet::scan_with_tags(std::string_view text, std::size_t from, std::vector<Detection>& out,
                                 ScanFailure& failure, DensePass dense_pass, std::size_t* awaiting_context) const {
    // One pass over the text finds the bytes the scan looks for one at a time: the tags' '<' (below),
    // and where the text is scanned as it is (no look-alike to fold), the IPv6 anchors' ':' and the
    // escape marks.
    thread_local TextMarks marks;
    marks.find(text);
    if (!scan_folded(text, from, out, failure, dense_pass, awaiting_context, false, &marks)) return false;
    thread_local UnescapedText shown;
    if (!read_without_tags(text, shown, &marks.tags())) return true;
    thread_local std::vector<Detection> found;
    std::size_t awaiting = shown.text.size();
    if (!scan_folded(shown.text, unescaped_offset(shown, from), found, failure, dense_pass,
                     awaiting_context != nullptr ? &awaiting : nullptr, false))
        return false;
    if (awaiting < shown.text.size()) *awaiting_context = std::min(*awaiting_context, shown.source[awaiting]);
    const std::size_t plain = out.size();
    for (const Detection& d : found) {
        const std::size_t begin = shown.source[d.begin];
        // A value ends on a character of its own, never on the blank a run of tags reads as.
        const std::size_t end = shown.text[d.end - 1] != ' ' ? shown.source[d.end - 1] + 1 : shown.source[d.end];
        if (end - begin != d.end - d.begin) out.push_back({d.detector, begin, end, d.context_found});
    }
    if (out.size() > plain) keep_one_per_place(out);
    return true;
}

// Text with look-alike characters is scanned as its ASCII fold, and what is found there is placed
// on the original bytes (policy/lookalike_fold.hpp); other text is scanned as it is. Text decoded
// from escapes or base64 is folded too (a no-break space written "\u00a0" or "%C2%A0", a fullwidth
// digit written "&#xFF14;"): a nested scan runs while the outer scan still reads its own folded
// text, so each level folds into a buffer of its own.
bool DetectorSet::scan_folded(std::string_view text, std::size_t from, std::vector<Detection>& out,
                              ScanFailure& failure, DensePass dense_pass, std::size_t* awaiting_context,
                              bool nested, const TextMarks* marks) const {
    thread_local FoldedText folded_outer;
    thread_local FoldedText folded_nested;
    FoldedText& folded = nested ? folded_nested : folded_outer;
    if (!fold_lookalikes(text, folded)) return scan(text, from, out, failure, dense_pass, awaiting_context, nested, marks);
    std::size_t awaiting = folded.text.size();
    if (!scan(folded.text, folded.folded_offset(from), out, failure, dense_pass,
              awaiting_context != nullptr ? &awaiting : nullptr, nested))
        return false;
    for (Detection& d : out) {
        d.begin = folded.original_offset(d.begin);
        d.end = folded.original_offset(d.end);
    }
    if (awaiting_context != nullptr && awaiting < folded.text.size())
        *awaiting_context = std::min(*awaiting_context, folded.original_offset(awaiting));
    return true;
}

bool DetectorSet::scan(std::string_view text, std::size_t from, std::vector<Detection>& out, ScanFailure& failure,
                       DensePass dense_pass, std::size_t* awaiting_context, bool nested,
                       const TextMarks* marks) const {
    out.clear();
    // The marks of a text scanned whole (its look-alike fold, or text read without its tags, gets its
    // own); a nested scan asks nothing about escapes and finds its colons by memchr.
    thread_local TextMarks own_marks;
    if (marks == nullptr && !nested) {
        own_marks.find(text);
        marks = &own_marks;
    }
    if (text.size() > 0xFFFFFFFFu) {
        failure = {"scanner", "text of " + std::to_string(text.size()) + " bytes is larger than one scan allows"};
        return false;
    }
    if (thread_scratch.fitted_to != id_) {
        bool allocated = true;
        for (auto* database : {full_text_database_, end_database_, dense_database_, dense_without_context_only_})
            allocated = allocated && (database == nullptr ||
                                      hs_alloc_scratch(database, &thread_scratch.scratch) == HS_SUCCESS);
        if (!allocated) {
            failure = {"scanner", "vectorscan could not allocate scratch space"};
            return false;
        }
        thread_scratch.fitted_to = id_;
    }

    // A match found at a run of digits, reported once the pass is over (id: the pattern's in patterns_,
    // or for an anchor, the found pattern's in found_patterns_).
    struct RunMatch {
        unsigned id;
        TextRange range;
    };
    // Working memory, kept per thread so that a scan allocates nothing once warm.
    struct Work {
        std::vector<std::size_t> per_detector;  // end of the last expanded value
        std::vector<TextRange> windows;         // where digit-dense patterns must run
        std::string window_text;                // a window with the character on each side of it, padded
        std::string padded;                     // the text, padded (scan_padding)
        std::vector<TextRange> encoded_runs;    // runs of base64 characters met by the full-text scan
        std::vector<RunMatch> anchors;          // found patterns' anchors at runs of digits
        std::vector<RunMatch> run_matches;      // values found at runs of digits
    };
    thread_local Work work;
    work.per_detector.assign(detectors_.size(), 0);
    work.windows.clear();
    if (!nested) work.encoded_runs.clear();
    struct Context {
        const DetectorSet* set;
        std::string_view text;
        std::size_t from;
        std::vector<Detection>* out;
        ScanFailure* failure;
        std::vector<std::size_t>& expanded_to;
        std::vector<TextRange>& windows;
        std::size_t offset;  // where the scanned bytes start in text
        std::size_t runs_resume;  // where the search for the next whole run starts; npos: not set
        std::size_t* awaiting_context;
        std::vector<TextRange>* encoded_runs;  // runs of base64 characters to decode; null when nested
        std::size_t scanned = std::string_view::npos;  // the scanned bytes' length without the padding
        std::size_t ends_from = 0;  // matches ending before this were found already (the unpadded scan)
    } context{this, text, from, &out, &failure, work.per_detector, work.windows, 0, std::string_view::npos,
              awaiting_context, nested ? nullptr : &work.encoded_runs};

    auto on_match = [](unsigned id, unsigned long long start, unsigned long long end, unsigned, void* raw) -> int {
        auto& c = *static_cast<Context*>(raw);
        if (end > c.scanned || end < c.ends_from) return 0;  // reaches into the padding, or found padded
        const PatternRef& pattern = c.set->patterns_[id];
        const DetectorSpec& detector = c.set->detectors_[pattern.detector];
        // A wrapped pattern's match holds one character more on each side (an anchor: on its left); its
        // window text begins one character before the window (see the dense pass below).
        auto stop = static_cast<std::size_t>(end) + c.offset - (pattern.wrapped ? (pattern.anchor ? 1 : 2) : 0);
        auto begin = pattern.whole_runs ? stop - pattern.width : static_cast<std::size_t>(start) + c.offset;
        std::size_t unexpanded_to = 0;  // what expanded_to was before this value
        if (pattern.expand != nullptr) {
            // Every anchor inside an already expanded value leads to the same value.
            std::size_t& expanded_to = c.expanded_to[pattern.detector];
            if (begin < expanded_to) return 0;
            const TextRange range = pattern.expand(c.text, begin, stop);
            if (range.end <= range.begin) return 0;
            begin = range.begin;
            stop = range.end;
            unexpanded_to = expanded_to;
            expanded_to = stop;
        }
        // Reported once per scan: the next run can only start after this one, and is looked for there.
        if (pattern.whole_runs) {
            c.runs_resume = stop;
            if (c.encoded_runs != nullptr && begin >= c.from && stop - begin >= min_encoded_run) {
                std::size_t padded = stop;  // the run with its padding, so that a finding covers both
                while (padded < c.text.size() && padded - stop < 2 && c.text[padded] == '=') ++padded;
                c.encoded_runs->push_back({begin, padded});
            }
        }
        if (begin < c.from) return 0;
        if (!stands_alone(detector.boundary, c.text, begin, stop)) {
            // Part of a longer token, it hides no value inside it: a card number completed over a line
            // break into the next line's groups must leave the number that line holds to its own anchor.
            if (pattern.expand != nullptr) c.expanded_to[pattern.detector] = unexpanded_to;
            return 0;
        }
        try {
            if (pattern.validate != nullptr && !pattern.validate(c.text.substr(begin, stop - begin))) return 0;
            const ContextWords& words = c.set->context_words_[pattern.detector];
            const bool context_found = words.near(c.text, begin, stop);
            if (pattern.needs_context && !context_found) {
                if (c.awaiting_context != nullptr && words.may_follow(c.text, stop))
                    *c.awaiting_context = std::min(*c.awaiting_context, begin);
                return 0;
            }
            if (c.out->size() >= max_detections_per_scan) {
                *c.failure = {detector.name, "more than " + std::to_string(max_detections_per_scan) +
                                                 " findings in one text"};
                return 1;
            }
            c.out->push_back({pattern.detector, begin, stop, context_found});
        } catch (const std::exception& e) {
            *c.failure = {detector.name, std::string("validator failed: ") + e.what()};
            return 1;
        }
        return 0;
    };

    // `bytes` holds `length` bytes to scan and the padding after them, if any.
    auto run = [&](hs_database_t* database, std::string_view bytes, std::size_t length, std::size_t offset) {
        context.offset = offset;
        context.scanned = length;
        const hs_error_t result = hs_scan(database, bytes.data(), static_cast<unsigned>(bytes.size()), 0,
                                          thread_scratch.scratch, on_match, &context);
        context.scanned = std::string_view::npos;
        if (result == HS_SCAN_TERMINATED) return false;
        if (result != HS_SUCCESS) {
            failure = {"scanner", "vectorscan scan failed with error " + std::to_string(result)};
            return false;
        }
        return true;
    };
    if (full_text_database_ != nullptr) {
        work.padded.assign(text);
        work.padded.append(scan_padding, '\0');
        if (!run(full_text_database_, work.padded, text.size(), 0)) return false;
    }
    if (end_database_ != nullptr) {
        // Only what ends at the end of the text, or before a newline that ends it ($): the padded
        // scan found the rest, and each finding is validated once.
        context.ends_from = text.empty() ? 0 : text.size() - 1;
        const bool ran = run(end_database_, text, text.size(), 0);
        context.ends_from = 0;
        if (!ran) return false;
    }
    // Each run is reported once, at the end of its first window; the next is looked for after what the
    // report took the run to be (its expansion), or else after the run.
    for (const RunsPattern& runs : runs_patterns_) {
        std::size_t at = 0;
        while ((at = find_run(text, at, runs.chars, runs.width)) != std::string_view::npos) {
            context.offset = 0;
            context.runs_resume = std::string_view::npos;
            if (on_match(runs.id, at, at + runs.width, 0, &context) != 0) return false;
            if (context.runs_resume != std::string_view::npos) {
                at = std::max(context.runs_resume, at + 1);
            } else {
                at += runs.width;
                while (at < text.size() && runs.chars.contains(text[at])) ++at;
            }
        }
    }
    // The pass over the digits comes first: it gives the runs at which some found patterns' anchors
    // are, and the windows. What it finds is reported after the found patterns, in the order the
    // patterns are reported when each makes a pass of its own.
    work.anchors.clear();
    work.run_matches.clear();
    const auto letter = [](char c) { return (c | 0x20) >= 'a' && (c | 0x20) <= 'z'; };
    const auto letter_beside = [&](std::size_t begin, std::size_t end) {
        if (begin > 0 && (letter(text[begin - 1]) || text[begin - 1] == '-')) return true;
        if (end < text.size() && (letter(text[end]) || text[end] == '-')) return true;
        // A letter alone after a blank: the last of "ab 12 34 56 c".
        const auto alone = [&](std::size_t at) {
            return at == text.size() || !(letter(text[at]) || (text[at] >= '0' && text[at] <= '9'));
        };
        return end + 1 < text.size() && (text[end] == ' ' || text[end] == '\t') && letter(text[end + 1]) && alone(end + 2);
    };
    std::vector<RunMatch>& anchors = work.anchors;  // not the thread-local `work` at every run
    std::vector<RunMatch>& run_matches = work.run_matches;
    const auto at_run = [&](std::size_t begin, std::size_t end) {
        for (const std::size_t f : anchors_at_digits_) {
            const TextRange anchor = found_patterns_[f].at_digits(text, begin, end);
            if (anchor.begin < text.size()) anchors.push_back({static_cast<unsigned>(f), anchor});
        }
        if (digit_run_patterns_.empty()) return;
        // Beside a letter every pattern is asked, else only those for any run: the same order either way.
        const std::vector<DigitRunPattern>& asked =
            letter_beside(begin, end) ? digit_run_patterns_ : digit_run_patterns_any_run_;
        for (const DigitRunPattern& pattern : asked) {
            const TextRange match = pattern.find(text, begin, end);
            if (match.begin >= text.size()) continue;
            run_matches.push_back({pattern.id, match});
        }
    };
    const bool at_runs = !digit_run_patterns_.empty() || !anchors_at_digits_.empty();
    const auto no_windows = [](std::size_t) {};
    if (dense_database_ != nullptr && dense_pass == DensePass::whole_text) {
        work.windows.assign(1, {0, text.size()});
        if (at_runs) for_each_digit_chain(text, no_windows, at_run);
    } else if (dense_database_ != nullptr) {
        const auto add_window = [&](std::size_t end) {
            const TextRange window = dense_window(text, end);
            if (!work.windows.empty() && window.begin <= work.windows.back().end + window_merge_gap)
                work.windows.back().end = std::max(work.windows.back().end, window.end);
            else work.windows.push_back(window);
        };
        if (!at_runs) for_each_digit_chain(text, add_window);
        else for_each_digit_chain(text, add_window, at_run);
    } else if (at_runs) {
        for_each_digit_chain(text, no_windows, at_run);
    }
    for (std::size_t f = 0; f < found_patterns_.size(); ++f) {
        const FoundPattern& found = found_patterns_[f];
        context.offset = 0;
        if (found.at_digits != nullptr) {
            for (const RunMatch& anchor : work.anchors)
                if (anchor.id == f && on_match(found.id, anchor.range.begin, anchor.range.end, 0, &context) != 0)
                    return false;
            continue;
        }
        if (found.at_colon != nullptr && marks != nullptr) {
            for (const std::size_t colon : marks->colons())
                if (const TextRange match = found.at_colon(text, colon); match.begin < text.size() &&
                    on_match(found.id, match.begin, match.end, 0, &context) != 0)
                    return false;
            continue;
        }
        for (TextRange match = found.find(text, 0); match.begin < text.size(); match = found.find(text, match.begin + 1))
            if (on_match(found.id, match.begin, match.end, 0, &context) != 0) return false;
    }
    // Values found at runs of digits.
    for (const RunMatch& match : work.run_matches) {
        context.offset = 0;
        if (on_match(match.id, match.range.begin, match.range.end, 0, &context) != 0) return false;
    }
    for (const auto& window : work.windows) {
        // A finding inside the window has its context words within ContextWords' reach of the window.
        // A streamed answer keeps every pattern: a word may still follow (awaiting_context).
        hs_database_t* database = dense_database_;
        if (has_context_only_dense_ && dense_pass == DensePass::windows && awaiting_context == nullptr &&
            !dense_context_words_.near(text, window.begin, window.end)) {
            database = dense_without_context_only_;
            if (database == nullptr) continue;  // every digit-dense pattern needs a context word
        }
        // A space stands for the character beyond either end of the text.
        work.window_text.assign(1, window.begin > 0 ? text[window.begin - 1] : ' ');
        work.window_text.append(text.substr(window.begin, window.end - window.begin));
        work.window_text.push_back(window.end < text.size() ? text[window.end] : ' ');
        const std::size_t length = work.window_text.size();
        work.window_text.append(scan_padding, '\0');
        if (!run(database, work.window_text, length, window.begin)) return false;
    }

    // A value a nested scan found, as a finding at [begin, end) of this text.
    const auto add_nested = [&](const Detection& d, std::size_t begin, std::size_t end) {
        if (out.size() >= max_detections_per_scan) {
            failure = {detectors_[d.detector].name,
                       "more than " + std::to_string(max_detections_per_scan) + " findings in one text"};
            return false;
        }
        out.push_back({d.detector, begin, end, d.context_found});
        return true;
    };

    // Text hidden in base64 or hex: each run that decodes to text is scanned, and a value found there is a
    // finding over the whole run. One level deep; the nested scans reuse this thread's working memory,
    // which this scan no longer needs but for the runs, taken out first.
    if (!nested && !work.encoded_runs.empty()) {
        const std::vector<TextRange> runs = std::move(work.encoded_runs);
        std::vector<Detection> inner;
        for (const TextRange& run : runs) {
            auto decoded = decode_encoded_text(text.substr(run.begin, run.end - run.begin));
            if (!decoded) continue;
            replace_ill_formed_utf8(*decoded);
            if (!scan_folded(*decoded, 0, inner, failure, DensePass::windows, nullptr, true)) return false;
            for (const Detection& d : inner)
                if (!add_nested(d, run.begin, run.end)) return false;
        }
    }

    // Text written with escapes (URLs, form data, HTML, JSON and code): the stretches around them are
    // scanned unescaped, and a value written with escapes found there is a finding over the characters
    // that wrote it.
    if (!nested) {
        const std::size_t found_plain = out.size();
        const EscapeMarks& escapes = marks->escapes();  // the one pass's, for every question about the text's escapes
        std::vector<TextRange> regions = escaped_regions(text, escapes);
        const std::size_t merged_regions = regions.size();
        std::vector<TextRange> own_regions;  // decided again alone, after the merged ones: see last_escape_region
        std::vector<Detection> inner;
        for (std::size_t r = 0; r < regions.size(); ++r) {
            const TextRange region = regions[r];
            const bool merged = r < merged_regions;
            const std::string_view written = text.substr(region.begin, region.end - region.begin);
            UnescapedText unescaped = unescape_text(written);
            replace_ill_formed_utf8(unescaped.text);
            const RegionCuts cuts = region_cuts(text, region);
            std::size_t awaiting = unescaped.text.size();
            if (!scan_folded(unescaped.text, 0, inner, failure, DensePass::windows,
                             awaiting_context != nullptr ? &awaiting : nullptr, true))
                return false;
            if (awaiting < unescaped.text.size() && region.begin + unescaped.source[awaiting] >= from)
                *awaiting_context = std::min(*awaiting_context, region.begin + unescaped.source[awaiting]);
            for (const Detection& d : inner) {
                const std::size_t begin = region.begin + unescaped.source[d.begin];
                const std::size_t end = region.begin + unescaped.source[d.end];
                // A value written without escapes is the plain scan's to judge (a region's edge may
                // cut into what stands before it), unless an escape stands right next to it inside the
                // region: the plain scan read that escape's characters as text, "\njane@example.com"
                // as "njane@example.com" and "\nDE89 3704..." as no IBAN (an 'n' before it).
                const bool escaped = end - begin != d.end - d.begin;
                const TextRange beside = escapes_beside(written, unescaped, d, cuts);
                if (!(escaped || beside.begin < d.begin || beside.end > d.end) || begin < from) continue;
                if (merged) {
                    const TextRange written_beside{region.begin + unescaped.source[beside.begin],
                                                   region.begin + unescaped.source[beside.end]};
                    const std::optional<TextRange> own = last_escape_region(text, written_beside, escapes);
                    if (own && end > own->end) {
                        if (std::find_if(own_regions.begin(), own_regions.end(), [&](const TextRange& o) {
                                return o.begin == own->begin && o.end == own->end;
                            }) == own_regions.end()) {
                            own_regions.push_back(*own);
                            regions.push_back(*own);
                        }
                        continue;
                    }
                }
                if (!add_nested(d, begin, end)) return false;
            }
        }
        // A plain finding that begins with the character a backslash escapes ("njane@example.com" in
        // "\njane@example.com") gives way to what the unescaped reading found over it: redacted, it
        // would leave the backslash to escape the marker, breaking the JSON it stands in.
        const auto unescaped_from = out.begin() + static_cast<std::ptrdiff_t>(found_plain);
        const auto read_unescaped = [&](const Detection& plain) {
            if (escape_safe_start(text, plain.begin) == plain.begin) return false;
            return std::any_of(unescaped_from, out.end(), [&](const Detection& d) {
                return d.detector == plain.detector && d.begin < plain.end && plain.begin < d.end;
            });
        };
        std::size_t kept_plain = 0;
        for (std::size_t i = 0; i < found_plain; ++i)
            if (!read_unescaped(out[i])) out[kept_plain++] = out[i];
        out.erase(out.begin() + static_cast<std::ptrdiff_t>(kept_plain), unescaped_from);
    }

    keep_one_per_place(out);
    return true;
}

// Keeps one finding per place: the earliest, longest one; drops findings inside a longer finding.
void DetectorSet::keep_one_per_place(std::vector<Detection>& out) const {
    std::sort(out.begin(), out.end(), [this](const Detection& a, const Detection& b) {
        if (a.begin != b.begin) return a.begin < b.begin;
        if (a.end != b.end) return a.end > b.end;
        const bool a_fallback = detectors_[a.detector].fallback;
        if (a_fallback != detectors_[b.detector].fallback) return !a_fallback;
        return a.detector < b.detector;
    });
    thread_local std::vector<std::size_t> last_end;
    last_end.assign(detectors_.size(), 0);
    std::size_t kept = 0;
    std::size_t covered_from = 0;
    std::size_t covered_to = 0;
    bool any = false;
    for (std::size_t i = 0; i < out.size(); ++i) {
        const Detection d = out[i];
        // Two detectors confirming exactly the same text are both kept: the value is ambiguous and the
        // higher class must apply.
        const bool same_span = d.begin == covered_from && d.end == covered_to;
        if (any && d.end <= covered_to && (!same_span || detectors_[d.detector].fallback)) continue;
        if (last_end[d.detector] > d.begin) continue;
        last_end[d.detector] = d.end;
        if (d.end > covered_to || !any) {
            covered_from = d.begin;
            covered_to = d.end;
        }
        any = true;
        out[kept++] = d;
    }
    out.resize(kept);
}

}  // namespace sovereign::policy

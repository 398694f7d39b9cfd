#include "policy/detector_set.hpp"

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <exception>

namespace sovereign::policy {

namespace {

// Six digits with at most three other characters between consecutive ones: every digit-dense match
// contains such a place, while years, prices and versions in prose mostly do not. Longest match: 21.
constexpr const char* dense_trigger = "[0-9](?:[^0-9]{0,3}[0-9]){5}";
constexpr std::size_t dense_trigger_width = 21;
constexpr std::size_t window_merge_gap = 512;

// How far from a candidate a context word may be: a label and a few words of a sentence.
constexpr std::size_t context_before = 64;
constexpr std::size_t context_after = 24;

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

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }
bool word_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
           static_cast<unsigned char>(c) >= 0x80;
}

}  // namespace

bool context_near(std::string_view text, std::size_t begin, std::size_t end, const std::vector<std::string>& words) {
    if (words.empty()) return false;
    const std::size_t lo = begin > context_before ? begin - context_before : 0;
    const std::size_t hi = std::min(text.size(), end + context_after);
    std::string window(text.substr(lo, hi - lo));
    std::transform(window.begin(), window.end(), window.begin(), lower);
    for (const auto& word : words) {
        std::size_t at = window.find(word);
        while (at != std::string::npos) {
            if (at == 0 || !word_char(window[at - 1])) return true;
            at = window.find(word, at + 1);
        }
    }
    return false;
}

std::unique_ptr<const DetectorSet> DetectorSet::compile(std::vector<DetectorSpec> detectors,
                                                        std::vector<PatternProblem>& problems) {
    std::unique_ptr<DetectorSet> set(new DetectorSet());
    struct Group {
        std::vector<std::string> expressions;
        std::vector<unsigned> flags;
        std::vector<unsigned> ids;
    };
    Group general;
    Group dense;
    std::vector<Group> own_passes;
    set->max_widths_.assign(detectors.size(), 0);
    for (std::size_t d = 0; d < detectors.size(); ++d) {
        for (const auto& pattern : detectors[d].patterns) {
            const unsigned pattern_flags = pattern.flags | HS_FLAG_SOM_LEFTMOST;
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
            if (pattern.own_pass) own_passes.emplace_back();
            Group& group = pattern.digit_dense ? dense : pattern.own_pass ? own_passes.back() : general;
            if (pattern.digit_dense) set->dense_reach_ = std::max<std::size_t>(set->dense_reach_, width);
            group.ids.push_back(static_cast<unsigned>(set->patterns_.size()));
            set->patterns_.push_back({d, pattern.needs_context});
            group.expressions.push_back(pattern.regex);
            group.flags.push_back(pattern_flags);
        }
    }
    if (!problems.empty()) return nullptr;
    if (general.expressions.empty() && dense.expressions.empty()) {
        problems.push_back({0, "no detector patterns to compile"});
        return nullptr;
    }
    Group trigger;
    if (!dense.expressions.empty()) {
        set->trigger_id_ = static_cast<unsigned>(set->patterns_.size());
        trigger.ids.push_back(set->trigger_id_);
        trigger.expressions.emplace_back(dense_trigger);
        trigger.flags.push_back(0);
    }
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
    own_passes.push_back(std::move(general));
    own_passes.push_back(std::move(trigger));
    for (const auto& group : own_passes) {
        if (group.expressions.empty()) continue;
        hs_database_t* database = nullptr;
        if (!build(group, &database)) return nullptr;
        set->full_text_databases_.push_back(database);
    }
    if (!dense.expressions.empty() && !build(dense, &set->dense_database_)) return nullptr;
    set->detectors_ = std::move(detectors);
    set->id_ = next_database_id.fetch_add(1);
    return set;
}

DetectorSet::~DetectorSet() {
    for (auto* database : full_text_databases_) hs_free_database(database);
    if (dense_database_ != nullptr) hs_free_database(dense_database_);
}

std::size_t DetectorSet::find(std::string_view name) const {
    for (std::size_t i = 0; i < detectors_.size(); ++i)
        if (detectors_[i].name == name) return i;
    return static_cast<std::size_t>(-1);
}

bool DetectorSet::scan(std::string_view text, std::size_t from, std::vector<Detection>& out,
                       ScanFailure& failure) const {
    out.clear();
    if (text.size() > 0xFFFFFFFFu) {
        failure = {"scanner", "text of " + std::to_string(text.size()) + " bytes is larger than one scan allows"};
        return false;
    }
    if (thread_scratch.fitted_to != id_) {
        bool allocated = dense_database_ == nullptr || hs_alloc_scratch(dense_database_, &thread_scratch.scratch) == HS_SUCCESS;
        for (auto* database : full_text_databases_)
            allocated = allocated && hs_alloc_scratch(database, &thread_scratch.scratch) == HS_SUCCESS;
        if (!allocated) {
            failure = {"scanner", "vectorscan could not allocate scratch space"};
            return false;
        }
        thread_scratch.fitted_to = id_;
    }

    struct Context {
        const DetectorSet* set;
        std::string_view text;
        std::size_t from;
        std::vector<Detection>* out;
        ScanFailure* failure;
        std::vector<std::size_t> expanded_to;  // per detector: end of the last expanded value
        std::size_t offset;                     // where the scanned window starts in text
        std::vector<TextRange> windows;         // where digit-dense patterns must run
    } context{this, text, from, &out, &failure, std::vector<std::size_t>(detectors_.size(), 0), 0, {}};

    auto on_match = [](unsigned id, unsigned long long start, unsigned long long end, unsigned, void* raw) -> int {
        auto& c = *static_cast<Context*>(raw);
        if (id == c.set->trigger_id_ && c.set->dense_database_ != nullptr) {
            // A dense match containing this trigger lies within reach of it on either side.
            const std::size_t reach = c.set->dense_reach_;
            const auto stop = static_cast<std::size_t>(end);
            const std::size_t lo = stop > dense_trigger_width + reach ? stop - dense_trigger_width - reach : 0;
            const std::size_t hi = std::min(c.text.size(), stop + reach);
            // Starting a scan costs about as much as scanning a few hundred bytes: nearby windows are merged.
            if (!c.windows.empty() && lo <= c.windows.back().end + window_merge_gap)
                c.windows.back().end = std::max(c.windows.back().end, hi);
            else c.windows.push_back({lo, hi});
            return 0;
        }
        const PatternRef& pattern = c.set->patterns_[id];
        const DetectorSpec& detector = c.set->detectors_[pattern.detector];
        auto begin = static_cast<std::size_t>(start) + c.offset;
        auto stop = static_cast<std::size_t>(end) + c.offset;
        if (detector.expand != nullptr) {
            // Every anchor inside an already expanded value leads to the same value.
            std::size_t& expanded_to = c.expanded_to[pattern.detector];
            if (begin < expanded_to) return 0;
            const TextRange range = detector.expand(c.text, begin, stop);
            if (range.end <= range.begin) return 0;
            begin = range.begin;
            stop = range.end;
            expanded_to = stop;
        }
        if (begin < c.from || !stands_alone(detector.boundary, c.text, begin, stop)) return 0;
        try {
            if (detector.validate != nullptr && !detector.validate(c.text.substr(begin, stop - begin))) return 0;
            const bool context_found = context_near(c.text, begin, stop, detector.context);
            if (pattern.needs_context && !context_found) return 0;
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

    auto run = [&](hs_database_t* database, std::size_t offset, std::size_t length) {
        context.offset = offset;
        const hs_error_t result = hs_scan(database, text.data() + offset, static_cast<unsigned>(length), 0,
                                          thread_scratch.scratch, on_match, &context);
        if (result == HS_SCAN_TERMINATED) return false;
        if (result != HS_SUCCESS) {
            failure = {"scanner", "vectorscan scan failed with error " + std::to_string(result)};
            return false;
        }
        return true;
    };
    for (auto* database : full_text_databases_)
        if (!run(database, 0, text.size())) return false;
    for (const auto& window : context.windows)
        if (!run(dense_database_, window.begin, window.end - window.begin)) return false;

    // Keep one finding per place: the earliest, longest one; drop findings inside a longer finding.
    std::sort(out.begin(), out.end(), [this](const Detection& a, const Detection& b) {
        if (a.begin != b.begin) return a.begin < b.begin;
        if (a.end != b.end) return a.end > b.end;
        const bool a_fallback = detectors_[a.detector].fallback;
        if (a_fallback != detectors_[b.detector].fallback) return !a_fallback;
        return a.detector < b.detector;
    });
    std::vector<std::size_t> last_end(detectors_.size(), 0);
    std::vector<Detection> kept;
    kept.reserve(out.size());
    std::size_t covered_from = 0;
    std::size_t covered_to = 0;
    bool any = false;
    for (const auto& d : out) {
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
        kept.push_back(d);
    }
    out = std::move(kept);
    return true;
}

}  // namespace sovereign::policy

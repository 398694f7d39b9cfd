#include "policy/response_scanner.hpp"

#include <algorithm>
#include <cstring>

#include "policy/encoded_text.hpp"
#include "policy/engine.hpp"
#include "policy/inline_markup.hpp"
#include "policy/lookalike_fold.hpp"
#include "policy/utf8.hpp"

namespace sovereign::policy {

namespace {
// Enough emitted text to find context words and token boundaries just before new output, and the
// whole region around an escape in it.
constexpr std::size_t context_keep = escape_reach_before;

// Where a character the chunk cut after its first bytes begins in buffer[from, end): the end when
// none was cut.
std::size_t cut_character_start(std::string_view buffer, std::size_t from) {
    for (std::size_t back = 1; back <= 3 && back <= buffer.size() - from; ++back) {
        const auto byte = static_cast<unsigned char>(buffer[buffer.size() - back]);
        if ((byte & 0xC0) == 0x80) continue;
        const std::size_t length = byte >= 0xF0 ? 4 : byte >= 0xE0 ? 3 : byte >= 0xC0 ? 2 : 1;
        return length > back ? buffer.size() - back : buffer.size();
    }
    return buffer.size();
}

}  // namespace

std::vector<AnswerRemoval> answer_removals(std::span<const Detection> found, const std::vector<char>& redact) {
    std::vector<AnswerRemoval> removals;
    for (const Detection& f : found) {
        if (redact[f.detector] == 0) continue;
        if (!removals.empty() && f.begin < removals.back().end) {
            removals.back().end = std::max(removals.back().end, f.end);
            continue;
        }
        removals.push_back({f.begin, f.end, f.detector});
    }
    return removals;
}

ResponseScanner::ResponseScanner(std::shared_ptr<const Policy> policy, std::string_view tenant, AnswerText form)
    : policy_(std::move(policy)), form_(form), redact_(policy_->redaction_in_answers(tenant)) {}

std::string ResponseScanner::feed(std::string_view chunk) {
    if (failed_) return {};
    text_.append(chunk);
    return release(false);
}

std::string ResponseScanner::feed_protected(std::string_view chunk) {
    if (failed_) return {};
    protected_.emplace_back(text_.size(), text_.size() + chunk.size());
    text_.append(chunk);
    return release(false);
}

std::string ResponseScanner::finish() {
    if (failed_) return {};
    return release(true);
}

std::string ResponseScanner::complete(std::string_view chunk) {
    if (failed_) return {};
    text_.append(chunk);
    return release(true);
}

std::optional<std::string> ResponseScanner::complete_changed(std::string_view chunk) {
    if (failed_ || !text_.empty() || emitted_ != 0 || !protected_.empty()) {
        std::string out = complete(chunk);
        if (out == chunk) return std::nullopt;
        return out;
    }
    std::string out;
    bool as_it_came = false;
    if (!release_into(chunk, true, out, true, as_it_came)) {
        if (chunk.empty()) return std::nullopt;
        return std::string();
    }
    if (as_it_came || out == chunk) return std::nullopt;
    return out;
}

// A value is looked for where the whole answer's scan would find it: in the text with its look-alikes
// folded. A run of invisible characters the fold removes is then no part of the value's reach, and the
// forms a value is written in (" [at] ", an IBAN's groups) are read as the scan reads them. Tags are
// read in the text as written (scan_with_tags), escapes both there and in the folded text.
std::size_t ResponseScanner::straddle_start(std::string_view buffer, std::size_t from) const {
    // A character the chunk cut after its first bytes is held, and values are looked for as if the text
    // ended before it: the rest of it may make it one the fold removes, or reads as part of a value.
    const std::size_t complete = cut_character_start(buffer, from);
    const std::string_view text = buffer.substr(0, complete);
    // An escape or a tag the chunk cut, as written (the tags are read there) ...
    const std::size_t written = std::min({complete, escape_hold_start(text, from), unfinished_tag_start(text, from)});
    thread_local FoldedText folded;
    if (!fold_lookalikes(text, folded)) return std::min(written, value_hold_start(text, from));
    // ... and values and escapes as the scan reads them ("&\0nbsp;" is an escape to it).
    const std::size_t at = folded.folded_offset(from);
    const std::size_t held = std::min(value_hold_start(folded.text, at), escape_hold_start(folded.text, at));
    return std::min(written, held < folded.text.size() ? std::max(folded.original_offset(held), from) : complete);
}

// Earliest position in buffer[from, end) where a value could begin that the next chunk might complete.
std::size_t ResponseScanner::value_hold_start(std::string_view buffer, std::size_t from) const {
    const auto& set = policy_->detectors();
    const std::size_t end = buffer.size();
    std::size_t earliest = end;
    std::size_t lookalike_from = std::string_view::npos;  // the first look-alike lead byte, found once when needed
    // A tag the chunk ends inside is held back, and the values before it are looked for as if the
    // buffer ended there: the next chunk may complete a value that tags interrupt (policy/inline_markup.hpp).
    const std::size_t open_tag = unfinished_tag_start(buffer, from);
    earliest = open_tag;
    for (std::size_t d = 0; d < set.detectors().size(); ++d) {
        const auto& det = set.detectors()[d];
        const std::size_t reach = std::min(set.max_width(d), end - from);
        if (det.straddle != nullptr) earliest = std::min(earliest, det.straddle(buffer, from, reach));
        // A look-alike's bytes may fold into any character of a value (policy/lookalike_fold.hpp).
        const ByteClass& in_value = set.value_bytes(d);
        std::size_t run = end - reach;
        if (det.may_contain_known) {
            // Back over the characters a value may contain, at most `reach` of them, and the tags
            // between them. The text is folded (straddle_start): an invisible character between two of
            // a value's is no longer there, and a run too long for the fold to read through stays to
            // end the value.
            run = open_tag;
            for (std::size_t taken = 0; run > from;) {
                if (taken < reach && in_value.contains(buffer[run - 1])) {
                    --run;
                    ++taken;
                } else if (const std::size_t tag = tag_ending_at(buffer, run); tag != 0 && run - tag >= from) {
                    run -= tag;
                } else {
                    break;
                }
            }
        }
        // Only a character a value can begin with (or a look-alike's byte) starts a possible value.
        if (!det.may_begin.empty()) run = set.value_start_bytes(d).find_first(buffer, run);
        if (run >= end) continue;
        if (det.literal_prefix.empty()) {
            earliest = std::min(earliest, run);
            continue;
        }
        // A prefix written with look-alikes (fullwidth letters) is held from the first one.
        if (lookalike_from == std::string_view::npos) {
            lookalike_from = end;
            for (std::size_t at = end - std::min(set.widest(), end - from); at < end; ++at)
                if (static_cast<unsigned char>(buffer[at]) >= 0xC2 && lookalike_byte(static_cast<unsigned char>(buffer[at]))) {
                    lookalike_from = at;
                    break;
                }
        }
        if (lookalike_from >= run) earliest = std::min(earliest, lookalike_from);
        // Values of this detector start with a fixed prefix: only a full or partial prefix can begin one.
        const std::string& prefix = det.literal_prefix;
        for (std::size_t at = run; at < end && at < earliest; ++at) {
            const void* next = std::memchr(buffer.data() + at, prefix[0], end - at);
            if (next == nullptr) break;
            at = static_cast<std::size_t>(static_cast<const char*>(next) - buffer.data());
            const std::size_t n = std::min(prefix.size(), end - at);
            if (buffer.compare(at, n, prefix, 0, n) == 0) {
                earliest = std::min(earliest, at);
                break;
            }
        }
    }
    return earliest;
}

std::string ResponseScanner::release(bool final) {
    std::string out;
    bool as_it_came = false;
    release_into(text_, final, out, false, as_it_came);
    return out;
}

bool ResponseScanner::release_into(std::string_view written, bool final, std::string& out, bool given_whole,
                                   bool& as_it_came) {
    // JSON text is decided on its reading with string escapes resolved (held back, found, cut there),
    // and what is emitted and replaced is the text as written: whole escapes, never half of one. Text
    // without a backslash reads as it is written.
    const bool resolved = form_ == AnswerText::json_text && written.find('\\') != std::string_view::npos;
    thread_local UnescapedText readable;
    if (resolved) readable = unescape_json_text(written);
    std::string_view buffer = resolved ? std::string_view(readable.text) : written;
    // Bytes that begin no well-formed character are read as U+001A, one for one, as the scan reads
    // them in text it decodes (escapes, base64): the answer reads the same wherever an escape stands
    // in it. A character the chunk cut after its first bytes is left for the next chunk to complete.
    const std::size_t from = resolved ? unescaped_offset(readable, emitted_) : emitted_;
    const std::size_t whole_characters = final ? buffer.size() : cut_character_start(buffer, from);
    thread_local std::string well_formed;
    buffer = with_ill_formed_replaced(buffer, well_formed, whole_characters);
    const auto written_at = [&](std::size_t at) { return resolved ? readable.source[at] : at; };
    const auto written_end_at = [&](std::size_t end) { return resolved ? written_end(readable, end) : end; };
    std::vector<Detection> found;
    // A value that only lacks a context word the next chunk may bring is held back whole too.
    std::size_t awaiting_context = buffer.size();
    if (!policy_->detectors().scan(buffer, from, found, failure_, &awaiting_context)) {
        failed_ = true;
        text_.clear();
        emitted_ = 0;
        protected_.clear();
        return false;
    }
    std::size_t safe = final ? buffer.size() : std::min(straddle_start(buffer, from), awaiting_context);
    // What is released ends on a whole character: the gateway sends each piece as a JSON string of
    // its own, where half a character would reach the client as replacement characters.
    while (safe > from && safe < buffer.size() && (static_cast<unsigned char>(buffer[safe]) & 0xC0) == 0x80) --safe;
    // A finding that crosses the safe point is held back whole and decided again with more text.
    for (auto it = found.rbegin(); it != found.rend(); ++it)
        if (it->begin < safe && it->end > safe) safe = it->begin;

    const auto& detectors = policy_->detectors().detectors();
    // Whether written text [begin, end) lies wholly in what the client sent itself.
    const auto all_protected = [this](std::size_t begin, std::size_t end) {
        return std::any_of(protected_.begin(), protected_.end(),
                           [&](const auto& range) { return range.first <= begin && end <= range.second; });
    };
    std::size_t decided = 0;  // the findings before the safe point
    for (; decided < found.size() && found[decided].end <= safe; ++decided)
        if (!all_protected(written_at(found[decided].begin), written_end_at(found[decided].end)))
            ++counts_[detectors[found[decided].detector].name];
    std::size_t at = emitted_;
    // Each part of a removal outside the protected stretches becomes a marker; those stay as written.
    const auto remove = [&](std::size_t begin, std::size_t end, std::size_t detector) {
        out.append(written, at, begin - at);
        out += redaction_marker(detectors[detector].name);
        at = end;
    };
    const std::vector<AnswerRemoval> removals = answer_removals(std::span(found).first(decided), redact_);
    const std::size_t safe_written = written_at(safe);
    // A whole output decided where it lies and left as it came: nothing to copy.
    if (given_whole && removals.empty() && emitted_ == 0 && safe_written == written.size()) {
        as_it_came = true;
        return true;
    }
    for (const AnswerRemoval& r : removals) {
        std::size_t begin = written_at(r.begin);
        const std::size_t end = written_end_at(r.end);
        for (const auto& [kept_from, kept_to] : protected_) {
            if (kept_to <= begin) continue;
            if (kept_from >= end) break;
            if (kept_from > begin) remove(begin, kept_from, r.detector);
            begin = std::max(begin, kept_to);
        }
        if (begin < end) remove(begin, end, r.detector);
    }
    out.append(written, at, safe_written - at);
    // A whole output given where it lies (complete_changed) ends the scanner: nothing is kept.
    if (given_whole) {
        emitted_ = 0;
        return true;
    }

    // Keep up to context_keep emitted bytes before what is still held back, and one more where the
    // cut would fall between a backslash and what it escapes: what is kept must read as it did. (An
    // offset the resolved reading maps back is where a character or escape of the written text begins,
    // from which the written text resolves as it did.)
    const std::size_t keep_from = written_at(escape_safe_start(buffer, safe > context_keep ? safe - context_keep : 0));
    text_.erase(0, keep_from);
    emitted_ = safe_written - keep_from;
    std::erase_if(protected_, [keep_from](const auto& range) { return range.second <= keep_from; });
    for (auto& [kept_from, kept_to] : protected_) {
        kept_from = kept_from > keep_from ? kept_from - keep_from : 0;
        kept_to -= keep_from;
    }
    return true;
}

}  // namespace sovereign::policy

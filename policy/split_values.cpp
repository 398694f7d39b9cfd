#include "policy/split_values.hpp"

#include <algorithm>
#include <string>
#include <string_view>

namespace sovereign::policy {

namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
bool is_alnum(char c) { return is_digit(c) || is_upper(c) || (c >= 'a' && c <= 'z'); }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// A part's text without the white space around it: that is not part of a value a user split.
struct Trimmed {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::size_t size() const { return end - begin; }
};
Trimmed trim(std::string_view text) {
    Trimmed t{0, text.size()};
    while (t.begin < t.end && is_space(text[t.begin])) ++t.begin;
    while (t.end > t.begin && is_space(text[t.end - 1])) --t.end;
    return t;
}

enum class Seam { none, digits, at_sign };

// Whether the end of one part and the start of the next could be pieces of one value: digits (or a
// digit and a separator, or a capital letter of an IBAN or NINO) on both sides, or an '@' at the seam.
Seam seam_between(std::string_view before, Trimmed b, std::string_view after, Trimmed a) {
    if (b.size() == 0 || a.size() == 0) return Seam::none;
    const char x = before[b.end - 1];
    const char y = after[a.begin];
    if ((x == '@' && is_alnum(y)) || (y == '@' && is_alnum(x))) return Seam::at_sign;
    const bool x_digit = is_digit(x) || ((x == '-' || x == '.' || x == '/') && b.size() >= 2 && is_digit(before[b.end - 2]));
    if ((x_digit && (is_digit(y) || is_upper(y))) || (is_upper(x) && is_digit(y))) return Seam::digits;
    return Seam::none;
}

// A piece of a part inside the joined text.
struct Piece {
    std::size_t segment;
    std::size_t begin;         // in the part's text
    std::size_t end;
    std::size_t joined_begin;  // in the joined text
};

// The parts of one chain of seams, joined with `joint` between them.
std::string join(std::span<const TextSegment> segments, std::vector<Piece>& pieces, std::string_view joint) {
    std::string joined;
    for (auto& piece : pieces) {
        if (!joined.empty()) joined += joint;
        piece.joined_begin = joined.size();
        joined.append(segments[piece.segment].text, piece.begin, piece.end - piece.begin);
    }
    return joined;
}

// Findings of the joined text that cross a joint, as pieces of the parts; false when the scan failed.
bool scan_chain(std::span<const TextSegment> segments, const DetectorSet& detectors, std::vector<Piece>& pieces,
                std::string_view joint, std::vector<SplitValue>& out, ScanFailure& failure) {
    const std::string joined = join(segments, pieces, joint);
    thread_local std::vector<Detection> found;
    if (!detectors.scan(joined, 0, found, failure)) return false;
    for (const Detection& d : found) {
        SplitValue value{d.detector, d.context_found, {}};
        for (const Piece& piece : pieces) {
            const std::size_t from = std::max(d.begin, piece.joined_begin);
            const std::size_t to = std::min(d.end, piece.joined_begin + (piece.end - piece.begin));
            if (from < to)
                value.pieces.push_back({piece.segment, piece.begin + (from - piece.joined_begin),
                                        piece.begin + (to - piece.joined_begin)});
        }
        // Within one part, the part's own scan found it already.
        if (value.pieces.size() >= 2) out.push_back(std::move(value));
    }
    return true;
}

}  // namespace

bool find_split_values(std::span<const TextSegment> segments, const DetectorSet& detectors,
                       std::vector<SplitValue>& out, ScanFailure& failure) {
    out.clear();
    // Blank parts (an empty message or text part, only spaces) are no piece of a value and no gap
    // between pieces either: the chains run over the other parts.
    thread_local std::vector<std::size_t> parts;
    parts.clear();
    for (std::size_t s = 0; s < segments.size(); ++s)
        if (trim(segments[s].text).size() > 0) parts.push_back(s);
    auto text_of = [&](std::size_t k) { return std::string_view(segments[parts[k]].text); };
    std::vector<Piece> pieces;
    for (std::size_t k = 0; k + 1 < parts.size(); ++k) {
        const std::string_view first = text_of(k);
        const Trimmed first_trimmed = trim(first);
        Seam seam = seam_between(first, first_trimmed, text_of(k + 1), trim(text_of(k + 1)));
        if (seam == Seam::none) continue;
        // The end of the first part (whole characters only), then each next part: whole while it is short
        // and the seam after it qualifies too, else its start, which ends the chain.
        std::size_t tail = first_trimmed.size() > seam_reach ? first_trimmed.end - seam_reach : first_trimmed.begin;
        while (tail < first_trimmed.end && is_continuation(first[tail])) ++tail;
        pieces.assign(1, {parts[k], tail, first_trimmed.end, 0});
        bool digits = seam == Seam::digits;
        std::size_t m = k + 1;
        for (;; ++m) {
            const std::string_view text = text_of(m);
            const Trimmed trimmed = trim(text);
            const Seam next = m + 1 < parts.size() && trimmed.size() <= 2 * seam_reach
                                  ? seam_between(text, trimmed, text_of(m + 1), trim(text_of(m + 1)))
                                  : Seam::none;
            if (next == Seam::none) {
                std::size_t head = std::min(trimmed.end, trimmed.begin + seam_reach);
                while (head < trimmed.end && head > trimmed.begin && is_continuation(text[head])) --head;
                pieces.push_back({parts[m], trimmed.begin, head, 0});
                break;
            }
            pieces.push_back({parts[m], trimmed.begin, trimmed.end, 0});
            digits = digits || next == Seam::digits;
        }
        // Digits split by a user were written with a space between them or without one: both are tried
        // (a space first, the way groups of digits are written). An '@' is written without one.
        const std::size_t before = out.size();
        if (digits && !scan_chain(segments, detectors, pieces, " ", out, failure)) return false;
        if (out.size() == before && !scan_chain(segments, detectors, pieces, "", out, failure)) return false;
        k = m - 1;  // the seam after the chain's last part starts the next chain
    }
    return true;
}

}  // namespace sovereign::policy

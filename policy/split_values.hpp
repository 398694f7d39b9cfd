#pragma once
// Values split across consecutive text parts of one request: "my card is 4111 1111" in one message
// and "1111 1111" in the next, or "jane.doe@" then "example.com". Scanned alone, neither part holds
// a value. Where the end of one part and the start of the next could continue each other (digits on
// both sides, or an '@' at the seam), the seam is scanned joined (with and without a space between),
// chaining through short parts, and each value found across it is reported with its piece in every
// part, so that a rule's redact or tokenize covers all of them.
#include <cstddef>
#include <span>
#include <vector>

#include "policy/detector_set.hpp"
#include "policy/types.hpp"

namespace sovereign::policy {

struct SplitValue {
    struct Piece {
        std::size_t segment = 0;
        std::size_t begin = 0;  // bytes of segments[segment].text
        std::size_t end = 0;
    };
    std::size_t detector = 0;
    bool context_found = false;
    std::vector<Piece> pieces;  // two or more, in the order of the parts
};

// Bytes of each part either side of a seam that are scanned: the longest digit-dense value and the
// context words before it.
inline constexpr std::size_t seam_reach = 96;

// False with `failure` set when a scan fails (the request must then fail closed).
bool find_split_values(std::span<const TextSegment> segments, const DetectorSet& detectors,
                       std::vector<SplitValue>& out, ScanFailure& failure);

}  // namespace sovereign::policy

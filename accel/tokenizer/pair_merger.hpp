// The merge loop shared by SentencePiece and BPE: repeatedly join the best-ranked adjacent pair, O(n log n).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <queue>
#include <vector>

namespace sovereign::accel {

// A piece of the input: bytes [begin, begin + length) and its token id (-1 when the piece is no token).
struct MergeSymbol {
  std::size_t begin = 0;
  std::size_t length = 0;
  std::int32_t id = -1;
  int prev = -1;
  int next = -1;
};

// What joining two adjacent symbols gives: its rank (lower merges first) and the joined token's id.
struct MergeCandidate {
  double rank;
  std::int32_t id;
};

// `rank_of(left, right)` returns the candidate for joining two adjacent symbols, or nullopt if they cannot join.
// Ties go to the leftmost pair, as in SentencePiece and the reference BPE. Returns the surviving symbols in order.
template <typename RankFn>
std::vector<MergeSymbol> merge_pairs(std::vector<MergeSymbol> symbols, RankFn rank_of) {
  struct Entry {
    double rank;
    int left;
    std::size_t joined_length;
    std::int32_t id;
    bool operator<(const Entry& other) const {  // priority_queue pops the largest: invert both keys
      return rank != other.rank ? rank > other.rank : left > other.left;
    }
  };
  const int n = static_cast<int>(symbols.size());
  for (int i = 0; i < n; ++i) {
    symbols[i].prev = i - 1;
    symbols[i].next = i + 1 < n ? i + 1 : -1;
  }
  std::priority_queue<Entry> queue;
  const auto consider = [&](int left) {
    if (left < 0) return;
    const int right = symbols[left].next;
    if (right < 0) return;
    if (const std::optional<MergeCandidate> c = rank_of(symbols[left], symbols[right])) {
      queue.push(Entry{c->rank, left, symbols[left].length + symbols[right].length, c->id});
    }
  };
  for (int i = 0; i + 1 < n; ++i) consider(i);
  while (!queue.empty()) {
    const Entry top = queue.top();
    queue.pop();
    MergeSymbol& left = symbols[top.left];
    // Lengths only grow, so an unchanged sum means neither side changed since the entry was queued.
    if (left.length == 0 || left.next < 0 || left.length + symbols[left.next].length != top.joined_length) continue;
    MergeSymbol& right = symbols[left.next];
    left.length += right.length;
    left.id = top.id;
    right.length = 0;
    left.next = right.next;
    if (right.next >= 0) symbols[right.next].prev = top.left;
    consider(left.prev);
    consider(top.left);
  }
  std::vector<MergeSymbol> out;
  for (int i = n > 0 ? 0 : -1; i >= 0; i = symbols[i].next) out.push_back(symbols[i]);
  return out;
}

}  // namespace sovereign::accel

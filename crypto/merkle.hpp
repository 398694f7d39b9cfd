#pragma once
// RFC 6962 / RFC 9162 Merkle tree: the hasher, a growing tree's frontier, proof generation and
// verification. Verification computes a root from the proof, then compares, and reports both.

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "crypto/result.hpp"

namespace sovereign::crypto {

inline constexpr std::size_t hash_size = 32;
using Hash = std::array<std::uint8_t, hash_size>;

std::string hash_hex(const Hash& hash);

// The three functions that define the tree (RFC 6962 section 2.1).
namespace merkle {
Hash empty_root();                                          // SHA-256 of nothing
Hash hash_leaf(std::span<const std::uint8_t> record);       // SHA-256(0x00 || record)
Hash hash_leaf(std::string_view record);
Hash hash_children(const Hash& left, const Hash& right);    // SHA-256(0x01 || left || right)
}  // namespace merkle

// The roots of the perfect subtrees of a growing tree, left (largest) to right: enough to append
// a leaf and compute the root in O(log n) without keeping the leaves.
class TreeFrontier {
 public:
  void append(const Hash& leaf_hash);
  std::uint64_t size() const { return size_; }
  Hash root() const;
  const std::vector<Hash>& nodes() const { return nodes_; }
  // Rebuilds a frontier from stored nodes; fails unless there is one node per set bit of size.
  [[nodiscard]] static Result<TreeFrontier> from_nodes(std::uint64_t size, std::vector<Hash> nodes);

 private:
  std::uint64_t size_ = 0;
  std::vector<Hash> nodes_;
};

// Root of the tree whose leaves have the given hashes.
Hash root_of(std::span<const Hash> leaf_hashes);

// The leaves of a tree as a log holds them: every leaf's hash, or, for a log whose oldest segments
// were pruned, the frontier of the pruned records (the roots of the perfect subtrees that cover
// them) followed by the hashes of the leaves after them. The pruned subtrees stand in for their
// leaves wherever a root or proof needs a whole one; nothing inside them can be computed.
class LeafHashes {
 public:
  explicit LeafHashes(std::span<const Hash> leaves) : leaves_(leaves) {}
  LeafHashes(const TreeFrontier& pruned, std::span<const Hash> leaves);
  std::uint64_t size() const { return pruned_size_ + leaves_.size(); }
  std::uint64_t pruned_size() const { return pruned_size_; }  // leaves known only through the frontier
  // MTH(D[begin:end]) for begin < end <= size(); nullopt when the range splits a pruned subtree.
  std::optional<Hash> range_root(std::uint64_t begin, std::uint64_t end) const;

 private:
  std::uint64_t pruned_size_ = 0;
  std::vector<Hash> pruned_nodes_;  // TreeFrontier order: largest subtree (leftmost) first
  std::span<const Hash> leaves_;    // leaves pruned_size_, pruned_size_ + 1, ...
};

// Inclusion proof of leaf `index` in the tree made of all of `leaf_hashes` (RFC 9162 2.1.3.1).
// Requires index < leaf_hashes.size().
std::vector<Hash> inclusion_proof(std::span<const Hash> leaf_hashes, std::uint64_t index);
// Consistency proof from the tree of the first `old_size` leaves to the tree of all of them
// (RFC 9162 2.1.4.1). Requires 0 < old_size <= leaf_hashes.size().
std::vector<Hash> consistency_proof(std::span<const Hash> leaf_hashes, std::uint64_t old_size);
// The same for the tree of the first `tree_size` leaves of a log that may have been pruned; nullopt
// when the proof needs a subtree inside the pruned records. Require index < tree_size <= size(),
// and old_size <= tree_size (from an empty tree, or to the same size, the proof is empty).
std::optional<std::vector<Hash>> inclusion_proof(const LeafHashes& leaves, std::uint64_t tree_size, std::uint64_t index);
std::optional<std::vector<Hash>> consistency_proof(const LeafHashes& leaves, std::uint64_t tree_size,
                                                   std::uint64_t old_size);

// Root implied by an inclusion proof, or why the proof cannot be one for (index, tree_size).
[[nodiscard]] Result<Hash> root_from_inclusion_proof(std::uint64_t index, std::uint64_t tree_size,
                                                     const Hash& leaf_hash,
                                                     std::span<const Hash> proof);
// Succeeds iff the proof shows the leaf at `index` in the tree of `tree_size` with `expected_root`;
// a mismatch reports the expected and the calculated root.
[[nodiscard]] Status verify_inclusion(std::uint64_t index, std::uint64_t tree_size,
                                      const Hash& leaf_hash, std::span<const Hash> proof,
                                      const Hash& expected_root);
// Succeeds iff the tree of old_size with old_root is a prefix of the tree of new_size with new_root.
[[nodiscard]] Status verify_consistency(std::uint64_t old_size, std::uint64_t new_size,
                                        const Hash& old_root, const Hash& new_root,
                                        std::span<const Hash> proof);

}  // namespace sovereign::crypto

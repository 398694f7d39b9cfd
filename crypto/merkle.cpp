#include "crypto/merkle.hpp"

#include <openssl/evp.h>

#include <bit>
#include <cstdlib>
#include <memory>

#include "crypto/digest.hpp"
#include "crypto/hex.hpp"

namespace sovereign::crypto {

namespace {

// One digest context per thread: OpenSSL's SHA-256 uses the CPU's SHA extensions where present,
// and reusing the context avoids an allocation per hash on the audit writer's hot path.
struct DigestContext {
  const EVP_MD* md = sha256_method();
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx{EVP_MD_CTX_new(), &EVP_MD_CTX_free};
};

Hash sha256_parts(std::uint8_t prefix, std::span<const std::uint8_t> a,
                  std::span<const std::uint8_t> b) {
  thread_local DigestContext digest;
  Hash out{};
  unsigned int length = 0;
  EVP_MD_CTX* ctx = digest.ctx.get();
  // SHA-256 over memory cannot fail short of memory corruption; continuing would forge hashes.
  if (ctx == nullptr || EVP_DigestInit_ex(ctx, digest.md, nullptr) != 1 ||
      EVP_DigestUpdate(ctx, &prefix, 1) != 1 ||
      (!a.empty() && EVP_DigestUpdate(ctx, a.data(), a.size()) != 1) ||
      (!b.empty() && EVP_DigestUpdate(ctx, b.data(), b.size()) != 1) ||
      EVP_DigestFinal_ex(ctx, out.data(), &length) != 1 || length != hash_size) {
    std::abort();
  }
  return out;
}

// Largest power of two strictly smaller than n (n >= 2).
std::uint64_t split_point(std::uint64_t n) { return std::bit_floor(n - 1); }

// RFC 9162 PATH(m, D[begin:end]) appended to out; false when it needs a pruned subtree's inside.
bool append_inclusion(const LeafHashes& leaves, std::uint64_t begin, std::uint64_t end, std::uint64_t index,
                      std::vector<Hash>& out) {
  if (end - begin <= 1) return true;
  const std::uint64_t split = split_point(end - begin);
  std::optional<Hash> sibling;
  if (index < split) {
    if (!append_inclusion(leaves, begin, begin + split, index, out)) return false;
    sibling = leaves.range_root(begin + split, end);
  } else {
    if (!append_inclusion(leaves, begin + split, end, index - split, out)) return false;
    sibling = leaves.range_root(begin, begin + split);
  }
  if (!sibling) return false;
  out.push_back(*sibling);
  return true;
}

// RFC 9162 SUBPROOF(m, D[begin:end], b) appended to out; false as above.
bool append_consistency(const LeafHashes& leaves, std::uint64_t begin, std::uint64_t end, std::uint64_t m,
                        bool complete_subtree, std::vector<Hash>& out) {
  std::optional<Hash> node;
  if (m == end - begin) {
    if (complete_subtree) return true;
    node = leaves.range_root(begin, end);
  } else {
    const std::uint64_t split = split_point(end - begin);
    if (m <= split) {
      if (!append_consistency(leaves, begin, begin + split, m, complete_subtree, out)) return false;
      node = leaves.range_root(begin + split, end);
    } else {
      if (!append_consistency(leaves, begin + split, end, m - split, false, out)) return false;
      node = leaves.range_root(begin, begin + split);
    }
  }
  if (!node) return false;
  out.push_back(*node);
  return true;
}

std::string mismatch(std::string_view what, const Hash& expected, const Hash& calculated) {
  return std::string(what) + " mismatch: expected " + hash_hex(expected) + ", calculated " +
         hash_hex(calculated);
}

}  // namespace

std::string hash_hex(const Hash& hash) { return to_hex(hash); }

namespace merkle {
Hash empty_root() {
  Hash out{};
  unsigned int length = 0;
  if (EVP_Digest(nullptr, 0, out.data(), &length, EVP_sha256(), nullptr) != 1) std::abort();
  return out;
}
Hash hash_leaf(std::span<const std::uint8_t> record) { return sha256_parts(0x00, record, {}); }
Hash hash_leaf(std::string_view record) { return hash_leaf(as_bytes(record)); }
Hash hash_children(const Hash& left, const Hash& right) {
  return sha256_parts(0x01, left, right);
}
}  // namespace merkle

void TreeFrontier::append(const Hash& leaf_hash) {
  Hash carry = leaf_hash;
  for (std::uint64_t s = size_; (s & 1) != 0; s >>= 1) {
    carry = merkle::hash_children(nodes_.back(), carry);
    nodes_.pop_back();
  }
  nodes_.push_back(carry);
  ++size_;
}

Hash TreeFrontier::root() const {
  if (nodes_.empty()) return merkle::empty_root();
  Hash root = nodes_.back();
  for (std::size_t i = nodes_.size() - 1; i-- > 0;) root = merkle::hash_children(nodes_[i], root);
  return root;
}

Result<TreeFrontier> TreeFrontier::from_nodes(std::uint64_t size, std::vector<Hash> nodes) {
  if (nodes.size() != static_cast<std::size_t>(std::popcount(size))) {
    return make_error("tree frontier for size " + std::to_string(size) + " needs " +
                      std::to_string(std::popcount(size)) + " node hashes, found " +
                      std::to_string(nodes.size()));
  }
  TreeFrontier frontier;
  frontier.size_ = size;
  frontier.nodes_ = std::move(nodes);
  return frontier;
}

Hash root_of(std::span<const Hash> leaf_hashes) {
  TreeFrontier frontier;
  for (const Hash& leaf : leaf_hashes) frontier.append(leaf);
  return frontier.root();
}

LeafHashes::LeafHashes(const TreeFrontier& pruned, std::span<const Hash> leaves)
    : pruned_size_(pruned.size()), pruned_nodes_(pruned.nodes()), leaves_(leaves) {}

std::optional<Hash> LeafHashes::range_root(std::uint64_t begin, std::uint64_t end) const {
  if (begin >= pruned_size_) return root_of(leaves_.subspan(begin - pruned_size_, end - begin));
  // The pruned subtree holding `begin`: they lie left to right, one per set bit of the pruned size,
  // largest first.
  std::uint64_t start = 0;
  std::size_t node = 0;
  for (int bit = 63; bit >= 0; --bit) {
    const std::uint64_t width = std::uint64_t{1} << bit;
    if ((pruned_size_ & width) == 0) continue;
    if (begin < start + width) {
      if (begin == start && end == start + width) return pruned_nodes_[node];
      if (end <= start + width) return std::nullopt;  // inside a pruned subtree: its leaves are gone
      break;
    }
    start += width;
    ++node;
  }
  // Across subtrees, or pruned and kept leaves: split as RFC 9162 does.
  const std::uint64_t split = split_point(end - begin);
  std::optional<Hash> left = range_root(begin, begin + split);
  if (!left) return std::nullopt;
  std::optional<Hash> right = range_root(begin + split, end);
  if (!right) return std::nullopt;
  return merkle::hash_children(*left, *right);
}

std::optional<std::vector<Hash>> inclusion_proof(const LeafHashes& leaves, std::uint64_t tree_size, std::uint64_t index) {
  std::vector<Hash> proof;
  if (index >= tree_size || tree_size > leaves.size()) return std::nullopt;
  if (!append_inclusion(leaves, 0, tree_size, index, proof)) return std::nullopt;
  return proof;
}

std::optional<std::vector<Hash>> consistency_proof(const LeafHashes& leaves, std::uint64_t tree_size,
                                                   std::uint64_t old_size) {
  std::vector<Hash> proof;
  if (old_size > tree_size || tree_size > leaves.size()) return std::nullopt;
  if (old_size > 0 && old_size < tree_size && !append_consistency(leaves, 0, tree_size, old_size, true, proof)) return std::nullopt;
  return proof;
}

std::vector<Hash> inclusion_proof(std::span<const Hash> leaf_hashes, std::uint64_t index) {
  return inclusion_proof(LeafHashes(leaf_hashes), leaf_hashes.size(), index).value_or(std::vector<Hash>{});
}

std::vector<Hash> consistency_proof(std::span<const Hash> leaf_hashes, std::uint64_t old_size) {
  return consistency_proof(LeafHashes(leaf_hashes), leaf_hashes.size(), old_size).value_or(std::vector<Hash>{});
}

Result<Hash> root_from_inclusion_proof(std::uint64_t index, std::uint64_t tree_size,
                                       const Hash& leaf_hash, std::span<const Hash> proof) {
  if (index >= tree_size) {
    return make_error("leaf index " + std::to_string(index) + " is outside a tree of size " +
                      std::to_string(tree_size));
  }
  std::uint64_t fn = index;
  std::uint64_t sn = tree_size - 1;
  Hash r = leaf_hash;
  for (std::size_t i = 0; i < proof.size(); ++i) {
    if (sn == 0) {
      return make_error("inclusion proof has " + std::to_string(proof.size()) +
                        " hashes, more than a tree of size " + std::to_string(tree_size) +
                        " needs (extra from hash " + std::to_string(i) + ")");
    }
    if ((fn & 1) != 0 || fn == sn) {
      r = merkle::hash_children(proof[i], r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = merkle::hash_children(r, proof[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return make_error("inclusion proof has " + std::to_string(proof.size()) +
                      " hashes, too few for leaf " + std::to_string(index) + " in a tree of size " +
                      std::to_string(tree_size));
  }
  return r;
}

Status verify_inclusion(std::uint64_t index, std::uint64_t tree_size, const Hash& leaf_hash,
                        std::span<const Hash> proof, const Hash& expected_root) {
  Result<Hash> calculated = root_from_inclusion_proof(index, tree_size, leaf_hash, proof);
  if (!calculated) return calculated.error();
  if (calculated.value() != expected_root) {
    return make_error(mismatch("root", expected_root, calculated.value()));
  }
  return {};
}

Status verify_consistency(std::uint64_t old_size, std::uint64_t new_size, const Hash& old_root,
                          const Hash& new_root, std::span<const Hash> proof) {
  if (old_size > new_size) {
    return make_error("old tree size " + std::to_string(old_size) + " exceeds new tree size " +
                      std::to_string(new_size));
  }
  if (old_size == new_size) {
    if (!proof.empty()) return make_error("consistency proof between equal sizes must be empty");
    if (old_root != new_root) return make_error(mismatch("root", new_root, old_root));
    return {};
  }
  if (old_size == 0) {
    if (!proof.empty()) return make_error("consistency proof from the empty tree must be empty");
    return {};
  }
  if (proof.empty()) return make_error("consistency proof is empty");

  std::vector<Hash> path;
  path.reserve(proof.size() + 1);
  if (std::has_single_bit(old_size)) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());

  std::uint64_t fn = old_size - 1;
  std::uint64_t sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Hash fr = path[0];
  Hash sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    if (sn == 0) {
      return make_error("consistency proof has more hashes than sizes " + std::to_string(old_size) +
                        " -> " + std::to_string(new_size) + " need");
    }
    if ((fn & 1) != 0 || fn == sn) {
      fr = merkle::hash_children(path[i], fr);
      sr = merkle::hash_children(path[i], sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = merkle::hash_children(sr, path[i]);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) {
    return make_error("consistency proof has too few hashes for sizes " +
                      std::to_string(old_size) + " -> " + std::to_string(new_size));
  }
  if (fr != old_root) return make_error(mismatch("old root", old_root, fr));
  if (sr != new_root) return make_error(mismatch("new root", new_root, sr));
  return {};
}

}  // namespace sovereign::crypto

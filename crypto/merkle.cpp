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

void append_inclusion(std::span<const Hash> leaves, std::uint64_t index, std::vector<Hash>& out) {
  if (leaves.size() <= 1) return;
  const std::uint64_t split = split_point(leaves.size());
  if (index < split) {
    append_inclusion(leaves.first(split), index, out);
    out.push_back(root_of(leaves.subspan(split)));
  } else {
    append_inclusion(leaves.subspan(split), index - split, out);
    out.push_back(root_of(leaves.first(split)));
  }
}

// RFC 9162 SUBPROOF(m, D[n], b).
void append_consistency(std::span<const Hash> leaves, std::uint64_t m, bool complete_subtree,
                        std::vector<Hash>& out) {
  const std::uint64_t n = leaves.size();
  if (m == n) {
    if (!complete_subtree) out.push_back(root_of(leaves));
    return;
  }
  const std::uint64_t split = split_point(n);
  if (m <= split) {
    append_consistency(leaves.first(split), m, complete_subtree, out);
    out.push_back(root_of(leaves.subspan(split)));
  } else {
    append_consistency(leaves.subspan(split), m - split, false, out);
    out.push_back(root_of(leaves.first(split)));
  }
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

std::vector<Hash> inclusion_proof(std::span<const Hash> leaf_hashes, std::uint64_t index) {
  std::vector<Hash> proof;
  if (index < leaf_hashes.size()) append_inclusion(leaf_hashes, index, proof);
  return proof;
}

std::vector<Hash> consistency_proof(std::span<const Hash> leaf_hashes, std::uint64_t old_size) {
  std::vector<Hash> proof;
  if (old_size > 0 && old_size < leaf_hashes.size()) {
    append_consistency(leaf_hashes, old_size, true, proof);
  }
  return proof;
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

// Known-answer tests against the RFC 6962 reference vectors published by transparency-dev/merkle
// (testonly/constants.go and reference_test.go), and mutation tests on every proof.
#include <doctest/doctest.h>

#include <string>
#include <vector>

#include "crypto/hex.hpp"
#include "crypto/merkle.hpp"

using namespace sovereign::crypto;

namespace {

Hash h(std::string_view hex) {
  Hash out{};
  REQUIRE(from_hex_into(hex, out));
  return out;
}

std::vector<std::vector<std::uint8_t>> leaf_inputs() {
  std::vector<std::vector<std::uint8_t>> out;
  for (std::string_view hex : {"", "00", "10", "2021", "3031", "40414243", "5051525354555657",
                               "606162636465666768696a6b6c6d6e6f"}) {
    out.push_back(*from_hex(hex));
  }
  return out;
}

std::vector<Hash> leaf_hashes(std::size_t n) {
  std::vector<Hash> out;
  auto inputs = leaf_inputs();
  for (std::size_t i = 0; i < n; ++i) out.push_back(merkle::hash_leaf(inputs[i]));
  return out;
}

const std::vector<Hash>& reference_roots() {
  static const std::vector<Hash> roots = {
      h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
      h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
      h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
      h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
      h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
      h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
      h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
      h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
      h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
  };
  return roots;
}

// Every way to corrupt an inclusion proof: each bit of each hash, dropped, duplicated and extra
// hashes, and wrong index/size/leaf/root. Each must be rejected.
void check_inclusion_mutations(std::uint64_t index, std::uint64_t size, const Hash& leaf,
                               const std::vector<Hash>& proof, const Hash& root) {
  REQUIRE(verify_inclusion(index, size, leaf, proof, root).ok());
  for (std::size_t i = 0; i < proof.size(); ++i) {
    for (std::size_t bit = 0; bit < hash_size * 8; bit += 37) {
      auto bad = proof;
      bad[i][bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      CHECK_FALSE(verify_inclusion(index, size, leaf, bad, root).ok());
    }
    auto dropped = proof;
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(i));
    CHECK_FALSE(verify_inclusion(index, size, leaf, dropped, root).ok());
    auto duplicated = proof;
    duplicated.insert(duplicated.begin() + static_cast<std::ptrdiff_t>(i), proof[i]);
    CHECK_FALSE(verify_inclusion(index, size, leaf, duplicated, root).ok());
  }
  auto extra = proof;
  extra.push_back(leaf);
  CHECK_FALSE(verify_inclusion(index, size, leaf, extra, root).ok());
  CHECK_FALSE(verify_inclusion(index + 1, size, leaf, proof, root).ok());
  if (index > 0) CHECK_FALSE(verify_inclusion(index - 1, size, leaf, proof, root).ok());
  // The tree size is not authenticated by the proof's hashes (it comes from the signed checkpoint),
  // and neighbouring sizes can share a proof's shape; a size with a deeper tree must be rejected.
  CHECK_FALSE(verify_inclusion(index, size * 2, leaf, proof, root).ok());
  CHECK_FALSE(verify_inclusion(index, index, leaf, proof, root).ok());
  Hash other_leaf = leaf;
  other_leaf[0] ^= 1;
  CHECK_FALSE(verify_inclusion(index, size, other_leaf, proof, root).ok());
  Hash other_root = root;
  other_root[31] ^= 0x80;
  CHECK_FALSE(verify_inclusion(index, size, leaf, proof, other_root).ok());
}

void check_consistency_mutations(std::uint64_t size1, std::uint64_t size2, const Hash& root1,
                                 const Hash& root2, const std::vector<Hash>& proof) {
  REQUIRE(verify_consistency(size1, size2, root1, root2, proof).ok());
  if (size1 == size2 || size1 == 0) return;
  for (std::size_t i = 0; i < proof.size(); ++i) {
    for (std::size_t bit = 0; bit < hash_size * 8; bit += 41) {
      auto bad = proof;
      bad[i][bit / 8] ^= static_cast<std::uint8_t>(1u << (bit % 8));
      CHECK_FALSE(verify_consistency(size1, size2, root1, root2, bad).ok());
    }
    auto dropped = proof;
    dropped.erase(dropped.begin() + static_cast<std::ptrdiff_t>(i));
    CHECK_FALSE(verify_consistency(size1, size2, root1, root2, dropped).ok());
  }
  auto extra = proof;
  extra.push_back(root1);
  CHECK_FALSE(verify_consistency(size1, size2, root1, root2, extra).ok());
  Hash bad_root1 = root1;
  bad_root1[5] ^= 4;
  CHECK_FALSE(verify_consistency(size1, size2, bad_root1, root2, proof).ok());
  Hash bad_root2 = root2;
  bad_root2[9] ^= 2;
  CHECK_FALSE(verify_consistency(size1, size2, root1, bad_root2, proof).ok());
  CHECK_FALSE(verify_consistency(size1, size2 * 2, root1, root2, proof).ok());
  CHECK_FALSE(verify_consistency(size1 + 1 == size2 ? size1 - 1 : size1 + 1, size2, root1, root2,
                                 proof).ok());
  CHECK_FALSE(verify_consistency(size2, size1, root2, root1, proof).ok());
}

}  // namespace

TEST_SUITE("merkle") {
  TEST_CASE("hasher matches RFC 6962 leaf, node and empty-tree hashes") {
    CHECK(hash_hex(merkle::empty_root()) ==
          "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    auto leaves = leaf_hashes(8);
    CHECK(hash_hex(leaves[0]) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
    CHECK(hash_hex(leaves[7]) == "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1");
    CHECK(hash_hex(merkle::hash_children(leaves[0], leaves[1])) ==
          "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125");
  }

  TEST_CASE("roots of trees of size 0 to 8 match the reference roots") {
    auto leaves = leaf_hashes(8);
    for (std::size_t n = 0; n <= 8; ++n) {
      CAPTURE(n);
      CHECK(root_of(std::span<const Hash>(leaves.data(), n)) == reference_roots()[n]);
    }
  }

  TEST_CASE("frontier rebuilt from its nodes continues to the same roots") {
    auto leaves = leaf_hashes(8);
    TreeFrontier frontier;
    for (std::size_t n = 0; n < 8; ++n) {
      Result<TreeFrontier> copy = TreeFrontier::from_nodes(frontier.size(), frontier.nodes());
      REQUIRE(copy.ok());
      for (std::size_t k = n; k < 8; ++k) copy->append(leaves[k]);
      CHECK(copy->root() == reference_roots()[8]);
      frontier.append(leaves[n]);
    }
    CHECK_FALSE(TreeFrontier::from_nodes(3, {leaves[0]}).ok());
  }

  TEST_CASE("inclusion proofs match the reference proofs") {
    struct Vector {
      std::uint64_t index, size;
      std::vector<std::string_view> proof;
    };
    const std::vector<Vector> vectors = {
        {0, 1, {}},
        {0, 2, {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"}},
        {1, 2, {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"}},
        {2, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
        {1, 5,
         {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
          "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
        {0, 8,
         {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
          "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
        {5, 8,
         {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
          "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    };
    auto leaves = leaf_hashes(8);
    for (const Vector& v : vectors) {
      CAPTURE(v.index);
      CAPTURE(v.size);
      std::vector<Hash> expected;
      for (auto hex : v.proof) expected.push_back(h(hex));
      auto proof = inclusion_proof(std::span<const Hash>(leaves.data(), v.size), v.index);
      CHECK(proof == expected);
      check_inclusion_mutations(v.index, v.size, leaves[v.index], proof, reference_roots()[v.size]);
    }
  }

  TEST_CASE("consistency proofs match the reference proofs") {
    struct Vector {
      std::uint64_t size1, size2;
      std::vector<std::string_view> proof;
    };
    const std::vector<Vector> vectors = {
        {1, 1, {}},
        {1, 8,
         {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
          "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
        {2, 5,
         {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
          "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
        {6, 8,
         {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
          "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    };
    auto leaves = leaf_hashes(8);
    for (const Vector& v : vectors) {
      CAPTURE(v.size1);
      CAPTURE(v.size2);
      std::vector<Hash> expected;
      for (auto hex : v.proof) expected.push_back(h(hex));
      auto proof = consistency_proof(std::span<const Hash>(leaves.data(), v.size2), v.size1);
      CHECK(proof == expected);
      check_consistency_mutations(v.size1, v.size2, reference_roots()[v.size1],
                                  reference_roots()[v.size2], proof);
    }
  }

  TEST_CASE("every inclusion and consistency proof of trees up to 40 leaves verifies and resists mutation") {
    std::vector<Hash> leaves;
    for (int i = 0; i < 40; ++i) {
      std::string record = "record " + std::to_string(i);
      leaves.push_back(merkle::hash_leaf(as_bytes(record)));
    }
    for (std::uint64_t size = 1; size <= leaves.size(); ++size) {
      std::span<const Hash> tree(leaves.data(), size);
      const Hash root = root_of(tree);
      for (std::uint64_t index = 0; index < size; index += (size > 12 ? 5 : 1)) {
        check_inclusion_mutations(index, size, leaves[index], inclusion_proof(tree, index), root);
      }
      for (std::uint64_t old_size = 1; old_size <= size; old_size += (size > 12 ? 3 : 1)) {
        const Hash old_root = root_of(std::span<const Hash>(leaves.data(), old_size));
        check_consistency_mutations(old_size, size, old_root, root, consistency_proof(tree, old_size));
      }
    }
  }

  TEST_CASE("a tree whose first leaves are known only by their frontier gives the same roots and proofs") {
    std::vector<Hash> leaves;
    for (int i = 0; i < 70; ++i) leaves.push_back(merkle::hash_leaf("record " + std::to_string(i)));
    std::size_t unavailable = 0;
    for (std::uint64_t pruned = 1; pruned < 40; ++pruned) {
      TreeFrontier frontier;
      for (std::uint64_t i = 0; i < pruned; ++i) frontier.append(leaves[i]);
      const LeafHashes known(frontier, std::span<const Hash>(leaves).subspan(pruned));
      const LeafHashes whole{std::span<const Hash>(leaves)};
      CHECK(known.pruned_size() == pruned);
      for (std::uint64_t size = pruned; size <= leaves.size(); size += 3) {
        CAPTURE(pruned);
        CAPTURE(size);
        const std::span<const Hash> tree(leaves.data(), size);
        CHECK(known.range_root(0, size) == root_of(tree));
        // Every kept leaf has its proof, the one built from all leaves.
        for (std::uint64_t index = pruned; index < size; ++index)
          CHECK(inclusion_proof(known, size, index) == std::optional(inclusion_proof(tree, index)));
        // Consistency from any tree that holds the whole pruned part; from smaller ones only where no
        // pruned subtree has to be opened, and then the same proof.
        for (std::uint64_t old_size = 1; old_size <= size; ++old_size) {
          const auto proof = consistency_proof(known, size, old_size);
          if (old_size >= pruned) REQUIRE(proof.has_value());
          if (proof) CHECK(*proof == consistency_proof(tree, old_size));
          else ++unavailable;
        }
        // Within the pruned part, only whole pruned subtrees (and trees of them) have roots.
        if (pruned >= 2) CHECK_FALSE(known.range_root(1, 2).has_value());
        CHECK(whole.range_root(0, size) == root_of(tree));
      }
    }
    CHECK(unavailable > 0);  // some old trees do split a pruned subtree: those proofs are refused
  }

  TEST_CASE("a failed root comparison reports expected and calculated roots") {
    auto leaves = leaf_hashes(4);
    auto proof = inclusion_proof(leaves, 1);
    Hash wrong = reference_roots()[3];
    Status status = verify_inclusion(1, 4, leaves[1], proof, wrong);
    REQUIRE_FALSE(status.ok());
    CHECK(status.error().message.find("expected " + hash_hex(wrong)) != std::string::npos);
    CHECK(status.error().message.find("calculated " + hash_hex(reference_roots()[4])) != std::string::npos);
  }
}

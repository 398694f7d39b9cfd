#pragma once
// Proofs an auditor can check offline: a record's inclusion under a signed checkpoint, and the
// consistency of two signed checkpoints (the later log extends the earlier one). Proofs travel as
// JSON documents (docs/AUDIT.md) that carry the signed checkpoint(s) they rest on.

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "crypto/checkpoint.hpp"
#include "crypto/merkle.hpp"
#include "crypto/result.hpp"

namespace sovereign::crypto {

struct InclusionProof {
  Checkpoint checkpoint;
  std::uint64_t leaf_index = 0;
  std::string record;
  std::vector<Hash> path;
};

struct ConsistencyProof {
  Checkpoint old_checkpoint;
  Checkpoint new_checkpoint;
  std::vector<Hash> path;
};

// Inclusion of record `leaf_index` under the latest checkpoint that covers it, or under the
// checkpoint of `tree_size` (one an auditor kept, so that the proof rests on it).
[[nodiscard]] Result<InclusionProof> prove_inclusion(const std::filesystem::path& directory, std::uint64_t leaf_index,
                                                     std::optional<std::uint64_t> tree_size = std::nullopt);
// Consistency between the checkpoints of tree sizes old_size and new_size (new_size 0: the latest).
[[nodiscard]] Result<ConsistencyProof> prove_consistency(const std::filesystem::path& directory,
                                                         std::uint64_t old_size, std::uint64_t new_size);
// The latest checkpoint in the log, for auditors to keep and later prove consistency against.
[[nodiscard]] Result<Checkpoint> latest_checkpoint(const std::filesystem::path& directory);

std::string checkpoint_to_json(const Checkpoint& checkpoint);
// What `audit checkpoint` printed, read back (fields named by their JSON path when wrong).
[[nodiscard]] Result<Checkpoint> checkpoint_from_json(std::string_view json_text);
std::string inclusion_proof_to_json(const InclusionProof& proof);
std::string consistency_proof_to_json(const ConsistencyProof& proof);

// Checks a proof document (either kind) against trusted keys; on success describes what it proves.
// Without `kept` a proof only shows that it is consistent in itself (a rewritten, re-signed log
// proves itself as well): with the checkpoint the auditor kept, the old checkpoint of a consistency
// proof (or the checkpoint of an inclusion proof) must be that one, same tree size and root, and the
// kept checkpoint's signature must check.
[[nodiscard]] Result<std::string> check_proof_document(std::string_view json_text, const TrustedKeys& keys,
                                                       const Checkpoint* kept = nullptr);

}  // namespace sovereign::crypto

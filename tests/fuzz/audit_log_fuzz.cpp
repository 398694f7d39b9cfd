// Fuzz target: audit log segments as an auditor receives them. The input (see AuditInputFlags) is
// written as one or two segment files; verify_log, the LogReader behind `audit query` / `tail -f`,
// latest_checkpoint and the proof builders read them. None may crash, hang or read out of bounds,
// and whatever verify_log accepts must yield, for its first signed record, an inclusion proof that check_proof_document accepts.
#include <cstdlib>
#include <cstring>
#include <optional>

#include "crypto/audit_proof.hpp"
#include "crypto/audit_reader.hpp"
#include "crypto/audit_segment.hpp"
#include "crypto/audit_verifier.hpp"
#include "evidence_keys.hpp"
#include "fuzz_support.hpp"

using namespace sovereign;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  const unsigned char flags = data[0];
  std::string_view rest = fuzz::as_text(data + 1, size - 1);
  std::string_view first = rest;
  std::string_view second;
  if ((flags & fuzz::two_segments) != 0) {
    if (rest.size() < 4) return 0;
    std::uint32_t length = 0;
    std::memcpy(&length, rest.data(), 4);
    rest.remove_prefix(4);
    length = static_cast<std::uint32_t>(std::min<std::size_t>(length, rest.size()));
    first = rest.substr(0, length);
    second = rest.substr(length);
  }
  const auto directory = fuzz::scratch_directory() / "log";
  std::filesystem::remove_all(directory);
  std::filesystem::create_directories(directory);
  const std::uint64_t start = (flags & fuzz::start_at_second) != 0 ? 2 : 1;
  fuzz::write_file(directory / crypto::segment_file_name(start), first);
  if ((flags & fuzz::two_segments) != 0) fuzz::write_file(directory / crypto::segment_file_name(start + 1), second);

  crypto::VerifyOptions options;
  options.require_closed = (flags & fuzz::require_closed) != 0;
  options.pruned_start = (flags & fuzz::pruned_start) != 0;
  const crypto::VerifyReport report = crypto::verify_log(directory, fuzz::trusted_keys(), options);
  (void)report.summary();

  crypto::LogReader reader(directory);
  std::optional<std::uint64_t> first_leaf;  // a pruned log starts past leaf 0
  for (int pass = 0; pass < 2; ++pass) {
    (void)reader.read_new(
        [&](const crypto::LogRecord& record) {
          if (!first_leaf) first_leaf = record.leaf_index;
        },
        [](const crypto::LogCheckpoint&) {});
  }

  auto latest = crypto::latest_checkpoint(directory);
  if (report.ok() && latest && first_leaf && *first_leaf < latest.value().tree_size) {
    auto proof = crypto::prove_inclusion(directory, *first_leaf);
    if (!proof) {
      std::fprintf(stderr, "verify_log accepted the log but prove_inclusion failed: %s\n", proof.error().message.c_str());
      std::abort();
    }
    auto checked = crypto::check_proof_document(crypto::inclusion_proof_to_json(proof.value()), fuzz::trusted_keys());
    if (!checked) {
      std::fprintf(stderr, "verify_log accepted the log but its inclusion proof fails: %s\n",
                   checked.error().message.c_str());
      std::abort();
    }
    (void)crypto::prove_consistency(directory, 1, 0);
  }
  return 0;
}

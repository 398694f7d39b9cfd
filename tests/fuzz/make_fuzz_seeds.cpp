// Writes the seed inputs of audit_log_fuzz and evidence_fuzz into OUT/audit and OUT/evidence: real
// logs, proofs, keyrings, captures and key files made with the fixed keys of evidence_keys.hpp, so
// that the fuzzer starts from documents that pass every check and mutates from there.
// Usage: make_fuzz_seeds OUT
#include <cstdio>
#include <cstring>
#include <future>
#include <iostream>
#include <sstream>

#include "crypto/audit_proof.hpp"
#include "crypto/audit_segment.hpp"
#include "crypto/audit_writer.hpp"
#include "crypto/sealed_capture.hpp"
#include "evidence_keys.hpp"
#include "fuzz_support.hpp"

using namespace sovereign;
namespace fs = std::filesystem;

namespace {

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

[[noreturn]] void fail(const std::string& what) {
  std::cerr << "make_fuzz_seeds: " << what << '\n';
  std::exit(1);
}

// A closed log of `records` records of `record_bytes` bytes each, a checkpoint every `every`.
void write_log(const fs::path& directory, int records, std::size_t record_bytes, std::uint32_t every) {
  fs::remove_all(directory);
  crypto::AuditOptions options;
  options.directory = directory;
  options.durability = crypto::Durability::relaxed;
  options.checkpoint_every_records = every;
  options.segment_max_bytes = 1 << 16;
  auto writer = crypto::AuditWriter::open(options, fuzz::signing_key());
  if (!writer) fail("audit log: " + writer.error().message);
  std::vector<std::future<bool>> written;
  for (int i = 0; i < records; ++i) {
    auto done = std::make_shared<std::promise<bool>>();
    written.push_back(done->get_future());
    std::string record = "{\"kind\":\"decision\",\"request_id\":\"req-" + std::to_string(i) + "\",\"pad\":\"";
    record.append(record_bytes > record.size() + 2 ? record_bytes - record.size() - 2 : 0, 'x');
    record += "\"}";
    writer.value()->append(std::move(record), [done](const crypto::AppendResult& r) { done->set_value(r.ok); });
  }
  for (auto& w : written)
    if (!w.get()) fail("a seed record was not written");
  writer.value()->close();
}

void audit_seed(const fs::path& out, const std::string& name, unsigned char flags, std::string_view first,
                std::string_view second = {}) {
  std::string input(1, static_cast<char>(flags));
  if ((flags & fuzz::two_segments) != 0) {
    const auto length = static_cast<std::uint32_t>(first.size());
    input.append(reinterpret_cast<const char*>(&length), 4);
  }
  input.append(first);
  input.append(second);
  fuzz::write_file(out / name, input);
}

void evidence_seed(const fs::path& out, const std::string& name, fuzz::EvidenceKind kind, std::string_view document) {
  std::string input(1, static_cast<char>(kind));
  input.append(document);
  fuzz::write_file(out / name, input);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: make_fuzz_seeds OUT\n";
    return 2;
  }
  const fs::path out = argv[1];
  const fs::path audit_out = out / "audit";
  const fs::path evidence_out = out / "evidence";
  fs::create_directories(audit_out);
  fs::create_directories(evidence_out);
  const fs::path work = fuzz::scratch_directory();

  // A small one-segment log, and one of two segments (segments are at least 64 KiB).
  const fs::path small = work / "small";
  write_log(small, 7, 90, 2);
  const std::string small_segment = read_file(small / crypto::segment_file_name(1));
  audit_seed(audit_out, "small-closed", fuzz::require_closed, small_segment);
  audit_seed(audit_out, "small-open", 0, small_segment.substr(0, small_segment.size() * 2 / 3));
  const fs::path large = work / "large";
  write_log(large, 24, 4000, 5);
  const std::string first = read_file(large / crypto::segment_file_name(1));
  const std::string second = read_file(large / crypto::segment_file_name(2));
  if (first.empty() || second.empty()) fail("the large log did not rotate into two segments");
  audit_seed(audit_out, "two-segments", fuzz::two_segments | fuzz::require_closed, first, second);
  audit_seed(audit_out, "pruned", fuzz::pruned_start | fuzz::start_at_second, second);

  // Keyring, checkpoint, proofs.
  evidence_seed(evidence_out, "keyring", fuzz::EvidenceKind::keyring,
                crypto::format_public_key(crypto::public_key_of(fuzz::signing_key())) + "\n# comment\n" +
                    crypto::format_public_key(crypto::public_key_of(fuzz::auditor_key())) + "\n");
  auto latest = crypto::latest_checkpoint(small);
  if (!latest) fail("checkpoint: " + latest.error().message);
  evidence_seed(evidence_out, "checkpoint", fuzz::EvidenceKind::checkpoint, crypto::checkpoint_to_json(latest.value()));
  auto inclusion = crypto::prove_inclusion(small, 3);
  if (!inclusion) fail("inclusion proof: " + inclusion.error().message);
  evidence_seed(evidence_out, "inclusion-proof", fuzz::EvidenceKind::proof,
                crypto::inclusion_proof_to_json(inclusion.value()));
  auto consistency = crypto::prove_consistency(small, 2, 0);
  if (!consistency) fail("consistency proof: " + consistency.error().message);
  evidence_seed(evidence_out, "consistency-proof", fuzz::EvidenceKind::proof,
                crypto::consistency_proof_to_json(consistency.value()));

  // A sealed capture.
  crypto::CaptureMetadata metadata{"req-1", "request", 1763856000000};
  auto sealed = crypto::seal_capture(crypto::public_key_of(fuzz::auditor_key()), metadata,
                                     "{\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}");
  if (!sealed) fail("capture: " + sealed.error().message);
  evidence_seed(evidence_out, "capture", fuzz::EvidenceKind::capture, sealed.value());

  // Key files, plain and passphrase-protected.
  const fs::path plain_key = work / "plain.key";
  const fs::path protected_key = work / "protected.key";
  crypto::SecretBytes passphrase(fuzz::key_passphrase.size());
  std::memcpy(passphrase.data(), fuzz::key_passphrase.data(), fuzz::key_passphrase.size());
  if (!crypto::write_secret_key_file(plain_key, fuzz::signing_key(), nullptr, true) ||
      !crypto::write_secret_key_file(protected_key, fuzz::signing_key(), &passphrase, true))
    fail("key files could not be written");
  evidence_seed(evidence_out, "key-file", fuzz::EvidenceKind::key_file, read_file(plain_key));
  evidence_seed(evidence_out, "key-file-passphrase", fuzz::EvidenceKind::key_file, read_file(protected_key));

  fs::remove_all(work);
  std::cout << "make_fuzz_seeds: wrote seeds under " << out << '\n';
  return 0;
}

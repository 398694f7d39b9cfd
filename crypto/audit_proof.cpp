#include "crypto/audit_proof.hpp"

#include <boost/json.hpp>

#include "crypto/audit_reader.hpp"
#include "crypto/file_io.hpp"
#include "crypto/hex.hpp"

namespace sovereign::crypto {

namespace {

namespace json = boost::json;

constexpr std::string_view inclusion_type = "sovereign-inclusion-proof-v1";
constexpr std::string_view consistency_type = "sovereign-consistency-proof-v1";
constexpr std::size_t max_proof_hashes = 128;

// Leaf hashes and checkpoints of a log, for building proofs. A log whose oldest segments were
// pruned starts at a later leaf; the tree state its first header carries stands for the rest.
struct LogIndex {
  TreeFrontier pruned;
  std::vector<Hash> leaves;  // from leaf pruned.size() on
  std::vector<Checkpoint> checkpoints;

  std::uint64_t size() const { return pruned.size() + leaves.size(); }
  LeafHashes tree() const { return LeafHashes(pruned, leaves); }
};

Result<LogIndex> index_log(const std::filesystem::path& directory, std::uint64_t keep_record,
                           std::string* record_out) {
  LogIndex index;
  LogReader reader(directory);
  std::optional<std::uint64_t> first;
  Status status = reader.read_new(
      [&](const LogRecord& record) {
        if (!first) first = record.leaf_index;
        if (record.leaf_index != *first + index.leaves.size()) return;  // a gap: caught by the root check below
        if (record_out != nullptr && record.leaf_index == keep_record) *record_out = std::string(record.bytes);
        index.leaves.push_back(merkle::hash_leaf(record.bytes));
      },
      [&](const LogCheckpoint& checkpoint) { index.checkpoints.push_back(checkpoint.checkpoint); });
  if (!status) return status.error();
  if (index.checkpoints.empty()) return make_error(directory.string() + ": the log holds no checkpoint yet");
  if (const auto& header = reader.first_header(); header && header->first_leaf > 0) {
    Result<TreeFrontier> pruned = TreeFrontier::from_nodes(header->first_leaf, header->frontier);
    if (!pruned) return make_error(directory.string() + ": first segment header: " + pruned.error().message);
    if (first && *first != header->first_leaf) {
      return make_error(directory.string() + ": the first record is numbered " + std::to_string(*first) +
                        ", but the first segment starts at " + std::to_string(header->first_leaf) +
                        "; run 'sovereign audit verify'");
    }
    index.pruned = std::move(pruned.value());
  }
  return index;
}

Status check_matches_log(const LogIndex& index, const Checkpoint& checkpoint) {
  std::optional<Hash> root;
  if (checkpoint.tree_size == 0) root = merkle::empty_root();
  else if (checkpoint.tree_size <= index.size()) root = index.tree().range_root(0, checkpoint.tree_size);
  if (!root || *root != checkpoint.root) {
    return make_error("the log's records do not match its checkpoint at tree size " +
                      std::to_string(checkpoint.tree_size) + "; run 'sovereign audit verify'");
  }
  return {};
}

// Why a proof cannot be built from a pruned log.
Error pruned_error(const LogIndex& index, const std::string& what) {
  return make_error(what + " needs records the log no longer holds: its first " +
                    std::to_string(index.pruned.size()) + " records were pruned with their segments");
}

json::object checkpoint_object(const Checkpoint& checkpoint) {
  return json::object{{"log_id", to_hex(checkpoint.log_id)},
                      {"tree_size", checkpoint.tree_size},
                      {"root", hash_hex(checkpoint.root)},
                      {"time", format_utc_ms(checkpoint.time_ms)},
                      {"time_ms", checkpoint.time_ms},
                      {"key_id", checkpoint.key_id},
                      {"signature", to_hex(checkpoint.signature)}};
}

json::array path_array(const std::vector<Hash>& path) {
  json::array out;
  for (const Hash& hash : path) out.emplace_back(hash_hex(hash));
  return out;
}

// Typed field access that names the JSON path of anything missing or malformed.
class Fields {
 public:
  Fields(const json::object& object, std::string path) : object_(object), path_(std::move(path)) {}

  Result<const json::value*> get(std::string_view key) const {
    const json::value* value = object_.if_contains(key);
    if (value == nullptr) return make_error(path_ + "." + std::string(key) + ": missing");
    return value;
  }
  Result<std::string> string(std::string_view key) const {
    auto value = get(key);
    if (!value) return value.error();
    if (!value.value()->is_string()) return make_error(path_ + "." + std::string(key) + ": expected a string");
    return std::string(value.value()->as_string());
  }
  Result<std::uint64_t> u64(std::string_view key) const {
    auto value = get(key);
    if (!value) return value.error();
    if (value.value()->is_uint64()) return value.value()->as_uint64();
    if (value.value()->is_int64() && value.value()->as_int64() >= 0) {
      return static_cast<std::uint64_t>(value.value()->as_int64());
    }
    return make_error(path_ + "." + std::string(key) + ": expected a non-negative integer");
  }
  template <std::size_t N>
  Status hex(std::string_view key, std::array<std::uint8_t, N>& out) const {
    auto text = string(key);
    if (!text) return text.error();
    if (!from_hex_into(text.value(), out)) {
      return make_error(path_ + "." + std::string(key) + ": expected " + std::to_string(2 * N) + " hex digits");
    }
    return {};
  }
  Result<const json::object*> object(std::string_view key) const {
    auto value = get(key);
    if (!value) return value.error();
    if (!value.value()->is_object()) return make_error(path_ + "." + std::string(key) + ": expected an object");
    return &value.value()->as_object();
  }
  bool has(std::string_view key) const { return object_.if_contains(key) != nullptr; }
  const std::string& path() const { return path_; }

 private:
  const json::object& object_;
  std::string path_;
};

Result<Checkpoint> parse_checkpoint_fields(const Fields& fields) {
  Checkpoint checkpoint;
  if (Status s = fields.hex("log_id", checkpoint.log_id); !s) return s.error();
  auto size = fields.u64("tree_size");
  if (!size) return size.error();
  checkpoint.tree_size = size.value();
  if (Status s = fields.hex("root", checkpoint.root); !s) return s.error();
  auto time = fields.u64("time_ms");
  if (!time) return time.error();
  checkpoint.time_ms = static_cast<std::int64_t>(time.value());
  // `time` repeats time_ms for people and is not signed: a copy that disagrees was edited, and
  // would show whoever reads the file a time the log never signed.
  if (fields.has("time")) {
    auto shown = fields.string("time");
    if (!shown) return shown.error();
    if (const std::string signed_time = format_utc_ms(checkpoint.time_ms); shown.value() != signed_time) {
      return make_error(fields.path() + ".time: '" + shown.value() + "' is not the signed time_ms " +
                        std::to_string(time.value()) + " (" + signed_time + "): the unsigned time field was altered");
    }
  }
  auto key_id = fields.string("key_id");
  if (!key_id) return key_id.error();
  std::array<std::uint8_t, key_id_bytes> id{};
  if (!from_hex_into(key_id.value(), id)) return make_error(fields.path() + ".key_id: expected 16 hex digits");
  checkpoint.key_id = key_id.value();
  if (Status s = fields.hex("signature", checkpoint.signature); !s) return s.error();
  return checkpoint;
}

Result<Checkpoint> parse_checkpoint(const Fields& parent, std::string_view key) {
  auto object = parent.object(key);
  if (!object) return object.error();
  return parse_checkpoint_fields(Fields(*object.value(), parent.path() + "." + std::string(key)));
}

Result<std::vector<Hash>> parse_path(const Fields& fields) {
  auto value = fields.get("path");
  if (!value) return value.error();
  if (!value.value()->is_array()) return make_error("$.path: expected an array of hex hashes");
  const json::array& array = value.value()->as_array();
  if (array.size() > max_proof_hashes) return make_error("$.path: more than 128 hashes");
  std::vector<Hash> path(array.size());
  for (std::size_t i = 0; i < array.size(); ++i) {
    if (!array[i].is_string() || !from_hex_into(array[i].as_string(), path[i])) {
      return make_error("$.path[" + std::to_string(i) + "]: expected 64 hex digits");
    }
  }
  return path;
}

std::string describe(const Checkpoint& checkpoint) {
  return "tree size " + std::to_string(checkpoint.tree_size) + ", root " + hash_hex(checkpoint.root) +
         ", signed by key " + checkpoint.key_id + " at " + format_utc_ms(checkpoint.time_ms);
}

// The proof's checkpoint must be the one the auditor kept: same log, tree size and root, and the
// kept copy's own signature must check (what proves is the auditor's copy, not the log's).
// prove_command: the command that makes a proof from the kept tree size, less the size.
Status matches_kept(const Checkpoint& proof_checkpoint, const Checkpoint& kept, const TrustedKeys& keys,
                    const std::string& which, const std::string& prove_command) {
  if (Status signature = keys.verify(kept); !signature) {
    return make_error("the kept checkpoint " + signature.error().message);
  }
  if (kept.log_id != proof_checkpoint.log_id) {
    return make_error("the kept checkpoint belongs to another log (log id " + to_hex(kept.log_id) + ") than the " +
                      which + " (log id " + to_hex(proof_checkpoint.log_id) + ")");
  }
  if (kept.tree_size != proof_checkpoint.tree_size) {
    return make_error("the " + which + " is at tree size " + std::to_string(proof_checkpoint.tree_size) +
                      ", the kept checkpoint at " + std::to_string(kept.tree_size) +
                      "; ask for a proof from the kept tree size (" + prove_command + " " +
                      std::to_string(kept.tree_size) + ")");
  }
  if (kept.root != proof_checkpoint.root) {
    return make_error("the " + which + " has root " + hash_hex(proof_checkpoint.root) +
                      ", but the kept checkpoint of the same tree size signed " + hash_hex(kept.root) +
                      ": the log was rewritten and re-signed since that checkpoint was kept");
  }
  return {};
}

}  // namespace

Result<InclusionProof> prove_inclusion(const std::filesystem::path& directory, std::uint64_t leaf_index,
                                       std::optional<std::uint64_t> tree_size) {
  InclusionProof proof;
  Result<LogIndex> index = index_log(directory, leaf_index, &proof.record);
  if (!index) return index.error();
  if (leaf_index >= index->size()) {
    return make_error("record " + std::to_string(leaf_index) + " does not exist; the log has " +
                      std::to_string(index->size()) + " records");
  }
  if (leaf_index < index->pruned.size()) {
    return make_error("record " + std::to_string(leaf_index) + " was pruned: the log now starts at record " +
                      std::to_string(index->pruned.size()));
  }
  const Checkpoint* covering = nullptr;
  for (const Checkpoint& checkpoint : index->checkpoints) {
    if (tree_size ? checkpoint.tree_size == *tree_size && covering == nullptr : checkpoint.tree_size > leaf_index)
      covering = &checkpoint;
  }
  if (tree_size && covering == nullptr) {
    return make_error("no checkpoint with tree size " + std::to_string(*tree_size) + " in the log");
  }
  if (tree_size && leaf_index >= *tree_size) {
    return make_error("record " + std::to_string(leaf_index) + " is not in the tree of size " +
                      std::to_string(*tree_size) + "; prove it under a later checkpoint");
  }
  if (covering == nullptr) {
    return make_error("record " + std::to_string(leaf_index) + " is not covered by a checkpoint yet; try again after the next one");
  }
  if (Status matches = check_matches_log(index.value(), *covering); !matches) return matches.error();
  auto path = inclusion_proof(index->tree(), covering->tree_size, leaf_index);
  if (!path) return pruned_error(index.value(), "the inclusion proof of record " + std::to_string(leaf_index));
  proof.checkpoint = *covering;
  proof.leaf_index = leaf_index;
  proof.path = std::move(*path);
  return proof;
}

Result<ConsistencyProof> prove_consistency(const std::filesystem::path& directory, std::uint64_t old_size,
                                           std::uint64_t new_size) {
  Result<LogIndex> index = index_log(directory, 0, nullptr);
  if (!index) return index.error();
  const Checkpoint* old_checkpoint = nullptr;
  const Checkpoint* new_checkpoint = nullptr;
  for (const Checkpoint& checkpoint : index->checkpoints) {
    if (checkpoint.tree_size == old_size && old_checkpoint == nullptr) old_checkpoint = &checkpoint;
    if (new_size == 0 || checkpoint.tree_size == new_size) new_checkpoint = &checkpoint;
  }
  if (old_checkpoint == nullptr) return make_error("no checkpoint with tree size " + std::to_string(old_size));
  if (new_checkpoint == nullptr) return make_error("no checkpoint with tree size " + std::to_string(new_size));
  if (old_size > new_checkpoint->tree_size) {
    return make_error("tree size " + std::to_string(old_size) + " is newer than " +
                      std::to_string(new_checkpoint->tree_size));
  }
  if (Status matches = check_matches_log(index.value(), *new_checkpoint); !matches) return matches.error();
  auto path = consistency_proof(index->tree(), new_checkpoint->tree_size, old_size);
  if (!path) return pruned_error(index.value(), "the consistency proof from tree size " + std::to_string(old_size));
  return ConsistencyProof{*old_checkpoint, *new_checkpoint, std::move(*path)};
}

Result<Checkpoint> latest_checkpoint(const std::filesystem::path& directory) {
  std::optional<Checkpoint> latest;
  LogReader reader(directory);
  Status status = reader.read_new([](const LogRecord&) {}, [&](const LogCheckpoint& c) { latest = c.checkpoint; });
  if (!status) return status.error();
  if (!latest) return make_error(directory.string() + ": the log holds no checkpoint yet");
  return *latest;
}

std::string checkpoint_to_json(const Checkpoint& checkpoint) {
  json::object object{{"type", "sovereign-checkpoint-v1"}};
  for (const auto& field : checkpoint_object(checkpoint)) object.emplace(field.key(), field.value());
  return json::serialize(object);
}

std::string inclusion_proof_to_json(const InclusionProof& proof) {
  return json::serialize(json::object{{"type", inclusion_type},
                                      {"leaf_index", proof.leaf_index},
                                      {"record_base64", to_base64(as_bytes(proof.record))},
                                      {"checkpoint", checkpoint_object(proof.checkpoint)},
                                      {"path", path_array(proof.path)}});
}

std::string consistency_proof_to_json(const ConsistencyProof& proof) {
  return json::serialize(json::object{{"type", consistency_type},
                                      {"old_checkpoint", checkpoint_object(proof.old_checkpoint)},
                                      {"new_checkpoint", checkpoint_object(proof.new_checkpoint)},
                                      {"path", path_array(proof.path)}});
}

Result<Checkpoint> checkpoint_from_json(std::string_view json_text) {
  boost::system::error_code ec;
  json::value document = json::parse(json_text, ec);
  if (ec) return make_error("not JSON: " + ec.message());
  if (!document.is_object()) return make_error("$: expected an object");
  return parse_checkpoint_fields(Fields(document.as_object(), "$"));
}

Result<std::string> check_proof_document(std::string_view json_text, const TrustedKeys& keys, const Checkpoint* kept) {
  boost::system::error_code ec;
  json::value document = json::parse(json_text, ec);
  if (ec) return make_error("not JSON: " + ec.message());
  if (!document.is_object()) return make_error("$: expected an object");
  Fields fields(document.as_object(), "$");
  auto type = fields.string("type");
  if (!type) return type.error();
  auto path = parse_path(fields);
  if (!path) return path.error();

  if (type.value() == inclusion_type) {
    auto checkpoint = parse_checkpoint(fields, "checkpoint");
    if (!checkpoint) return checkpoint.error();
    auto index = fields.u64("leaf_index");
    if (!index) return index.error();
    auto record_text = fields.string("record_base64");
    if (!record_text) return record_text.error();
    auto record = from_base64(record_text.value());
    if (!record) return make_error("$.record_base64: not base64");
    if (Status signature = keys.verify(checkpoint.value()); !signature) return make_error("checkpoint " + signature.error().message);
    const Hash leaf = merkle::hash_leaf(std::span<const std::uint8_t>(record->data(), record->size()));
    if (Status included = verify_inclusion(index.value(), checkpoint->tree_size, leaf, path.value(), checkpoint->root);
        !included) {
      return make_error("record " + std::to_string(index.value()) + " is not proven: " + included.error().message);
    }
    if (kept != nullptr) {
      if (Status same = matches_kept(checkpoint.value(), *kept, keys, "proof's checkpoint",
                                       "audit prove DIR " + std::to_string(index.value()) + " --tree-size"); !same) return same.error();
    }
    return "valid: record " + std::to_string(index.value()) + " is in the log under the checkpoint at " +
           describe(checkpoint.value()) + "\nrecord: " + std::string(record->begin(), record->end());
  }
  if (type.value() == consistency_type) {
    auto old_checkpoint = parse_checkpoint(fields, "old_checkpoint");
    if (!old_checkpoint) return old_checkpoint.error();
    auto new_checkpoint = parse_checkpoint(fields, "new_checkpoint");
    if (!new_checkpoint) return new_checkpoint.error();
    if (old_checkpoint->log_id != new_checkpoint->log_id) return make_error("the two checkpoints belong to different logs");
    if (Status s = keys.verify(old_checkpoint.value()); !s) return make_error("old checkpoint " + s.error().message);
    if (Status s = keys.verify(new_checkpoint.value()); !s) return make_error("new checkpoint " + s.error().message);
    if (Status consistent = verify_consistency(old_checkpoint->tree_size, new_checkpoint->tree_size,
                                               old_checkpoint->root, new_checkpoint->root, path.value());
        !consistent) {
      return make_error("not consistent: " + consistent.error().message);
    }
    if (kept == nullptr) {
      return "valid: the log at " + describe(new_checkpoint.value()) + "\nextends the log at " +
             describe(old_checkpoint.value()) +
             "\n(the proof is consistent in itself; pass --checkpoint KEPT.json to check that it extends the "
             "checkpoint you kept)";
    }
    if (Status same = matches_kept(old_checkpoint.value(), *kept, keys, "proof's old checkpoint",
                                   "audit prove-consistency DIR --from"); !same) {
      return same.error();
    }
    return "valid: the log at " + describe(new_checkpoint.value()) + "\nextends the checkpoint you kept, at " +
           describe(old_checkpoint.value());
  }
  return make_error("$.type: unknown proof type '" + type.value() + "'");
}

}  // namespace sovereign::crypto

#include "crypto/audit_verifier.hpp"

#include <utility>

#include "crypto/audit_segment.hpp"
#include "crypto/digest.hpp"
#include "crypto/file_io.hpp"

namespace sovereign::crypto {

namespace {

// A parser error without its leading "offset N: ": the finding carries the offset already.
std::string without_offset(const std::string& message) {
  if (!message.starts_with("offset ")) return message;
  const std::size_t colon = message.find(": ");
  return colon == std::string::npos ? message : message.substr(colon + 2);
}

// The record and checkpoint frames of a segment that could not be checked (foreign log, damaged
// header...), as far as its framing can be read: they are records and checkpoints of the log that
// are not valid.
DamagedRest unchecked_frames(std::string_view bytes) {
  DamagedRest unchecked;
  if (bytes.size() < segment_magic.size()) return unchecked;
  FrameParser parser(bytes);
  while (std::optional<Frame> frame = parser.next()) {
    if (frame->tag == FrameTag::record) ++unchecked.records;
    if (frame->tag == FrameTag::checkpoint) ++unchecked.checkpoints;
  }
  return unchecked;
}

// State carried from one segment to the next.
class LogVerifier {
 public:
  LogVerifier(const TrustedKeys& keys, VerifyReport& report, VerifyOptions options)
      : keys_(keys), report_(report), options_(options) {}

  void verify_segment(std::uint64_t expected_index, std::uint64_t index,
                      const std::filesystem::path& path, bool last) {
    name_ = path.filename().string();
    segment_failed_ = false;
    previous_ = std::exchange(previous_closed_, std::nullopt);
    // A gap reported at the end of the previous segment (cut short), or below (segments missing).
    std::optional<std::size_t> gap = std::exchange(gap_failure_, std::nullopt);
    previous_damaged_ = std::exchange(damaged_rest_records_, std::nullopt);
    ++report_.segments_total;
    if (index != expected_index && options_.pruned_start && report_.segments_total == 1) {
      pruned_segments_ = index - 1;
    } else if (index != expected_index) {
      // The missing segments are segments of the log (none of them valid); the one found after them
      // is reported at, but not blamed for, the gap its header will measure.
      report_.segments_total += index - expected_index;
      // There is no segment 0 to jump from: a log missing its start says where it starts, and how a
      // log pruned under a retention policy is verified.
      const std::string where =
          expected_index == 1 ? "the log starts at segment " + std::to_string(index) +
                                    " (if the oldest segments were deleted under a retention policy, verify with --pruned)"
                              : "the log jumps from segment " + std::to_string(expected_index - 1) + " to " +
                                    std::to_string(index);
      report_.failures.push_back({name_, 0, "segment " + segment_file_name(expected_index) +
                                                (index > expected_index + 1 ? " to " + segment_file_name(index - 1)
                                                                            : std::string()) +
                                                " missing: " + where});
      gap = report_.failures.size() - 1;
      previous_damaged_.reset();
    }
    Result<std::string> bytes = read_small_file(path, max_segment_file_bytes);
    if (!bytes) {
      fail(0, bytes.error().message);
      finish_segment();
      return;
    }
    // A segment that cannot be checked still holds records: they count, as not valid.
    auto reject = [&] {
      const DamagedRest unchecked_rest = unchecked_frames(bytes.value());
      const std::uint64_t unchecked = unchecked_rest.records;
      report_.records_total += unchecked;
      report_.checkpoints_total += unchecked_rest.checkpoints;
      // The next segment's header measures the records this one holds, as for a damaged segment.
      gap_failure_ = report_.failures.size() - 1;
      damaged_rest_records_ = unchecked;
      finish_segment();
    };
    FrameParser parser(bytes.value());
    if (Status magic = parser.check_magic(); !magic) {
      fail(0, without_offset(magic.error().message));
      return reject();
    }
    std::optional<Frame> first = parser.next();
    if (!first || first->tag != FrameTag::header) {
      fail(segment_magic.size(), first ? "first frame is not a segment header"
                                       : without_offset(parser.error().value_or("no segment header")));
      return reject();
    }
    if (!check_header(*first, index, gap)) return reject();
    std::uint64_t segment_records = 0;
    bool ended = false;
    std::optional<std::uint64_t> end_offset;
    while (std::optional<Frame> frame = parser.next()) {
      if (ended) {
        fail(frame->offset, "frame after the segment's end frame (data appended to a closed segment)");
        break;
      }
      switch (frame->tag) {
        case FrameTag::record:
          if (pending_records_ == 0) pending_first_offset_ = frame->offset;
          frontier_.append(merkle::hash_leaf(frame->payload));
          ++pending_records_;
          ++segment_records;
          ++report_.records_total;
          check_kept(frame->offset);
          break;
        case FrameTag::checkpoint: check_checkpoint(*frame); break;
        case FrameTag::end: {
          ended = true;
          // Records deleted (negative: inserted) in this segment were reported at the checkpoint
          // after them; the end frame's count is compared as if they were still there.
          const std::uint64_t count_reported = tree_size() - frontier_.size();
          Result<SegmentEnd> end = decode_end(frame->payload);
          end_offset = frame->offset;
          if (!end) {
            fail(frame->offset, end.error().message);
          } else if (end->segment_index != index || end->record_count != segment_records + count_reported ||
                     end->tree_size != tree_size()) {
            fail(frame->offset, "end frame says segment " + std::to_string(end->segment_index) + " with " +
                                    std::to_string(end->record_count) + " records ending at tree size " +
                                    std::to_string(end->tree_size) + ", found segment " + std::to_string(index) +
                                    " with " + std::to_string(segment_records + count_reported) +
                                    " records ending at " + std::to_string(tree_size()));
          }
          break;
        }
        case FrameTag::header: fail(frame->offset, "a second segment header inside the segment"); break;
      }
    }
    if (ended && parser.zero_tail_bytes() > 0) {
      // The writer cuts its preallocated zeros off when it closes a segment, and before it starts the
      // next one: only a crash between the end frame and that cut leaves them, in the last segment.
      const std::string zeros = with_thousands(parser.zero_tail_bytes()) + " zero bytes after the segment's end frame";
      if (last) {
        report_.notes.push_back(name_ + " offset " + std::to_string(parser.offset()) + ": " + zeros +
                                " (preallocated space the writer stopped before cutting; it cuts it on restart)");
      } else {
        fail(parser.offset(), zeros + " (a closed segment ends with its end frame, and a later segment was "
                                      "started after it was cut: zeros were appended to it)");
      }
    }
    if (parser.error()) {
      // A partial frame followed by a frame of this log is not where a writer stopped: its length
      // field was altered, and the rest of the segment is damaged, not cut off.
      const std::optional<std::uint64_t> later_frame =
          parser.stopped_on_truncation() ? find_log_frame(bytes.value(), 0, parser.offset() + 1, log_id_, index)
                                         : std::nullopt;
      if (last && parser.stopped_on_truncation() && !later_frame && !ended && !options_.require_closed) {
        report_.notes.push_back(name_ + " offset " + std::to_string(parser.offset()) +
                                ": the last segment ends in a partial frame (writer stopped mid-write); " +
                                "the writer cuts it on restart");
      } else if (parser.stopped_on_truncation() && !later_frame) {
        fail(parser.offset(), without_offset(*parser.error()) + " (segment truncated)");
        gap_failure_ = report_.failures.size() - 1;
      } else {
        fail(parser.offset(), without_offset(*parser.error()) +
                                  (later_frame ? ", but a checkpoint or end frame of this log follows at offset " +
                                                     std::to_string(*later_frame) +
                                                     ": the frame's length field was altered (a crash leaves a "
                                                     "partial frame only at the very end of what was written)"
                                               : std::string()) +
                                  "; the rest of the segment cannot be read");
        reject_rest(bytes.value(), parser.offset(), index);
      }
    } else if (!ended) {
      if (last && !options_.require_closed) {
        report_.notes.push_back(name_ + ": the last segment is open (writer running, or it stopped " +
                                "without closing the log)");
      } else {
        fail(parser.offset(), "segment ends without its end frame: truncated at offset " +
                                  std::to_string(parser.offset()));
        gap_failure_ = report_.failures.size() - 1;
      }
    } else if (pending_records_ > 0) {
      // A closed segment ends with a checkpoint and then its end frame: records after its last
      // checkpoint mean that checkpoint was removed (or records were added before the end frame).
      fail(pending_first_offset_, with_thousands(pending_records_) + " record(s) from offset " +
                                      std::to_string(pending_first_offset_) +
                                      " are not covered by a checkpoint, but the segment is closed: a closed " +
                                      "segment ends with a checkpoint and then its end frame, so its closing " +
                                      "checkpoint was removed or records were added after it");
      settle_pending();
    }
    finish_segment();
    // What the next segment's header is measured against: a segment that ends with an end frame
    // agreeing with its records, found valid so far.
    previous_closed_ = std::nullopt;
    if (ended && end_offset && !segment_failed_ && anchored_) previous_closed_ = ClosedSegment{name_, *end_offset};
  }

  void finish_log() {
    if (!anchored_) note_unanchored("");
    if (const auto& kept = options_.kept_checkpoint; kept && !kept_checked_) {
      if (std::optional<std::string> forged = kept_not_authentic(*kept)) {
        report_.failures.push_back({name_, 0, kept_where(*kept) + *forged});
      } else {
        report_.failures.push_back(
            {name_, 0, "the log holds " + with_thousands(tree_size()) + " records, but the kept checkpoint of " +
                           format_utc_ms(kept->time_ms) + " signed " + with_thousands(kept->tree_size) +
                           ": records were removed from the end of the log, or whole segments from its end"});
      }
    }
    report_.unsigned_records = pending_records_;
    report_.records_total -= pending_records_;
    if (pending_records_ > 0) {
      const std::string text = with_thousands(pending_records_) +
                               " record(s) after the last checkpoint are not covered by a signature";
      if (options_.require_closed) {
        report_.failures.push_back({name_, pending_first_offset_, text});
      } else {
        report_.notes.push_back(text + " yet");
      }
    }
  }

 private:
  bool check_header(const Frame& frame, std::uint64_t index, std::optional<std::size_t> gap) {
    Result<SegmentHeader> header = decode_header(frame.payload);
    if (!header) {
      fail(frame.offset, header.error().message);
      return false;
    }
    if (header->segment_index != index) {
      fail(frame.offset, "header names segment " + std::to_string(header->segment_index) +
                             ", but the file name says " + std::to_string(index) + " (segments renamed or swapped)");
    }
    if (!have_log_id_) {
      log_id_ = header->log_id;
      have_log_id_ = true;
    } else if (header->log_id != log_id_) {
      fail(frame.offset, "segment belongs to another audit log (log id " + to_hex(header->log_id) + ")");
      return false;
    }
    if (anchored_ && header->first_leaf == frontier_.size() && header->frontier == frontier_.nodes()) {
      check_kept(frame.offset);  // a kept checkpoint of this size (0 for a new log) is checked here
      return true;
    }
    // Continue from the header's own tree state, so later segments are still checked against
    // their signed checkpoints.
    Result<TreeFrontier> resumed = TreeFrontier::from_nodes(header->first_leaf, header->frontier);
    if (!resumed) {
      fail(frame.offset, resumed.error().message);
      return false;
    }
    const bool pruned = pruned_segments_ > 0 && report_.segments_total == 1;
    if (pruned) {
      const std::string which = pruned_segments_ == 1 ? "segment " + segment_file_name(1) + " was"
                                                      : "segments " + segment_file_name(1) + " to " +
                                                            segment_file_name(pruned_segments_) + " were";
      report_.notes.push_back(which + " pruned: the log's first " + with_thousands(header->first_leaf) +
                              " records are not here; the checkpoints below sign roots that cover them");
    } else if (!anchored_ && last_signed_ && last_signed_->tree_size == header->first_leaf &&
               last_signed_->root == resumed->root()) {
      // After a modification reported above: the header's tree state is the one the last signed
      // checkpoint commits to, so the records from here on are checked in full again.
      note_unanchored(name_);
    } else if (explains_gap(header.value(), gap)) {
      // Records lost with a segment reported missing or truncated just before: the same fault, so
      // it is told once, at the gap, with the number of records it took.
    } else if (!anchored_) {
      note_unanchored("");
      fail(frame.offset, "segment continues from tree size " + std::to_string(header->first_leaf) +
                             " with a tree state that the last signed checkpoint before it (" +
                             (last_signed_ ? "tree size " + std::to_string(last_signed_->tree_size) : "none") +
                             ") does not commit to (a segment was dropped, or records deleted, inserted or " +
                             "modified before it)");
    } else if (header->first_leaf > frontier_.size() && previous_) {
      // The segment before ends with an end frame matching its records, yet records are missing
      // after them: that segment was cut at a frame boundary and its (unsigned) end frame rewritten
      // to match. Told where the records went missing, with how many.
      const ClosedSegment& cut = *previous_;
      report_.failures.push_back(
          {cut.name, cut.end_offset,
           "segment ends at tree size " + with_thousands(frontier_.size()) + " (its end frame agrees), but " + name_ +
               " continues from tree size " + with_thousands(header->first_leaf) + ", so " +
               with_thousands(header->first_leaf - frontier_.size()) + " record(s) after tree size " +
               with_thousands(frontier_.size()) + " are not in the log: this segment was cut short and its end " +
               "frame rewritten to match what is left"});
      if (report_.segments_valid > 0) --report_.segments_valid;  // it was counted valid when it was read
    } else if (header->first_leaf != frontier_.size()) {
      fail(frame.offset, "segment continues from tree size " + std::to_string(header->first_leaf) +
                             ", but " + std::to_string(frontier_.size()) +
                             " records precede it (a segment was dropped, or records deleted or inserted before it)");
    } else if (report_.segments_total > 1) {
      fail(frame.offset, "segment continues from tree size " + std::to_string(header->first_leaf) +
                             ", as many records as precede it, but the records before it differ from those the " +
                             "segment was started after (earlier records modified)");
    }
    frontier_ = std::move(resumed.value());
    pending_records_ = 0;
    anchored_ = true;
    if (pruned) check_kept_against_pruning(frame.offset);
    check_kept(frame.offset);
    return true;
  }

  // A segment header after a gap reported above (missing segments, or a segment cut short) that
  // starts past the records read: the header measures the gap, and the report of it says how many
  // records went with it.
  bool explains_gap(const SegmentHeader& header, std::optional<std::size_t> gap) {
    const std::optional<std::uint64_t> damaged = previous_damaged_;
    if (!gap || header.first_leaf <= tree_size()) return false;
    const std::uint64_t missing = header.first_leaf - tree_size();
    std::string& message = report_.failures[*gap].message;
    message += "; " + name_ + " continues from tree size " + with_thousands(header.first_leaf) + ", so " +
               with_thousands(missing) + " record(s) after tree size " + with_thousands(tree_size());
    if (!damaged) {
      message += " are not in the log";
      return true;
    }
    // The next header says how many records the damaged segment holds; they count as not valid.
    report_.records_total += missing - std::min(missing, *damaged);
    message += " are in this damaged segment, where they cannot be read (not deleted: they count as records "
               "that are not valid)";
    return true;
  }

  // The rest of a segment from `offset` on, where its framing broke, cannot be read: the records
  // in it count as not valid, as far as the checkpoint and end frames of this log found in it tell
  // how many there are, and the next segment's header is measured against it as a damaged segment.
  void reject_rest(std::string_view bytes, std::uint64_t offset, std::uint64_t index) {
    const DamagedRest damaged = read_damaged_rest(bytes, 0, offset, log_id_, index, tree_size());
    const std::uint64_t rest = damaged.records;
    report_.records_total += rest;
    report_.checkpoints_total += damaged.checkpoints;
    // The records read since the last checkpoint are followed by checkpoints that cannot be checked.
    if (rest > 0) settle_pending();
    gap_failure_ = report_.failures.size() - 1;
    damaged_rest_records_ = rest;
  }

  // A kept checkpoint inside the pruned records cannot be compared with what is left; one at the
  // pruning point is compared with the first header's tree state at once.
  void check_kept_against_pruning(std::uint64_t offset) {
    const auto& kept = options_.kept_checkpoint;
    if (!kept) return;
    if (kept->tree_size < frontier_.size()) {
      kept_checked_ = true;
      if (std::optional<std::string> forged = kept_not_authentic(*kept)) return fail(offset, kept_where(*kept) + *forged);
      fail(offset, "the kept checkpoint of " + format_utc_ms(kept->time_ms) + " (tree size " +
                       with_thousands(kept->tree_size) + ") lies in the pruned segments, so it cannot be checked "
                       "against this log; keep a checkpoint from after the pruning point");
      return;
    }
    check_kept(offset);
  }

  void check_checkpoint(const Frame& frame) {
    ++report_.checkpoints_total;
    Result<Checkpoint> checkpoint = decode_checkpoint(frame.payload);
    if (!checkpoint) {
      fail(frame.offset, checkpoint.error().message);
      settle_pending();
      return;
    }
    const std::string where = "checkpoint (tree size " + std::to_string(checkpoint->tree_size) + "): ";
    const std::uint64_t size = tree_size();
    // Signed by a trusted key for this log: after a mismatch, the tree size it signs is the base
    // for the records after it.
    bool trusted = true;
    if (checkpoint->log_id != log_id_) {
      fail(frame.offset, where + "belongs to another audit log (log id " + to_hex(checkpoint->log_id) + ")");
      trusted = false;
    }
    if (Status signature = keys_.verify(checkpoint.value()); !signature) {
      fail(frame.offset, where + signature.error().message);
      trusted = false;
    }
    bool valid = trusted;
    const bool replay = checkpoint->tree_size < size && checkpoint->tree_size <= last_checkpoint_size_ &&
                        last_checkpoint_size_ > 0;
    const std::string since_previous = std::to_string(pending_records_) +
                                       " record(s) since the previous checkpoint (from offset " +
                                       std::to_string(pending_records_ > 0 ? pending_first_offset_ : frame.offset) +
                                       " to offset " + std::to_string(frame.offset) + ")";
    if (checkpoint->tree_size != size) {
      fail(frame.offset, where + std::to_string(size) + " records precede it" +
                             (replay ? "; an older checkpoint was replayed here"
                                     : "; records were deleted or inserted before it, among the " + since_previous));
      valid = false;
      if (trusted && !replay) lose_anchor(checkpoint->tree_size);
    } else if (!anchored_) {
      // The roots signed after a modification cover the modified records: only the tree size,
      // signature and time of this checkpoint can be checked, and its records are not counted valid.
    } else if (Hash root = frontier_.root(); root != checkpoint->root) {
      fail(frame.offset, where + "root mismatch: expected " + hash_hex(checkpoint->root) + ", calculated " +
                             hash_hex(root) + "; the " + since_previous + " were modified, swapped or reordered");
      valid = false;
      if (trusted) lose_anchor(checkpoint->tree_size);
    }
    if (checkpoint->time_ms < last_checkpoint_time_) {
      fail(frame.offset, where + "time " + format_utc_ms(checkpoint->time_ms) +
                             " is earlier than the previous checkpoint's; an older checkpoint was replayed here");
      valid = false;
    }
    if (valid) {
      ++report_.checkpoints_valid;
      if (anchored_) report_.records_valid += pending_records_;
      last_checkpoint_size_ = checkpoint->tree_size;
      last_checkpoint_time_ = checkpoint->time_ms;
    }
    if (trusted && !replay) last_signed_ = SignedTree{checkpoint->tree_size, checkpoint->root};
    if (!anchored_) signed_base_ = trusted && !replay ? checkpoint->tree_size : size;
    pending_records_ = 0;
  }

  // The tree size the log has reached: the records counted, or after a deletion or insertion the
  // size its last signed checkpoint gives plus the records since, so each is reported once.
  std::uint64_t tree_size() const { return anchored_ ? frontier_.size() : signed_base_ + pending_records_; }

  // After a root or size mismatch at a checkpoint the log's own signature vouches for: the
  // computed tree no longer matches the signed one, so the roots of later checkpoints cannot be
  // compared until a segment header carries a tree state a signed checkpoint commits to.
  void lose_anchor(std::uint64_t signed_size) {
    if (!anchored_) return;
    anchored_ = false;
    unanchored_after_ = signed_size;
    unanchored_segment_ = name_;
  }

  // Says which records were checked only by the sizes and signatures of their checkpoints;
  // resumed_at: the segment whose header re-anchored the check ("" for none).
  void note_unanchored(const std::string& resumed_at) {
    report_.notes.push_back(
        "after the mismatch in " + unanchored_segment_ + " (tree size " + with_thousands(unanchored_after_) +
        "), the later checkpoints' roots cover the modified records, so the records after it were checked only " +
        "against their checkpoints' tree sizes and signatures and are not counted valid" +
        (resumed_at.empty() ? std::string(" (to the end of the log)")
                            : "; checked in full again from " + resumed_at +
                                  ", whose header carries the tree state the checkpoint at tree size " +
                                  with_thousands(last_signed_->tree_size) + " signs"));
  }

  void settle_pending() {
    if (!anchored_) signed_base_ += pending_records_;
    pending_records_ = 0;
  }

  // Once the tree reaches the kept checkpoint's size, its root must be the one signed then (after a
  // deletion or insertion reported above, the records as they are cannot give that root either).
  void check_kept(std::uint64_t offset) {
    const auto& kept = options_.kept_checkpoint;
    if (!kept || kept_checked_ || tree_size() != kept->tree_size) return;
    kept_checked_ = true;
    if (std::optional<std::string> forged = kept_not_authentic(*kept)) return fail(offset, kept_where(*kept) + *forged);
    if (Hash root = frontier_.root(); root != kept->root)
      fail(offset, kept_where(*kept) + "root mismatch: expected " + hash_hex(kept->root) + ", calculated " +
                       hash_hex(root) + "; the log up to this record was rewritten since that checkpoint was kept");
  }

  // What makes the kept checkpoint itself untrustworthy (another log's, or not validly signed by a
  // trusted key). Checked before its tree size is compared with the log's, wherever that happens, so
  // that an edited or forged kept file is reported as such, never as records cut from the log.
  std::optional<std::string> kept_not_authentic(const Checkpoint& kept) const {
    if (have_log_id_ && kept.log_id != log_id_) return "it belongs to another audit log";
    if (Status signature = keys_.verify(kept); !signature) return signature.error().message;
    return std::nullopt;
  }

  static std::string kept_where(const Checkpoint& kept) {
    return "the kept checkpoint of " + format_utc_ms(kept.time_ms) + " (tree size " + with_thousands(kept.tree_size) +
           "): ";
  }

  void fail(std::uint64_t offset, std::string message) {
    segment_failed_ = true;
    report_.failures.push_back({name_, offset, std::move(message)});
  }

  void finish_segment() {
    if (!segment_failed_) ++report_.segments_valid;
  }

  const TrustedKeys& keys_;
  VerifyReport& report_;
  const VerifyOptions options_;
  std::string name_;
  bool segment_failed_ = false;
  bool have_log_id_ = false;
  LogId log_id_{};
  TreeFrontier frontier_;
  std::uint64_t pending_records_ = 0;
  std::uint64_t pending_first_offset_ = 0;
  std::uint64_t last_checkpoint_size_ = 0;
  std::int64_t last_checkpoint_time_ = 0;
  bool kept_checked_ = false;
  // False after a mismatch at a trusted checkpoint, until a segment header re-anchors the check.
  bool anchored_ = true;
  std::uint64_t signed_base_ = 0;       // while not anchored: the tree size of the last checkpoint
  std::uint64_t unanchored_after_ = 0;  // the signed tree size where the mismatch was found
  std::string unanchored_segment_;
  struct SignedTree {
    std::uint64_t tree_size = 0;
    Hash root{};
  };
  std::optional<SignedTree> last_signed_;  // the latest checkpoint signed by a trusted key, not replayed
  std::uint64_t pruned_segments_ = 0;  // with pruned_start: segments missing before the first one here
  // The failure that reported a segment cut short or damaged, for the next segment's header to measure.
  std::optional<std::size_t> gap_failure_;
  // After a segment that could not be read to its end: the records counted in what was not read;
  // previous_damaged_ holds it while the next segment is read.
  std::optional<std::uint64_t> damaged_rest_records_;
  std::optional<std::uint64_t> previous_damaged_;
  struct ClosedSegment {
    std::string name;
    std::uint64_t end_offset = 0;
  };
  std::optional<ClosedSegment> previous_closed_;  // the segment just read, when it was closed and valid
  std::optional<ClosedSegment> previous_;         // the same, while the next one is read
};

}  // namespace

std::string with_thousands(std::uint64_t value) {
  std::string digits = std::to_string(value);
  std::string out;
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out.push_back(',');
    out.push_back(digits[i]);
  }
  return out;
}

std::string VerifyReport::summary() const {
  return with_thousands(segments_valid) + "/" + with_thousands(segments_total) + " segments valid, " +
         with_thousands(records_valid) + "/" + with_thousands(records_total) + " records valid, " +
         with_thousands(checkpoints_valid) + "/" + with_thousands(checkpoints_total) + " checkpoints valid";
}

VerifyReport verify_log(const std::filesystem::path& directory, const TrustedKeys& keys,
                        VerifyOptions options) {
  VerifyReport report;
  auto listing = scan_segments(directory);
  if (!listing) {
    report.failures.push_back({"", 0, listing.error().message});
    return report;
  }
  // A file that passes for a segment under another spelling is not read, and never silently skipped.
  for (const auto& file : listing->misnamed) {
    ++report.segments_total;
    report.failures.push_back({file.filename().string(), 0, misnamed_segment_problem(file)});
  }
  const auto* segments = &listing->segments;
  if (segments->empty()) {
    report.failures.push_back({"", 0, directory.string() + ": no audit segments (segment-NNNNNN.log) found"});
    return report;
  }
  if (keys.empty()) {
    report.failures.push_back({"", 0, "no trusted audit-signing public key given"});
    return report;
  }
  LogVerifier verifier(keys, report, options);
  std::uint64_t expected = 1;
  for (std::size_t i = 0; i < segments->size(); ++i) {
    const auto& [index, path] = (*segments)[i];
    verifier.verify_segment(expected, index, path, i + 1 == segments->size());
    expected = index + 1;
  }
  verifier.finish_log();
  if (report.checkpoints_total == 0) {
    report.failures.push_back({"", 0, "the log holds no checkpoint: nothing in it is signed"});
  }
  return report;
}

}  // namespace sovereign::crypto

#pragma once
// Scans model output as it streams, redacting what the policy asks for in responses; a value split
// across chunks is still found because text that could begin one is held back until it is decided.

#include <map>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "policy/policy.hpp"

namespace sovereign::policy {

// A stretch of an answer that redaction replaces with one marker, [REDACTED:<detector>].
struct AnswerRemoval {
    std::size_t begin = 0;
    std::size_t end = 0;
    std::size_t detector = 0;  // the detector the marker names: that of the stretch's first finding
};

// What redaction removes from an answer, given its findings (sorted by begin, as DetectorSet::scan
// returns them) and the detectors to redact: each such finding, and where they overlap (IPv6
// "::ffff:10" and IPv4 "10.20.30.40" in "::ffff:10.20.30.40"), their union under one marker, so that
// no part of either reaches the client.
std::vector<AnswerRemoval> answer_removals(std::span<const Detection> found, const std::vector<char>& redact);

// What an answer's text is: prose (content, reasoning, a completion), or JSON text inside the JSON
// string it came in (a tool call's arguments), which is read with its string escapes resolved, as the
// request side reads it (unescape_json_text), before the detectors read the escapes in it.
enum class AnswerText { prose, json_text };

// One per response choice. Not thread-safe; feed and finish from the thread that owns the stream.
class ResponseScanner {
public:
    ResponseScanner(std::shared_ptr<const Policy> policy, std::string_view tenant, AnswerText form = AnswerText::prose);

    // Takes the next chunk of model output; returns the text that is safe to emit now (possibly empty).
    // After a failure it returns nothing more and failed() is true: the gateway must end the stream.
    [[nodiscard]] std::string feed(std::string_view chunk);
    // The next chunk is text the client sent itself, put back in the answer (a vault token's value):
    // detectors read it with the model's text around it (a context word after it counts), but no
    // finding removes any of it; a finding that runs into it removes only the model's part.
    [[nodiscard]] std::string feed_protected(std::string_view chunk);
    // End of output: returns everything still held back, redacted.
    [[nodiscard]] std::string finish();
    // The last chunk and the end of output at once (a whole, non-streamed answer: one scan).
    [[nodiscard]] std::string complete(std::string_view chunk);
    // As complete(), but nothing where what it returns is the chunk as it came (nothing removed). On
    // a scanner fed nothing before, the chunk is decided where it lies, neither copied in nor out
    // when nothing is removed; nothing can follow it then.
    [[nodiscard]] std::optional<std::string> complete_changed(std::string_view chunk);

    // Detector name -> findings in the output emitted so far (metadata for audit and metrics).
    const std::map<std::string, int>& counts() const { return counts_; }
    bool failed() const { return failed_; }
    const ScanFailure& failure() const { return failure_; }
    // Bytes currently held back.
    std::size_t held_back() const { return text_.size() - emitted_; }

private:
    std::string release(bool final);
    // Decides written (text_, or a whole output given to a fresh scanner where it lies) and appends
    // what is safe to emit to `out`. `given_whole`: `written` is a whole output given where it lies
    // (complete_changed), not the held text: nothing is appended where all of it goes out as it came
    // (`as_it_came` says so), and nothing is kept after it. false: the scan failed.
    bool release_into(std::string_view written, bool final, std::string& out, bool given_whole, bool& as_it_came);
    // Earliest place in buffer[from, end) where a value could begin that the next chunk might complete,
    // or an escape or tag the chunk cut: decided on the text as the scan reads it (look-alikes folded).
    std::size_t straddle_start(std::string_view buffer, std::size_t from) const;
    // The same for values alone, in text the scan reads as it is (folded already, or holding no look-alike).
    std::size_t value_hold_start(std::string_view text, std::size_t from) const;

    std::shared_ptr<const Policy> policy_;
    AnswerText form_;
    const std::vector<char>& redact_;  // per detector, kept by the policy
    // The last emitted bytes, as written by the model (context for detectors), then the bytes received
    // and not yet emitted, from text_[emitted_] on. One buffer, trimmed in place.
    std::string text_;
    std::size_t emitted_ = 0;
    // The stretches of text_ fed protected, [begin, end), in order.
    std::vector<std::pair<std::size_t, std::size_t>> protected_;
    std::map<std::string, int> counts_;
    bool failed_ = false;
    ScanFailure failure_;
};

}  // namespace sovereign::policy

#pragma once
// A text filter for tests of the response rewriter's two readings (one pass and parsed): it records
// every text it is given, by which chain, and changes, holds back or fails as told, so that the two
// readings can be held to the same filter calls and the same answers.
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gateway/pipeline/response_rewriter.hpp"

namespace sovereign::gateway::testing {

// What the filters do to the texts they are given.
struct Behaviour {
  bool change = false;          // "report" becomes "REPORT", every digit '#'
  bool fail_on_marker = false;  // a text holding "FAIL" fails the filter (a scanner's error)
  // Digits at the end of what came so far are held back until more text or the end (as a scanner
  // holds what may be the start of a number).
  bool hold_digits = false;
  bool note_at_end = false;  // the end of each text adds " (end)" (a filter that releases text of its own)
};

// One text a filter was given (or, with `finished`, the end of its stream), and by which chain.
// Chains are numbered as the rewriter makes them (one per stream of a choice, one per other string),
// so equal numbers mean the same streams.
struct Seen {
  std::size_t chain = 0;
  std::size_t filter = 0;  // its place in the chain
  TextForm form = TextForm::prose;
  std::string text;
  bool finished = false;
  bool operator==(const Seen&) const = default;
};

class Recorder : public TextFilter {
 public:
  Recorder(std::vector<Seen>& seen, Seen self, Behaviour behaviour)
      : seen_(seen), self_(std::move(self)), behaviour_(behaviour) {}

  std::string feed(std::string_view text) override {
    Seen seen = self_;
    seen.text.assign(text);
    seen_.push_back(seen);
    if (behaviour_.fail_on_marker && text.find("FAIL") != std::string_view::npos) failed_ = true;
    std::string out = std::exchange(held_, {});
    out.append(text);
    if (behaviour_.hold_digits) {
      std::size_t keep = out.size();
      while (keep > 0 && out[keep - 1] >= '0' && out[keep - 1] <= '9') --keep;
      held_ = out.substr(keep);
      out.resize(keep);
    }
    return changed(std::move(out));
  }
  std::string finish() override {
    Seen seen = self_;
    seen.finished = true;
    seen_.push_back(seen);
    return changed(std::exchange(held_, {}) + (behaviour_.note_at_end ? " (end)" : ""));
  }
  bool failed() const override { return failed_; }
  std::string failure() const override { return failed_ ? "marker" : ""; }

 private:
  std::string changed(std::string out) const {
    if (!behaviour_.change) return out;
    for (auto at = out.find("report"); at != std::string::npos; at = out.find("report", at)) out.replace(at, 6, "REPORT");
    for (char& c : out)
      if (c >= '0' && c <= '9') c = '#';
    return out;
  }

  std::vector<Seen>& seen_;
  Seen self_;
  Behaviour behaviour_;
  bool failed_ = false;
  std::string held_;
};

// A chain factory of two recording filters: the first behaves as told, the second sees what the
// first made of each text. Chains are numbered from `chains`.
inline FilterChainFactory recording_chains(std::vector<Seen>& seen, std::size_t& chains, Behaviour behaviour) {
  return [&seen, &chains, behaviour](TextForm form) {
    const std::size_t chain = chains++;
    FilterChain filters;
    filters.push_back(std::make_unique<Recorder>(seen, Seen{chain, 0, form, {}}, behaviour));
    filters.push_back(std::make_unique<Recorder>(seen, Seen{chain, 1, form, {}}, Behaviour{}));
    return filters;
  };
}

inline std::string describe(const std::vector<Seen>& seen) {
  std::string out;
  for (const auto& s : seen)
    out += "\n  chain " + std::to_string(s.chain) + "." + std::to_string(s.filter) +
           (s.finished ? " finished" : (s.form == TextForm::json ? " json: " : " prose: ") + s.text);
  return out;
}

}  // namespace sovereign::gateway::testing

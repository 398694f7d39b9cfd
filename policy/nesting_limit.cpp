#include "policy/nesting_limit.hpp"

#include <yaml-cpp/depthguard.h>
#include <yaml-cpp/exceptions.h>

namespace sovereign::policy {

namespace {

// Remembers where the last list or mapping began. yaml-cpp counts one level per node it enters and
// throws on entering the node past its limit, before reporting anything of it: that node is the first
// one inside the list or mapping that began last.
class LastCollection final : public YAML::EventHandler {
public:
    std::optional<YAML::Mark> mark;
    bool is_map = false;

    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
    void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
    void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
    void OnSequenceStart(const YAML::Mark& at, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        mark = at;
        is_map = false;
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& at, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {
        mark = at;
        is_map = true;
    }
    void OnMapEnd() override {}
};

}  // namespace

std::optional<YAML::Mark> first_node_past_nesting_limit(const YamlText& text) {
    LastCollection last;
    try {
        read_yaml_events(text, last);
        return std::nullopt;
    } catch (const YAML::DeepRecursion&) {
        if (!last.mark) return std::nullopt;
    } catch (const YAML::Exception&) {
        return std::nullopt;
    }
    const std::string& t = text.text();
    std::size_t at = text.content_start(text.offset_of(*last.mark));
    // A list begins at its '[' or first '-', a mapping in braces at its '{': the node past the limit is
    // the first one after those. Any other mapping (a block mapping, or a single "key: value" pair in a
    // flow list) begins at its first key, which is that node.
    const char opener = at < t.size() ? t[at] : '\0';
    if (last.is_map ? opener == '{' : (opener == '[' || opener == '-')) at = text.content_start(at + 1);
    return text.mark_at(at);
}

}  // namespace sovereign::policy

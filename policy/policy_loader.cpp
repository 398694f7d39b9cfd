// Turns policy.yaml into a compiled Policy, reporting every problem at its FILE:LINE:COL.

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <map>
#include <set>
#include <sstream>
#include <unordered_map>

#include "policy/builtin_detectors.hpp"
#include "policy/diagnostic.hpp"
#include "policy/join.hpp"
#include "policy/lookalike_fold.hpp"
#include "policy/policy.hpp"
#include "policy/request_endpoints.hpp"
#include "policy/unscanned_parts.hpp"
#include "policy/yaml_reader.hpp"

namespace sovereign::policy {

std::string_view mode_name(RuleMode mode) {
    switch (mode) {
        case RuleMode::enforce: return "enforce";
        case RuleMode::warn: return "warn";
        case RuleMode::dry_run: return "dry-run";
    }
    return "enforce";
}

namespace {

// What a rule does, in words, for the matched-rules list of decisions and for traces.
std::string describe_effect(const RuleDef& rule, const DetectorSet& detector_set) {
    std::vector<std::string> parts;
    const auto& detectors = detector_set.detectors();
    auto names = [&](const std::vector<std::size_t>& indices) {
        std::vector<std::string> out;
        for (const auto i : indices) out.push_back(detectors[i].name);
        return join(out);
    };
    if (rule.action == Action::deny)
        parts.push_back(rule.when.zones.empty() ? "deny" : "deny sending to zones " + join(rule.when.zones));
    if (rule.action == Action::allow) parts.push_back("allow");
    if (!rule.zones.empty()) parts.push_back("restrict zones to " + join(rule.zones));
    if (!rule.backends.empty()) parts.push_back("restrict backends to " + join(rule.backends));
    if (!rule.redact.empty()) parts.push_back("redact " + names(rule.redact));
    if (!rule.tokenize.empty()) parts.push_back("tokenize " + names(rule.tokenize));
    if (rule.capture_payload) parts.push_back("capture payload");
    if (!rule.when.zones.empty() && rule.action != Action::deny)
        parts.push_back("while zones " + join(rule.when.zones) + " may receive the request");
    return join(parts, "; ");
}

}  // namespace

Policy::Policy(PolicyModel model) : model_(std::move(model)) {
    tenant_index_.reserve(model_.tenants.size());
    for (std::size_t i = 0; i < model_.tenants.size(); ++i) tenant_index_.try_emplace(model_.tenants[i].name, i);
    rule_effects_.reserve(model_.rules.size());
    for (const auto& rule : model_.rules) rule_effects_.push_back(describe_effect(rule, *model_.detectors));
    if (model_.detectors == nullptr) return;
    answer_redactions_.reserve(model_.tenants.size() + 1);
    for (const auto& tenant : model_.tenants) answer_redactions_.push_back(redacted_in_answers(tenant.name));
    // Any other name: the policy's own `responses` only.
    std::vector<char> others(model_.detectors->detectors().size(), 0);
    for (const auto i : model_.redact_in_responses) others[i] = 1;
    answer_redactions_.push_back(std::move(others));
}

std::size_t Policy::tenant_position(std::string_view name) const {
    const auto found = tenant_index_.find(name);
    return found == tenant_index_.end() ? model_.tenants.size() : found->second;
}

const std::vector<char>& Policy::redaction_in_answers(std::string_view tenant) const {
    // One entry per tenant, then the one for any other name: the position indexes it either way.
    return answer_redactions_[tenant_position(tenant)];
}

int Policy::class_level(std::string_view name) const {
    for (std::size_t i = 0; i < model_.classes.size(); ++i)
        if (model_.classes[i] == name) return static_cast<int>(i);
    return -1;
}

int Policy::declared_class_level(std::string_view name) const {
    if (const int exact = class_level(name); exact >= 0) return exact;
    const auto lower = [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; };
    const auto same_but_case = [&](std::string_view a, std::string_view b) {
        return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char x, char y) { return lower(x) == lower(y); });
    };
    int found = -1;
    for (std::size_t i = 0; i < model_.classes.size(); ++i) {
        if (!same_but_case(model_.classes[i], name)) continue;
        if (found >= 0) return -1;
        found = static_cast<int>(i);
    }
    return found;
}

const TenantDef* Policy::find_tenant(std::string_view name) const {
    const std::size_t at = tenant_position(name);
    return at < model_.tenants.size() ? &model_.tenants[at] : nullptr;
}

std::vector<char> Policy::redacted_in_answers(std::string_view tenant) const {
    std::vector<char> redact(model_.detectors->detectors().size(), 0);
    for (const auto i : model_.redact_in_responses) redact[i] = 1;
    if (const TenantDef* t = find_tenant(tenant))
        for (const auto i : t->redact_in_responses) redact[i] = 1;
    return redact;
}

bool Policy::redacts_answers(std::string_view tenant) const {
    if (!model_.redact_in_responses.empty()) return true;
    const TenantDef* t = find_tenant(tenant);
    return t != nullptr && !t->redact_in_responses.empty();
}

const ZoneDef* Policy::find_zone(std::string_view name) const {
    for (const auto& z : model_.zones)
        if (z.name == name) return &z;
    return nullptr;
}

bool Policy::asks_for_captures() const {
    for (const auto& tenant : model_.tenants)
        if (tenant.capture_payload) return true;
    for (const auto& rule : model_.rules)
        if (rule.capture_payload && rule.mode == RuleMode::enforce) return true;
    return false;
}

std::optional<std::string> read_text_file(const std::filesystem::path& path, std::size_t limit, std::string& error) {
    auto fail = [&](const std::string& what) {
        error = path.string() + ":1:1: " + what;
        return std::nullopt;
    };
    // O_NONBLOCK: opening a FIFO named by mistake must not wait for a writer; it is refused below.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return fail(std::string("cannot open the file: ") + std::strerror(errno));
    struct Closer {
        int fd;
        ~Closer() { ::close(fd); }
    } closer{fd};
    struct stat info {};
    if (::fstat(fd, &info) != 0) return fail(std::string("cannot examine the file: ") + std::strerror(errno));
    if (S_ISDIR(info.st_mode)) return fail("is a directory, not a file");
    if (!S_ISREG(info.st_mode)) return fail("is not a regular file (a device, FIFO or socket)");
    std::string content;
    std::array<char, 65536> buffer{};
    for (;;) {
        const ssize_t got = ::read(fd, buffer.data(), buffer.size());
        if (got < 0 && errno == EINTR) continue;
        if (got < 0) return fail(std::string("reading the file failed: ") + std::strerror(errno));
        if (got == 0) return content;
        content.append(buffer.data(), static_cast<std::size_t>(got));
        if (content.size() > limit) return fail("file is larger than " + std::to_string(limit) + " bytes");
    }
}

namespace {

std::string sha256_hex(std::string_view data) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int size = 0;
    if (EVP_Digest(data.data(), data.size(), digest.data(), &size, EVP_sha256(), nullptr) != 1) return {};
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (unsigned int i = 0; i < size; ++i) {
        out.push_back(hex[digest[i] >> 4]);
        out.push_back(hex[digest[i] & 0x0F]);
    }
    return out;
}

bool valid_name(std::string_view name) {
    if (name.empty() || name.size() > 128) return false;
    return std::all_of(name.begin(), name.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
               c == '.';
    });
}

// Whether a word, its look-alikes folded, has nothing visible left: empty, or white space only.
bool blank(std::string_view folded) { return folded.find_first_not_of(" \t\r\n") == std::string_view::npos; }

std::string escape_keyword(std::string_view word) {
    static constexpr char hex[] = "0123456789abcdef";
    std::string out;
    for (const char c : word) {
        const auto u = static_cast<unsigned char>(c);
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || u >= 0x80) {
            out.push_back(c);
        } else {
            out += "\\x";
            out.push_back(hex[u >> 4]);
            out.push_back(hex[u & 0x0F]);
        }
    }
    return out;
}

// Why a pattern can never match what it says, when it holds a look-alike character: the scan reads
// text with look-alikes folded (lookalike_fold.hpp), so such a character never occurs there.
std::string lookalike_in_pattern(std::string_view pattern) {
    const auto found = find_lookalike(pattern);
    if (!found) return {};
    char hex[16];
    std::snprintf(hex, sizeof hex, "U+%04X", found->code_point);
    const std::string where = std::string("pattern holds the look-alike character ") + hex + " at byte " +
                              std::to_string(found->offset) + ", which scanned text never contains: ";
    if (found->read_as == 0) return where + "text is scanned with it removed, so delete it from the pattern";
    const std::string ascii(1, found->read_as);
    return where + "text is scanned with it read as '" + ascii + "', so write '" + ascii + "' there";
}

constexpr std::array<std::string_view, 11> top_keys{"name",      "version", "classes", "default_clearance",
                                                     "zones",     "builtin_detectors", "detectors", "responses",
                                                     "tenants",   "rules", "description"};
constexpr std::array<std::string_view, 3> zone_keys{"name", "description", "max_class"};
constexpr std::array<std::string_view, 8> detector_keys{"name",    "class",   "description",     "pattern",
                                                        "keywords", "context", "require_context", "case_sensitive"};
constexpr std::array<std::string_view, 1> responses_keys{"redact"};
constexpr std::array<std::string_view, 8> tenant_keys{"name",           "clearance",       "zones",
                                                      "exempt_from",    "capture_payload", "redact_in_responses",
                                                      "allow_unscanned", "unscanned_class"};
constexpr std::array<std::string_view, 5> rule_keys{"name", "description", "mode", "when", "then"};
constexpr std::array<std::string_view, 7> when_keys{"tenants",        "models",        "endpoints", "detected",
                                                    "class_at_least", "class_at_most", "zones"};
constexpr std::array<std::string_view, 8> then_keys{"action",   "message",  "zones",          "backends",
                                                    "redact",   "tokenize", "capture_payload", "description"};
constexpr std::array<std::string_view, 1> name_key{"name"};

constexpr std::size_t max_rules = 10000;
constexpr std::size_t max_detectors = 1000;
// Bounds on what one custom detector may ask vectorscan to compile, so a policy cannot stall a reload.
constexpr std::size_t max_keywords = 5000;
constexpr std::size_t max_pattern_bytes = 64 * 1024;

// Builds a PolicyModel from a parsed document, collecting every problem rather than stopping at the first.
class PolicyBuilder {
public:
    PolicyBuilder(YamlReader& reader, PolicyModel& model, const LeftOut& left_out, ReadCleanly& read)
        : r_(reader), m_(model), left_out_(left_out), read_(read) {}

    void build(const YAML::Node& root) {
        std::vector<std::string_view> required;
        for (const std::string_view key : {"classes", "zones", "rules"})
            if (!left_out_.sections.contains(std::string(key))) required.push_back(key);
        if (!r_.check_map(root, "the policy", top_keys, required)) return;
        read_a_mapping = true;
        if (root["version"]) {
            const auto v = r_.integer(root["version"], "version");
            if (v && *v != 1) r_.error(root["version"], "version " + std::to_string(*v) + " is not supported; use 1");
        }
        if (root["name"]) m_.name = r_.text(root["name"], "name").value_or("");
        // Free text, read only so that a mapping or a list written there is not silently accepted.
        if (root["description"]) (void)r_.text(root["description"], "description");
        read_classes(root["classes"]);
        // Everything else refers to classes: without them it is still read for the problems it has of its
        // own, and no reference to a class is checked.
        classes_known_ = !m_.classes.empty();
        m_.default_clearance = 0;
        if (root["default_clearance"]) m_.default_clearance = class_ref(root["default_clearance"], "default_clearance");
        read_.every_zone = !left_out("zones");
        read_.every_tenant = !left_out("tenants");
        read_.every_rule = !left_out("rules");
        read_zones(root["zones"]);
        const std::size_t before_detectors = r_.problem_count();
        read_detectors(root["builtin_detectors"], root["detectors"]);
        note_class_fallbacks(root);
        read_.detectors = r_.problem_count() == before_detectors && !left_out("builtin_detectors") && !left_out("detectors");
        if (root["responses"] && r_.check_map(root["responses"], "responses", responses_keys)) {
            if (root["responses"]["redact"] &&
                !refuse_empty_list(root["responses"]["redact"], "responses.redact", "which removes nothing from answers"))
                m_.redact_in_responses = detector_refs(root["responses"]["redact"], "responses.redact");
        }
        read_tenants(root["tenants"]);
        read_rules(root["rules"]);
    }

    std::vector<DetectorSpec> specs;
    std::vector<PatternProblem> pattern_problems;
    std::vector<YAML::Mark> detector_marks;
    bool read_a_mapping = false;  // the document is a mapping: there is something to analyse

private:
    YamlReader& r_;
    PolicyModel& m_;
    const LeftOut& left_out_;
    ReadCleanly& read_;
    bool classes_known_ = false;
    std::map<std::string, std::size_t> detector_index_;
    struct TenantRef {
        std::string name;
        YAML::Mark mark;
        std::size_t rule;  // index in m_.rules
    };
    std::vector<TenantRef> tenant_refs_;  // checked once all tenants are known
    std::set<std::string> mapped_builtins_;  // built-in detectors builtin_detectors gives a class

    // Whether lint left out this section, or some of its items: the names it defines are not all known.
    bool left_out(const std::string& section) const {
        return left_out_.sections.contains(section) || left_out_.items_of.contains(section);
    }

    int class_ref(const YAML::Node& node, std::string_view what) {
        const auto name = r_.text(node, what);
        if (!classes_known_) return 0;  // nothing to check it against; the classes' own problem is reported
        if (!name) return static_cast<int>(m_.classes.size()) - 1;
        for (std::size_t i = 0; i < m_.classes.size(); ++i)
            if (m_.classes[i] == *name) return static_cast<int>(i);
        std::vector<std::string_view> names(m_.classes.begin(), m_.classes.end());
        const auto suggestion = closest_name(*name, names);
        r_.error(node, std::string(what) + ": '" + *name + "' is not one of the classes" +
                           (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?"));
        return static_cast<int>(m_.classes.size()) - 1;
    }

    std::vector<std::size_t> detector_refs(const YAML::Node& node, std::string_view what) {
        std::vector<std::size_t> out;
        const auto names = r_.text_list(node, what);
        if (!names) return out;
        std::vector<std::string_view> known;
        for (const auto& [name, index] : detector_index_) known.push_back(name);
        for (std::size_t i = 0; i < names->size(); ++i) {
            const auto& name = (*names)[i];
            const auto& at = node.IsSequence() ? node[i] : node;
            const auto found = detector_index_.find(name);
            if (found == detector_index_.end()) {
                if (left_out("detectors")) continue;  // it may be one of those lint left out
                const auto suggestion = closest_name(name, known);
                r_.error(at, std::string(what) + ": no detector named '" + name + "'" +
                                 (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?"));
            } else if (std::find(out.begin(), out.end(), found->second) == out.end()) {
                out.push_back(found->second);
            }
        }
        return out;
    }

    std::vector<std::string> zone_refs(const YAML::Node& node, std::string_view what) {
        auto names = r_.text_list(node, what).value_or(std::vector<std::string>{});
        std::vector<std::string_view> known;
        for (const auto& z : m_.zones) known.push_back(z.name);
        for (std::size_t i = 0; i < names.size(); ++i) {
            if (std::find(known.begin(), known.end(), names[i]) != known.end() || left_out("zones")) continue;
            const auto suggestion = closest_name(names[i], known);
            r_.error(node.IsSequence() ? node[i] : node,
                     std::string(what) + ": no zone named '" + names[i] + "'" +
                         (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?"));
        }
        return names;
    }

    void read_classes(const YAML::Node& node) {
        if (!node) return;
        const auto names = r_.text_list(node, "classes");
        if (!names) return;
        if (names->empty()) {
            r_.error(node, "classes must list at least one data class, lowest first");
            return;
        }
        std::set<std::string> seen;
        for (std::size_t i = 0; i < names->size(); ++i) {
            const auto& at = node.IsSequence() ? node[i] : node;
            if (!valid_name((*names)[i])) r_.error(at, "class '" + (*names)[i] + "' must be a word of letters, digits, '-', '_' or '.'");
            else if (!seen.insert((*names)[i]).second) r_.error(at, "class '" + (*names)[i] + "' is listed twice");
        }
        m_.classes = *names;
    }

    void read_zones(const YAML::Node& node) {
        if (!node) return;
        if (!node.IsSequence() || node.size() == 0 || node.size() > max_list_items) {
            r_.error(node, "zones must be a list of 1 to " + std::to_string(max_list_items) + " zones");
            read_.every_zone = false;
            return;
        }
        std::unordered_map<std::string, int> defined;  // zone name -> line
        for (const auto& z : node) {
            const std::size_t before = r_.problem_count();
            if (!r_.check_map(z, "a zone", zone_keys, name_key)) {
                read_.every_zone = false;
                continue;
            }
            ZoneDef zone;
            zone.line = YamlReader::line_of(z);
            zone.column = YamlReader::column_of(z);
            zone.max_class = static_cast<int>(m_.classes.size()) - 1;
            const auto name = z["name"] ? r_.text(z["name"], "zone name") : std::nullopt;
            zone.name = name.value_or("");
            if (z["description"]) zone.description = r_.text(z["description"], "description").value_or("");
            if (z["max_class"]) zone.max_class = class_ref(z["max_class"], "max_class");
            if (name && !valid_name(*name))  // an empty name too (name: ''), as the JSON Schema says
                r_.error(z["name"], "zone name '" + zone.name + "' must be a word of letters, digits, '-', '_' or '.'");
            if (const auto [first, added] = defined.emplace(zone.name, zone.line); !added)
                r_.error(z["name"], "zone '" + zone.name + "' is defined twice (first at line " +
                                        std::to_string(first->second) + ")");
            m_.zones.push_back(std::move(zone));
            read_.zones.push_back(r_.problem_count() == before);
        }
    }

    void read_detectors(const YAML::Node& builtin_classes, const YAML::Node& custom) {
        // Built-ins take their default class when the policy has it, else the highest class (fail safe).
        const int highest = std::max(0, static_cast<int>(m_.classes.size()) - 1);
        std::vector<std::string_view> builtin_names;
        for (const auto& b : builtin_detectors()) {
            DetectorSpec spec;
            spec.name = std::string(b.name);
            spec.builtin = true;
            spec.description = std::string(b.description);
            spec.class_level = highest;
            for (std::size_t i = 0; i < m_.classes.size(); ++i)
                if (m_.classes[i] == b.default_class) spec.class_level = static_cast<int>(i);
            for (const auto& p : b.patterns)
                spec.patterns.push_back(
                    {std::string(p.regex), 0, p.needs_context, p.digit_dense, p.whole_runs, p.validate, p.expand, p.find,
                     p.find_at_digits, p.letter_beside_run, p.anchor_at_digits, p.at_colon});
            spec.validate = b.validate;
            spec.boundary = b.boundary;
            for (const auto c : b.context) spec.context.emplace_back(c);
            if (b.may_contain != nullptr) {
                for (int c = 0; c < 256; ++c) spec.may_contain[static_cast<std::size_t>(c)] = b.may_contain(static_cast<char>(c));
                spec.may_contain_known = true;
            }
            spec.literal_prefix = std::string(b.literal_prefix);
            spec.may_begin = std::string(b.may_begin);
            spec.expand = b.expand;
            spec.max_length = b.max_length;
            spec.fallback = b.fallback;
            spec.straddle = b.straddle;
            detector_index_[spec.name] = specs.size();
            builtin_names.push_back(b.name);
            specs.push_back(std::move(spec));
            detector_marks.emplace_back();
        }
        if (builtin_classes) {
            if (!builtin_classes.IsMap()) {
                r_.error(builtin_classes, "builtin_detectors must map detector names to classes, like 'email: internal'");
            } else {
                std::set<std::string> seen;
                for (auto it = builtin_classes.begin(); it != builtin_classes.end(); ++it) {
                    const auto name = it->first.Scalar();
                    if (!seen.insert(name).second) {
                        r_.error(it->first, "'" + name + "' appears twice in builtin_detectors");
                        continue;
                    }
                    const auto found = detector_index_.find(name);
                    mapped_builtins_.insert(name);
                    if (found == detector_index_.end()) {
                        const auto suggestion = closest_name(name, builtin_names);
                        r_.error(it->first, "no built-in detector named '" + name + "'" +
                                                (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?"));
                        continue;
                    }
                    specs[found->second].class_level = class_ref(it->second, "class of " + name);
                }
            }
        }
        if (custom) read_custom_detectors(custom);
    }

    // Built-in detectors left at the highest class for want of their default class (ClassFallbacks),
    // placed at the key of the section where a class for them would be written.
    void note_class_fallbacks(const YAML::Node& root) {
        if (!classes_known_) return;
        const auto& builtins = builtin_detectors();
        for (std::size_t i = 0; i < builtins.size(); ++i)  // the built-ins are the first specs, in this order
            if (std::find(m_.classes.begin(), m_.classes.end(), builtins[i].default_class) == m_.classes.end() &&
                !mapped_builtins_.contains(std::string(builtins[i].name)))
                m_.class_fallbacks.detectors.push_back(i);
        const std::string_view section = root["builtin_detectors"] ? "builtin_detectors" : "classes";
        for (const auto& entry : root) {
            if (!entry.first.IsScalar() || entry.first.Scalar() != section) continue;
            m_.class_fallbacks.line = YamlReader::one_based(entry.first.Mark().line);
            m_.class_fallbacks.column = YamlReader::one_based(entry.first.Mark().column);
        }
    }

    void read_custom_detectors(const YAML::Node& node) {
        if (!node.IsSequence()) {
            r_.error(node, "detectors must be a list");
            return;
        }
        if (node.size() > max_detectors) {
            r_.error(node, "more than " + std::to_string(max_detectors) + " detectors");
            return;
        }
        for (const auto& d : node) {
            if (!r_.check_map(d, "a detector", detector_keys, std::array<std::string_view, 2>{"name", "class"}))
                continue;
            DetectorSpec spec;
            spec.line = YamlReader::line_of(d);
            spec.column = YamlReader::column_of(d);
            spec.name = d["name"] ? r_.text(d["name"], "detector name").value_or("") : "";
            if (d["name"] && !valid_name(spec.name))
                r_.error(d["name"], "detector name '" + spec.name + "' must be a word of letters, digits, '-', '_' or '.'");
            if (detector_index_.contains(spec.name)) {
                r_.error(d["name"], "a detector named '" + spec.name + "' already exists" +
                                        (specs[detector_index_[spec.name]].builtin
                                             ? " (built in; set its class under builtin_detectors)"
                                             : ""));
                continue;
            }
            spec.class_level = d["class"] ? class_ref(d["class"], "class") : 0;
            if (d["description"]) spec.description = r_.text(d["description"], "description").value_or("");
            const bool require_context =
                d["require_context"] ? r_.boolean(d["require_context"], "require_context").value_or(false) : false;
            if (d["context"] && !refuse_empty_list(d["context"], "context", "which makes no finding more certain")) {
                // Compared with text as the scan reads it: look-alikes folded, in any letter case
                // (ContextWords folds the case). A word with nothing visible in it is never near a
                // finding: with require_context the detector would silently find nothing.
                const auto words = r_.text_list(d["context"], "context").value_or(std::vector<std::string>{});
                for (std::size_t i = 0; i < words.size(); ++i) {
                    auto folded = lookalikes_folded(words[i]);
                    if (blank(folded)) {
                        r_.error(d["context"].IsSequence() ? d["context"][i] : d["context"],
                                 "a context word must hold a visible character (this one is empty, spaces or "
                                 "invisible characters only), or it is never found near a value; remove it");
                        continue;
                    }
                    spec.context.push_back(std::move(folded));
                }
            }
            if (require_context && !d["context"])  // a context given but refused has been reported
                r_.error(d["require_context"], "require_context needs a 'context' list of words");
            const bool has_pattern = static_cast<bool>(d["pattern"]);
            const bool has_keywords = static_cast<bool>(d["keywords"]);
            if (has_pattern == has_keywords) {
                r_.error(d, "detector '" + spec.name + "' needs exactly one of 'pattern' or 'keywords'");
                continue;
            }
            bool case_sensitive = has_pattern;
            if (d["case_sensitive"])
                case_sensitive = r_.boolean(d["case_sensitive"], "case_sensitive").value_or(case_sensitive);
            const unsigned flags = (case_sensitive ? 0u : static_cast<unsigned>(HS_FLAG_CASELESS));
            if (has_pattern) {
                const auto pattern = r_.text(d["pattern"], "pattern");
                if (!pattern) continue;
                if (pattern->empty() || pattern->size() > max_pattern_bytes) {
                    r_.error(d["pattern"], "pattern must be 1 to " + std::to_string(max_pattern_bytes) + " bytes");
                    continue;
                }
                if (const auto why = lookalike_in_pattern(*pattern); !why.empty()) {
                    r_.error(d["pattern"], why);
                    continue;
                }
                spec.patterns.push_back({*pattern, flags | HS_FLAG_UTF8, require_context});
                detector_marks.push_back(d["pattern"].Mark());
            } else {
                const auto words = r_.text_list(d["keywords"], "keywords");
                if (!words) continue;
                if (words->empty() || words->size() > max_keywords) {
                    r_.error(d["keywords"], "keywords must list 1 to " + std::to_string(max_keywords) + " words");
                    continue;
                }
                // Matched in text as the scan reads it, with look-alikes folded: "TOP<no-break space>SECRET"
                // copied from a document is the keyword "TOP SECRET".
                std::vector<std::string> folded;
                std::string alternation;
                for (std::size_t i = 0; i < words->size(); ++i) {
                    const auto& at = d["keywords"].IsSequence() ? d["keywords"][i] : d["keywords"];
                    if ((*words)[i].empty()) {
                        r_.error(at, "keywords must not be empty");
                        continue;
                    }
                    folded.push_back(lookalikes_folded((*words)[i]));
                    if (folded.back().empty()) {
                        r_.error(at, "this keyword is invisible characters only, which text is scanned without: "
                                     "it would match nothing; remove it");
                        folded.pop_back();
                        continue;
                    }
                    if (!alternation.empty()) alternation += "|";
                    alternation += escape_keyword(folded.back());
                }
                if (alternation.size() > max_pattern_bytes) {
                    r_.error(d["keywords"], "the keywords add up to more than " + std::to_string(max_pattern_bytes) +
                                                " bytes; split them over several detectors");
                    continue;
                }
                if (alternation.empty()) continue;  // every keyword had a problem, reported above
                // Without case, letters beyond ASCII too ("Ödipus" is "ÖDIPUS"): vectorscan folds them by
                // Unicode's simple case folding in UTF-8 mode (no UCP needed: keywords are literals).
                const unsigned keyword_flags = case_sensitive ? 0u : HS_FLAG_CASELESS | HS_FLAG_UTF8;
                spec.patterns.push_back({"(?:" + alternation + ")", keyword_flags, require_context});
                // Only a run of the keywords' own characters can be the start of a keyword; without case,
                // the other case of a letter beyond ASCII (and the Kelvin sign for k) has other bytes.
                for (const auto& w : folded) {
                    for (const char c : w) {
                        spec.may_contain[static_cast<unsigned char>(c)] = true;
                        if (!case_sensitive && c >= 'a' && c <= 'z') spec.may_contain[static_cast<unsigned char>(c - 32)] = true;
                        if (!case_sensitive && c >= 'A' && c <= 'Z') spec.may_contain[static_cast<unsigned char>(c + 32)] = true;
                    }
                }
                if (!case_sensitive)
                    for (std::size_t byte = 0x80; byte < 256; ++byte) spec.may_contain[byte] = true;
                spec.may_contain_known = true;
                spec.boundary = Boundary::alnum;  // a keyword inside a longer word is not the keyword
                detector_marks.push_back(d["keywords"].Mark());
            }
            detector_index_[spec.name] = specs.size();
            specs.push_back(std::move(spec));
        }
    }

    void read_tenants(const YAML::Node& node) {
        if (!node) return;
        if (!node.IsSequence() || node.size() > max_list_items) {
            r_.error(node, "tenants must be a list of at most " + std::to_string(max_list_items) + " tenants");
            read_.every_tenant = false;
            return;
        }
        std::set<std::string> tenant_names;
        for (const auto& t : node) {
            const std::size_t before = r_.problem_count();
            if (!r_.check_map(t, "a tenant", tenant_keys, name_key)) {
                read_.every_tenant = false;
                continue;
            }
            TenantDef tenant;
            tenant.line = YamlReader::line_of(t);
            tenant.column = YamlReader::column_of(t);
            tenant.name = t["name"] ? r_.text(t["name"], "tenant name").value_or("") : "";
            if (const auto why = unreadable_name(tenant.name); !why.empty())
                r_.error(t["name"], "tenant name '" + tenant.name + "' " + why);
            if (t["name"] && t["name"].IsScalar() && tenant.name.empty())
                r_.error(t["name"], "a tenant needs a name: rules, exemptions and gateway.yaml refer to it");
            tenant.clearance = m_.default_clearance;
            if (t["clearance"]) tenant.clearance = class_ref(t["clearance"], "clearance");
            if (t["zones"] && !refuse_empty_list(t["zones"], "zones",
                                                 "which would leave the tenant unrestricted rather than without zones"))
                tenant.zones = zone_refs(t["zones"], "zones");
            const std::size_t before_exemptions = r_.problem_count();
            if (t["exempt_from"] && !refuse_empty_list(t["exempt_from"], "exempt_from", "which exempts from nothing"))
                tenant.exempt_from = r_.text_list(t["exempt_from"], "exempt_from").value_or(std::vector<std::string>{});
            if (r_.problem_count() != before_exemptions) read_.exemptions = false;
            if (t["capture_payload"])
                tenant.capture_payload = r_.boolean(t["capture_payload"], "capture_payload").value_or(false);
            if (t["redact_in_responses"] &&
                !refuse_empty_list(t["redact_in_responses"], "redact_in_responses", "which removes nothing from answers"))
                tenant.redact_in_responses = detector_refs(t["redact_in_responses"], "redact_in_responses");
            read_unscanned(t, tenant);
            if (!tenant_names.insert(tenant.name).second)
                r_.error(t["name"], "tenant '" + tenant.name + "' is listed twice");
            exemption_nodes_.push_back(t["exempt_from"]);
            m_.tenants.push_back(std::move(tenant));
            read_.tenants.push_back(r_.problem_count() == before);
        }
    }

    // allow_unscanned: part types known to carry data no detector reads; unscanned_class: the class such
    // a request counts as, the highest unless said (an image may hold anything).
    void read_unscanned(const YAML::Node& t, TenantDef& tenant) {
        tenant.unscanned_class = std::max(0, static_cast<int>(m_.classes.size()) - 1);
        const auto& list = t["allow_unscanned"];
        if (list) {
            tenant.unscanned_line = YamlReader::line_of(list);
            tenant.unscanned_column = YamlReader::column_of(list);
        }
        if (list && !refuse_empty_list(list, "allow_unscanned", "which lets nothing through")) {
            const auto types = r_.text_list(list, "allow_unscanned").value_or(std::vector<std::string>{});
            const auto known = unscanned_part_types();
            const std::string known_list = join(std::vector<std::string>(known.begin(), known.end()));
            for (std::size_t i = 0; i < types.size(); ++i) {
                const auto& type = types[i];
                const auto& at = list.IsSequence() ? list[i] : list;
                if (text_part_type(type)) {
                    r_.error(at, "allow_unscanned: '" + type + "' parts hold text, which is always scanned; list only "
                                 "parts no detector can read (" + known_list + ")");
                } else if (std::find(known.begin(), known.end(), type) == known.end()) {
                    const auto suggestion = closest_name(type, known);
                    r_.error(at, "allow_unscanned: '" + type + "' is not one of the content part types no detector "
                                 "can read (" + known_list + ")" +
                                     (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?"));
                } else if (std::find(tenant.allow_unscanned.begin(), tenant.allow_unscanned.end(), type) !=
                           tenant.allow_unscanned.end()) {
                    r_.error(at, "allow_unscanned: '" + type + "' is listed twice");
                } else {
                    tenant.allow_unscanned.push_back(type);
                }
            }
        }
        if (!t["unscanned_class"]) return;
        tenant.unscanned_class = class_ref(t["unscanned_class"], "unscanned_class");
        if (!list)
            r_.error(t["unscanned_class"], "unscanned_class is the class of the parts allow_unscanned lets through, "
                                           "and this tenant has no allow_unscanned; add it, or leave unscanned_class out");
    }

    std::vector<YAML::Node> exemption_nodes_;
    std::unordered_map<std::string, int> rule_lines_;  // rule name -> line of its first definition

    void read_rules(const YAML::Node& node) {
        if (!node) return;
        if (!node.IsSequence()) {
            r_.error(node, "rules must be a list");
            read_.every_rule = false;
            return;
        }
        if (node.size() > max_rules) {
            r_.error(node, "more than " + std::to_string(max_rules) + " rules");
            read_.every_rule = false;
            return;
        }
        for (const auto& n : node) read_rule(n);
        // Tenants named by rules and rules named by exemptions must exist.
        std::vector<std::string_view> tenant_names;
        for (const auto& t : m_.tenants) tenant_names.push_back(t.name);
        for (const auto& [name, mark, rule] : tenant_refs_) {
            if (std::find(tenant_names.begin(), tenant_names.end(), name) != tenant_names.end() || left_out("tenants"))
                continue;
            const auto suggestion = closest_name(name, tenant_names);
            r_.error(mark, "no tenant named '" + name + "' under tenants" +
                               (suggestion.empty() ? "; list every tenant the rules name" : "; did you mean '" + suggestion + "'?"));
            read_.rules[rule] = false;
        }
        std::vector<std::string_view> rule_names;
        for (const auto& rule : m_.rules) rule_names.push_back(rule.name);
        for (std::size_t t = 0; t < m_.tenants.size(); ++t) {
            const auto& list = exemption_nodes_[t];
            for (std::size_t i = 0; i < m_.tenants[t].exempt_from.size(); ++i) {
                const auto& name = m_.tenants[t].exempt_from[i];
                if (std::find(rule_names.begin(), rule_names.end(), name) != rule_names.end() || left_out("rules"))
                    continue;
                read_.tenants[t] = false;
                read_.exemptions = false;
                const auto suggestion = closest_name(name, rule_names);
                r_.error(list.IsSequence() ? list[i] : list, "exempt_from: no rule named '" + name + "'" +
                                                                 (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?"));
            }
        }
    }

    void read_rule(const YAML::Node& n) {
        const std::size_t before = r_.problem_count();
        if (!r_.check_map(n, "a rule", rule_keys, std::array<std::string_view, 2>{"name", "then"})) {
            read_.every_rule = false;
            return;
        }
        RuleDef rule;
        rule.line = YamlReader::line_of(n);
        rule.column = YamlReader::column_of(n);
        rule.name = n["name"] ? r_.text(n["name"], "rule name").value_or("") : "";
        if (const auto why = unreadable_name(rule.name); !why.empty())
            r_.error(n["name"], "rule name '" + rule.name + "' " + why);
        if (n["name"] && n["name"].IsScalar() && rule.name.empty())
            r_.error(n["name"], "a rule needs a name: decisions, audit records and exemptions refer to it");
        if (n["name"])
            if (const auto [first, added] = rule_lines_.emplace(rule.name, rule.line); !added)
                r_.error(n["name"], "rule '" + rule.name + "' is defined twice (first at line " +
                                        std::to_string(first->second) + ")");
        if (n["description"]) rule.description = r_.text(n["description"], "description").value_or("");
        if (n["mode"]) {
            const auto mode = r_.text(n["mode"], "mode").value_or("enforce");
            if (mode == "enforce") rule.mode = RuleMode::enforce;
            else if (mode == "warn") rule.mode = RuleMode::warn;
            else if (mode == "dry-run") rule.mode = RuleMode::dry_run;
            else r_.error(n["mode"], "mode must be enforce, warn or dry-run, not '" + mode + "'");
        }
        if (n["when"]) read_conditions(n["when"], rule.when);
        if (n["then"]) read_effects(n["then"], rule);
        m_.rules.push_back(std::move(rule));
        read_.rules.push_back(r_.problem_count() == before);
    }

    // An empty list where a list of names is expected: in a condition it would hold for nothing, yet
    // reads like no condition at all (which holds for everything); in an effect or a tenant's zones it
    // would restrict nothing. Either way the file does not say what its writer meant, so it is refused.
    bool refuse_empty_list(const YAML::Node& node, std::string_view what, std::string_view consequence) {
        if (!node.IsSequence() || node.size() != 0) return false;
        r_.error(node, std::string(what) + " is an empty list, " + std::string(consequence) + "; list at least one, or "
                       "leave '" + std::string(what) + "' out");
        return true;
    }

    void refuse_empty_conditions(const YAML::Node& w) {
        for (const std::string_view key : {"tenants", "models", "endpoints", "detected", "zones"})
            if (w[std::string(key)])
                refuse_empty_list(w[std::string(key)], key,
                                  "which would leave it unclear whether the rule applies to every request or to none");
    }

    void read_conditions(const YAML::Node& w, RuleConditions& c) {
        if (!r_.check_map(w, "when", when_keys)) return;
        refuse_empty_conditions(w);
        if (w["tenants"]) {
            c.tenants = r_.text_list(w["tenants"], "tenants").value_or(std::vector<std::string>{});
            for (std::size_t i = 0; i < c.tenants.size(); ++i)
                tenant_refs_.push_back({c.tenants[i], (w["tenants"].IsSequence() ? w["tenants"][i] : w["tenants"]).Mark(),
                                        m_.rules.size()});
        }
        if (w["models"]) c.models = r_.text_list(w["models"], "models").value_or(std::vector<std::string>{});
        if (w["endpoints"]) {
            c.endpoints = r_.text_list(w["endpoints"], "endpoints").value_or(std::vector<std::string>{});
            for (std::size_t i = 0; i < c.endpoints.size(); ++i) {
                const auto& e = c.endpoints[i];
                if (std::find(request_endpoints.begin(), request_endpoints.end(), e) == request_endpoints.end()) {
                    const auto suggestion = closest_name(e, request_endpoints);
                    r_.error(w["endpoints"].IsSequence() ? w["endpoints"][i] : w["endpoints"],
                             "endpoint '" + e + "' is not one of chat.completions, completions, embeddings" +
                                 (suggestion.empty() ? "" : "; did you mean '" + suggestion + "'?"));
                }
            }
        }
        if (w["detected"]) c.detected = detector_refs(w["detected"], "detected");
        if (w["class_at_least"]) c.class_at_least = class_ref(w["class_at_least"], "class_at_least");
        if (w["class_at_most"]) c.class_at_most = class_ref(w["class_at_most"], "class_at_most");
        if (w["zones"]) c.zones = zone_refs(w["zones"], "zones");
    }

    void read_effects(const YAML::Node& t, RuleDef& rule) {
        if (!r_.check_map(t, "then", then_keys)) return;
        if (t["action"]) {
            if (const auto action = r_.text(t["action"], "action")) {  // not a word: reported by text()
                if (*action == "allow") rule.action = Action::allow;
                else if (*action == "deny") rule.action = Action::deny;
                else r_.error(t["action"], "action must be allow or deny, not '" + *action + "'");
            }
        }
        if (t["message"]) rule.message = r_.text(t["message"], "message").value_or("");
        if (t["description"]) (void)r_.text(t["description"], "description");  // free text, as above
        if (rule.action == Action::deny && rule.message.empty())
            r_.error(t, "a deny rule needs a 'message' telling the application why");
        if (t["message"] && rule.action != Action::deny)
            r_.error(t["message"], "'message' is only shown for action: deny");
        for (const std::string_view key : {"zones", "backends", "redact", "tokenize"})
            if (t[std::string(key)])
                refuse_empty_list(t[std::string(key)], key, "which restricts or transforms nothing");
        if (t["zones"]) rule.zones = zone_refs(t["zones"], "zones");
        if (t["backends"]) rule.backends = r_.text_list(t["backends"], "backends").value_or(std::vector<std::string>{});
        if (t["redact"]) rule.redact = detector_refs(t["redact"], "redact");
        if (t["tokenize"]) rule.tokenize = detector_refs(t["tokenize"], "tokenize");
        // A value that is not true or false has been reported; the rule is not also said to do nothing.
        bool capture_read = true;
        if (t["capture_payload"]) {
            const auto capture = r_.boolean(t["capture_payload"], "capture_payload");
            capture_read = capture.has_value();
            rule.capture_payload = capture.value_or(false);
        }
        const bool does_something = rule.action || !rule.zones.empty() || !rule.backends.empty() ||
                                    !rule.redact.empty() || !rule.tokenize.empty() || rule.capture_payload;
        if (!does_something && !t["zones"] && !t["redact"] && !t["tokenize"] && !t["backends"] &&
            capture_read && !t["action"])
            r_.error(t, "rule '" + rule.name + "' does nothing: give it an action, zones, backends, redact, "
                        "tokenize or capture_payload");
        if (rule.action == Action::deny &&
            (!rule.redact.empty() || !rule.tokenize.empty() || !rule.zones.empty() || !rule.backends.empty()))
            r_.error(t, "a deny rule stops the request; redact, tokenize, zones and backends have no effect in it");
        if (!rule.when.zones.empty() && (rule.action == Action::allow || !rule.zones.empty() || !rule.backends.empty()))
            r_.error(t, "rule '" + rule.name + "' has a 'zones' condition: it is about sending to those zones, so it "
                        "may deny (keeping the request from them), redact, tokenize or capture_payload; allow, zones "
                        "and backends belong in rules without one");
    }
};

}  // namespace

LoadResult load_policy_text(std::string_view yaml, std::string file_label, const LeftOut& left_out) {
    LoadResult result;
    YamlReader reader(file_label, result.diagnostics);
    const auto root = reader.parse(yaml);
    if (!root) return result;
    PolicyModel model;
    model.file_label = file_label;
    model.version = sha256_hex(yaml);
    PolicyBuilder builder(reader, model, left_out, result.read);
    builder.build(*root);
    const bool built_cleanly = result.diagnostics.empty();
    // The detectors that were read compile even when the file has other problems, so that a regex
    // vectorscan refuses is reported in the same run as everything else.
    std::vector<PatternProblem> problems;
    auto set = DetectorSet::compile(std::move(builder.specs), problems);
    for (const auto& p : problems) {
        // A problem of the database as a whole may name no detector that has a place in the file.
        const bool placed = p.detector < builder.detector_marks.size();
        const int line = placed ? YamlReader::one_based(builder.detector_marks[p.detector].line) : 1;
        const int column = placed ? YamlReader::one_based(builder.detector_marks[p.detector].column) : 1;
        result.diagnostics.push_back({file_label, line, column, p.message});
    }
    if (!set) return result;
    model.detectors = std::move(set);
    if (!built_cleanly) {
        // What was read, for lint to analyse the parts without a problem.
        if (builder.read_a_mapping && !model.classes.empty())
            result.partial = std::make_shared<const Policy>(std::move(model));
        return result;
    }
    result.policy = std::make_shared<const Policy>(std::move(model));
    return result;
}

LoadResult load_policy_file(const std::filesystem::path& path) {
    std::string error;
    const auto text = read_text_file(path, max_yaml_file_bytes, error);
    if (!text) {
        LoadResult result;
        result.diagnostics.push_back({path.string(), 1, 1, error.substr(error.find(": ") + 2)});
        return result;
    }
    return load_policy_text(*text, path.string());
}

}  // namespace sovereign::policy

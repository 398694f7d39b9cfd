#include "policy/test_suite.hpp"

#include <algorithm>
#include <sstream>

#include "policy/diagnostic.hpp"
#include "policy/engine.hpp"
#include "policy/response_scanner.hpp"
#include "policy/unscanned_parts.hpp"
#include "policy/yaml_reader.hpp"

namespace sovereign::policy {

namespace {

constexpr std::array<std::string_view, 2> suite_keys{"policy", "cases"};
constexpr std::array<std::string_view, 4> case_keys{"name", "request", "answer", "expect"};
constexpr std::array<std::string_view, 2> required_case_keys{"name", "expect"};
constexpr std::array<std::string_view, 4> answer_keys{"tenant", "text", "arguments", "chunk_chars"};
constexpr std::array<std::string_view, 3> answer_expect_keys{"text", "detectors", "redacted"};
constexpr std::array<std::string_view, 8> request_keys{"tenant", "model",  "endpoint", "data_class",
                                                       "messages", "text", "input", "description"};
constexpr std::array<std::string_view, 2> message_keys{"role", "content"};
constexpr std::array<std::string_view, 3> part_keys{"type", "text", "url"};
constexpr std::array<std::string_view, 11> expect_keys{"action",   "rule",     "message",   "data_class",
                                                       "zones",    "backends", "detectors", "redacted",
                                                       "tokenized", "matched", "capture_payload"};
constexpr std::array<std::string_view, 12> all_expect_keys{"action",    "rule",     "message",   "data_class",
                                                           "zones",     "backends", "detectors", "redacted",
                                                           "tokenized", "matched",  "capture_payload", "text"};
constexpr std::size_t max_cases = 10000;

std::string show(const std::vector<std::string>& items) {
    std::string out = "[";
    for (std::size_t i = 0; i < items.size(); ++i) out += (i ? ", " : "") + items[i];
    return out + "]";
}

std::vector<std::string> sorted(std::vector<std::string> items) {
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
    return items;
}

// A message's content as a list of parts, as a chat client sends it: text parts ({text}, or {type: text,
// text}) are scanned; any other type (image_url...) is a part no detector reads, whose `url`, where it
// has one, is scanned as the gateway scans the URL string.
void read_content_parts(YamlReader& r, const YAML::Node& parts, std::size_t message, Request& request) {
    const std::string content = "messages[" + std::to_string(message) + "].content";
    if (parts.size() == 0) {
        r.error(parts, "content must be a text or a list of at least one part ({text: ...} or {type: image_url, url: ...})");
        return;
    }
    for (std::size_t j = 0; j < parts.size(); ++j) {
        const auto& p = parts[j];
        const std::size_t before = r.problem_count();
        if (!r.check_map(p, "a content part", part_keys) || r.problem_count() != before) continue;
        const std::string at = content + "[" + std::to_string(j) + "]";
        const auto type = p["type"] ? r.text(p["type"], "type") : std::optional<std::string>("text");
        if (!type) continue;
        if (text_part_type(*type)) {
            if (!p["text"]) r.error(p, "a part of type " + *type + " needs 'text'");
            else request.segments.push_back({at + ".text", r.text(p["text"], "text").value_or("")});
            if (p["url"]) r.error(p["url"], "'url' is for parts that are not text (" + *type + " holds text)");
            continue;
        }
        if (p["text"]) r.error(p["text"], "a part of type '" + *type + "' holds no text; write the text as a part of its own");
        UnscannedPart part{at, *type, {}};
        if (p["url"]) {
            const std::string path = at + "." + *type + ".url";
            const auto url = r.text(p["url"], "url").value_or("");
            request.segments.push_back({path, url});
            if (!inline_data_url(url)) part.remote_url_path = path;
        }
        request.unscanned_parts.push_back(std::move(part));
    }
}

void read_request(YamlReader& r, const YAML::Node& n, Request& request) {
    if (!r.check_map(n, "request", request_keys, std::array<std::string_view, 1>{"tenant"})) return;
    if (n["tenant"]) request.tenant = r.text(n["tenant"], "tenant").value_or("");
    if (n["model"]) request.model = r.text(n["model"], "model").value_or("");
    if (n["data_class"]) request.declared_class = r.text(n["data_class"], "data_class").value_or("");
    const int bodies = (n["messages"] ? 1 : 0) + (n["text"] ? 1 : 0) + (n["input"] ? 1 : 0);
    if (bodies != 1) r.error(n, "a request needs exactly one of 'messages' (chat), 'text' (completion) or 'input' (embeddings)");
    request.endpoint = n["text"] ? "completions" : n["input"] ? "embeddings" : "chat.completions";
    // The body's key says the endpoint, as the path does at the gateway; 'endpoint' may only repeat it.
    if (n["endpoint"]) {
        const auto endpoint = r.text(n["endpoint"], "endpoint");
        if (endpoint && *endpoint != request.endpoint)
            r.error(n["endpoint"], "endpoint '" + *endpoint + "' is not the endpoint of this request: its " +
                                       (n["text"] ? "'text'" : n["input"] ? "'input'" : "'messages'") + " makes it " +
                                       request.endpoint + " (chat.completions: messages, completions: text, "
                                       "embeddings: input); leave 'endpoint' out");
    }
    if (n["messages"]) {
        // A chat request without a message is one no client can send (the gateway refuses it).
        if (!n["messages"].IsSequence() || n["messages"].size() == 0) {
            r.error(n["messages"], "messages must be a list of at least one {role, content}");
            return;
        }
        for (std::size_t i = 0; i < n["messages"].size(); ++i) {
            const auto& m = n["messages"][i];
            // The gateway refuses a message without a role (400) before its policy decides, so a case
            // without one would pass for a request no client gets through.
            if (!r.check_map(m, "a message", message_keys, message_keys)) continue;
            if (m["role"]) (void)r.text(m["role"], "role");
            if (m["content"] && m["content"].IsSequence())
                read_content_parts(r, m["content"], i, request);
            else if (m["content"])
                request.segments.push_back({"messages[" + std::to_string(i) + "].content",
                                            r.text(m["content"], "content").value_or("")});
        }
    }
    if (n["text"]) request.segments.push_back({"prompt", r.text(n["text"], "text").value_or("")});
    if (n["input"]) request.segments.push_back({"input", r.text(n["input"], "input").value_or("")});
}

void read_answer(YamlReader& r, const YAML::Node& n, AnswerCase& answer) {
    if (!r.check_map(n, "answer", answer_keys, std::array<std::string_view, 1>{"tenant"})) return;
    answer.tenant = r.text(n["tenant"], "tenant").value_or("");
    if (static_cast<bool>(n["text"]) == static_cast<bool>(n["arguments"])) {
        r.error(n, "an answer needs exactly one of 'text' (what the model writes as prose) or 'arguments' (the "
                   "arguments of a tool call it answers with, as JSON text)");
        return;
    }
    if (n["text"]) answer.text = r.text(n["text"], "text").value_or("");
    if (n["arguments"]) {
        // The gateway gets arguments as JSON text in a string and reads that text's own escapes; a YAML
        // mapping here would leave open how it is written, escapes and all, so the text is asked for.
        if (n["arguments"].IsMap() || n["arguments"].IsSequence()) {
            r.error(n["arguments"], "arguments must be the JSON text the model writes, quoted as one string, "
                                    "like '{\"iban\": \"DE89 3704 0044 0532 0130 00\"}'");
            return;
        }
        answer.text = r.text(n["arguments"], "arguments").value_or("");
        answer.form = AnswerText::json_text;
    }
    if (n["chunk_chars"]) {
        const auto chunk = r.integer(n["chunk_chars"], "chunk_chars");
        if (chunk && (*chunk < 1 || *chunk > 4096)) r.error(n["chunk_chars"], "chunk_chars must be 1 to 4096");
        else if (chunk) answer.chunk_chars = static_cast<std::size_t>(*chunk);
    }
}

// Which expectations apply depends on the case: a decision for a request, the text for an answer.
void read_expectation(YamlReader& r, const YAML::Node& n, TestExpectation& e, bool answer) {
    if (!r.check_map(n, "expect", all_expect_keys)) return;
    if (n.size() == 0) {
        r.error(n, answer ? "expect checks nothing: name what the answer must become (text, detectors, redacted)"
                          : "expect checks nothing: name at least the action (allow or deny)");
        return;
    }
    for (const auto& entry : n) {
        if (!entry.first.IsScalar()) continue;  // check_map reported it
        const std::string key = entry.first.Scalar();
        if (std::find(all_expect_keys.begin(), all_expect_keys.end(), key) == all_expect_keys.end()) continue;  // as well
        const bool allowed = answer ? std::find(answer_expect_keys.begin(), answer_expect_keys.end(), key) !=
                                          answer_expect_keys.end()
                                    : std::find(expect_keys.begin(), expect_keys.end(), key) != expect_keys.end();
        if (!allowed)
            r.error(entry.first, "'" + key + "' is not expected of " +
                                     (answer ? std::string("an answer case (text, detectors, redacted)")
                                             : std::string("a request case ('text' is for answer cases)")));
    }
    if (n["text"]) e.text = r.text(n["text"], "text");
    if (n["action"]) {
        e.action = r.text(n["action"], "action");
        if (e.action && *e.action != "allow" && *e.action != "deny")
            r.error(n["action"], "action must be allow or deny");
    }
    if (n["rule"]) e.rule = r.text(n["rule"], "rule");
    if (n["message"]) {
        e.message = r.text(n["message"], "message");
        // Every message contains the empty text: such an expectation would pass whatever is decided.
        if (e.message && e.message->empty())
            r.error(n["message"], "message is empty, which every message contains, so it checks nothing; write part "
                                  "of the deny message the case expects");
    }
    if (n["data_class"]) e.data_class = r.text(n["data_class"], "data_class");
    if (n["zones"]) e.zones = r.text_list(n["zones"], "zones");
    if (n["backends"]) e.backends = r.text_list(n["backends"], "backends");
    if (n["detectors"]) e.detectors = r.text_list(n["detectors"], "detectors");
    if (n["redacted"]) e.redacted = r.text_list(n["redacted"], "redacted");
    if (n["tokenized"]) e.tokenized = r.text_list(n["tokenized"], "tokenized");
    if (n["matched"]) e.matched = r.text_list(n["matched"], "matched");
    if (n["capture_payload"]) e.capture_payload = r.boolean(n["capture_payload"], "capture_payload");
}

template <typename T>
void compare(std::vector<std::string>& diffs, std::string_view field, const std::optional<T>& expected,
             const T& actual, auto&& render) {
    if (expected && *expected != actual)
        diffs.push_back("- expected " + std::string(field) + ": " + render(*expected) + "\n+ actual   " +
                        std::string(field) + ": " + render(actual));
}

}  // namespace

TestSuiteLoad load_test_suite(const std::filesystem::path& path) {
    TestSuiteLoad result;
    std::string error;
    const auto text = read_text_file(path, max_yaml_file_bytes, error);
    if (!text) {
        result.diagnostics.push_back({path.string(), 1, 1, error.substr(error.find(": ") + 2)});
        return result;
    }
    YamlReader r(path.string(), result.diagnostics);
    const auto root = r.parse(*text);
    if (!root) return result;
    if (!r.check_map(*root, "the test file", suite_keys, suite_keys)) return result;
    TestSuite suite;
    if (const auto policy = r.text((*root)["policy"], "policy")) {
        suite.policy_path = std::filesystem::path(*policy);
        if (suite.policy_path.is_relative()) suite.policy_path = path.parent_path() / suite.policy_path;
    }
    const auto& cases = (*root)["cases"];
    if (!cases.IsDefined()) return result;  // reported by check_map above
    if (!cases.IsSequence() || cases.size() == 0 || cases.size() > max_cases) {
        r.error(cases, "cases must be a list of 1 to " + std::to_string(max_cases) + " test cases");
        return result;
    }
    for (const auto& c : cases) {
        if (!r.check_map(c, "a test case", case_keys, required_case_keys)) continue;
        TestCase tc;
        tc.line = YamlReader::line_of(c);
        tc.name = r.text(c["name"], "name").value_or("");
        for (const auto& other : suite.cases)
            if (other.name == tc.name) r.error(c["name"], "test case '" + tc.name + "' appears twice");
        if (static_cast<bool>(c["request"]) == static_cast<bool>(c["answer"])) {
            r.error(c, "a test case needs exactly one of 'request' (what the policy decides) or 'answer' (what it "
                       "leaves of a model's answer)");
            continue;
        }
        if (c["request"]) read_request(r, c["request"], tc.request);
        else read_answer(r, c["answer"], tc.answer.emplace());
        read_expectation(r, c["expect"], tc.expect, tc.answer.has_value());
        suite.cases.push_back(std::move(tc));
    }
    if (result.diagnostics.empty()) result.suite = std::move(suite);
    return result;
}

std::filesystem::path resolve_test_file(const std::filesystem::path& file) {
    std::string error;
    if (const auto text = read_text_file(file, max_yaml_file_bytes, error)) {
        try {
            const auto root = load_single_document(*text);
            if (root.IsMap() && root["cases"]) return file;
        } catch (const YAML::Exception&) {
            return file;  // load_test_suite reports the syntax error with its position
        }
    }
    auto stem = file;
    stem.replace_extension();
    return std::filesystem::path(stem.string() + ".tests.yaml");
}

bool SuiteResult::passed() const {
    return std::all_of(cases.begin(), cases.end(), [](const CaseResult& c) { return c.passed(); });
}

namespace {

// An answer case: the answer goes through the scanner that checks model output, whole or in chunks.
CaseResult run_answer_case(const TestCase& tc, const std::shared_ptr<const Policy>& policy) {
    const AnswerCase& answer = *tc.answer;
    CaseResult cr{tc.name, tc.line, {}, {}};
    ResponseScanner scanner(policy, answer.tenant, answer.form);
    std::string out;
    if (answer.chunk_chars == 0) {
        out = scanner.complete(answer.text);
    } else {
        for (std::size_t at = 0; at < answer.text.size(); at += answer.chunk_chars)
            out += scanner.feed(std::string_view(answer.text).substr(at, answer.chunk_chars));
        out += scanner.finish();
    }
    if (scanner.failed()) {
        cr.differences.push_back("the answer could not be scanned (" + scanner.failure().detector + ": " +
                                 scanner.failure().message + "); the gateway would withhold it");
        return cr;
    }
    const std::vector<char> redacts = policy->redacted_in_answers(answer.tenant);
    std::vector<std::string> found;
    std::vector<std::string> redacted;
    for (const auto& [name, count] : scanner.counts()) {
        found.push_back(name);
        if (redacts[policy->detectors().find(name)] != 0) redacted.push_back(name);
    }
    const auto& e = tc.expect;
    auto& diffs = cr.differences;
    auto set_of = [](const std::optional<std::vector<std::string>>& v) {
        return v ? std::optional<std::vector<std::string>>(sorted(*v)) : std::nullopt;
    };
    compare(diffs, "text", e.text, out, [](const std::string& s) { return s; });
    compare(diffs, "detectors", set_of(e.detectors), sorted(found), show);
    compare(diffs, "redacted", set_of(e.redacted), sorted(redacted), show);
    return cr;
}

}  // namespace

SuiteResult run_test_suite(const TestSuite& suite, const std::shared_ptr<const Policy>& policy_ptr) {
    const Policy& policy = *policy_ptr;
    SuiteResult result;
    result.rule_count = policy.model().rules.size();
    for (const auto& tc : suite.cases) {
        if (tc.answer) {
            result.cases.push_back(run_answer_case(tc, policy_ptr));
            continue;
        }
        const Decision d = evaluate(tc.request, policy);
        CaseResult cr{tc.name, tc.line, {}, {}};
        if (policy.find_tenant(tc.request.tenant) == nullptr) {
            std::vector<std::string_view> names;
            for (const auto& t : policy.model().tenants) names.push_back(t.name);
            const auto suggestion = closest_name(tc.request.tenant, names);
            cr.notes.push_back("tenant '" + tc.request.tenant + "' is not listed in the policy: decided with the default "
                               "clearance and no zones of its own" +
                               (suggestion.empty() ? "" : " (did you mean '" + suggestion + "'?)"));
        }
        auto& diffs = cr.differences;
        const auto& e = tc.expect;
        auto plain = [](const std::string& s) { return s; };
        compare(diffs, "action", e.action, std::string(d.action == Action::allow ? "allow" : "deny"), plain);
        compare(diffs, "rule", e.rule, d.deciding_rule, plain);
        if (e.message && d.message.find(*e.message) == std::string::npos)
            diffs.push_back("- expected message containing: " + *e.message + "\n+ actual   message: " + d.message);
        compare(diffs, "data_class", e.data_class, d.data_class, plain);
        auto set_of = [](const std::optional<std::vector<std::string>>& v) {
            return v ? std::optional<std::vector<std::string>>(sorted(*v)) : std::nullopt;
        };
        std::vector<std::string> found;
        for (const auto& [name, count] : d.detector_counts) found.push_back(name);
        // As the audit record counts them: "unscanned:image_url".
        for (const auto& [type, count] : d.unscanned_counts) found.push_back("unscanned:" + type);
        std::vector<std::string> redacted;
        std::vector<std::string> tokenized;
        for (const auto& s : d.spans) (s.kind == TransformKind::redact ? redacted : tokenized).push_back(s.detector);
        std::vector<std::string> matched;
        for (const auto& m : d.matched) {
            matched.push_back(m.rule);
            result.rules_exercised.insert(m.rule);
        }
        compare(diffs, "zones", set_of(e.zones), sorted(d.allowed_zones), show);
        compare(diffs, "backends", set_of(e.backends), sorted(d.allowed_backends), show);
        compare(diffs, "detectors", set_of(e.detectors), sorted(found), show);
        compare(diffs, "redacted", set_of(e.redacted), sorted(redacted), show);
        compare(diffs, "tokenized", set_of(e.tokenized), sorted(tokenized), show);
        compare(diffs, "matched", set_of(e.matched), sorted(matched), show);
        compare(diffs, "capture_payload", e.capture_payload, d.capture_payload,
                [](bool b) { return std::string(b ? "true" : "false"); });
        result.cases.push_back(std::move(cr));
    }
    for (const auto& rule : policy.model().rules)
        if (!result.rules_exercised.contains(rule.name)) result.rules_not_exercised.push_back(rule.name);
    return result;
}

std::string render_suite_result(const SuiteResult& result, const std::string& file_label) {
    std::ostringstream out;
    std::size_t failed = 0;
    for (const auto& c : result.cases) {
        out << (c.passed() ? "PASS " : "FAIL ") << c.name << "\n";
        for (const auto& note : c.notes) out << "  note: " << note << "\n";
        if (c.passed()) continue;
        ++failed;
        out << "  at " << file_label << ":" << c.line << "\n";
        for (const auto& d : c.differences) {
            std::istringstream lines(d);
            std::string line;
            while (std::getline(lines, line)) out << "    " << line << "\n";
        }
    }
    out << "\n" << (result.cases.size() - failed) << " passed, " << failed << " failed\n";
    out << "coverage: " << result.rules_exercised.size() << "/" << result.rule_count << " rules exercised";
    if (result.rule_count > 0)
        out << " (" << (100 * result.rules_exercised.size() / result.rule_count) << "%)";
    out << "\n";
    if (!result.rules_not_exercised.empty()) {
        out << "rules no case exercises:";
        for (const auto& r : result.rules_not_exercised) out << " " << r;
        out << "\n";
    }
    return out.str();
}

}  // namespace sovereign::policy

#include "gateway/cli/policy_command.hpp"

#include <boost/json.hpp>

#include <filesystem>
#include <iostream>
#include <optional>
#include <string_view>
#include <vector>

#include "gateway/cli/arguments.hpp"
#include "gateway/config/gateway_config.hpp"
#include "gateway/config/policy_backends.hpp"
#include "gateway/openai/request_body.hpp"
#include "gateway/pipeline/policy_request.hpp"
#include "policy/diagnostic.hpp"
#include "policy/engine.hpp"
#include "policy/explain.hpp"
#include "policy/join.hpp"
#include "policy/lint.hpp"
#include "policy/test_suite.hpp"

namespace sovereign::gateway {

namespace {

namespace json = boost::json;
namespace pol = sovereign::policy;

constexpr std::string_view usage =
    "usage:\n"
    "  sovereign policy lint FILE [--gateway GATEWAY.yaml] [--backends NAME:ZONE:MODEL1,MODEL2]...\n"
    "  sovereign policy test FILE            (a test file, or a policy with FILE.tests.yaml beside it)\n"
    "  sovereign policy explain --policy FILE --request REQ.json --tenant T [--model M] [--data-class C]\n"
    "  sovereign policy explain --policy FILE --answer ANSWER.txt --tenant T\n"
    "                                        (what the policy leaves of a model's answer)\n"
    "  sovereign policy explain --policy FILE --arguments ARGS.json --tenant T\n"
    "                                        (the same for a tool call's arguments, read as JSON text)\n";

constexpr std::size_t max_request_file_bytes = 32 * 1024 * 1024;
// Above the gateway's own limit (64 levels), which its decoder then applies with its own message.
constexpr std::size_t parse_depth_beyond_the_gateways = 4096;

const CommandUsage policy_usage("sovereign policy", usage);

int usage_error(std::string_view message) { return policy_usage.error(message); }

void print(const std::vector<pol::Diagnostic>& diagnostics) {
    for (const auto& d : diagnostics) std::cout << pol::format_diagnostic(d) << "\n";
}

std::optional<pol::BackendInfo> parse_backend(std::string_view spec) {
    const auto first = spec.find(':');
    const auto second = first == std::string_view::npos ? first : spec.find(':', first + 1);
    if (second == std::string_view::npos) return std::nullopt;
    pol::BackendInfo b{std::string(spec.substr(0, first)), std::string(spec.substr(first + 1, second - first - 1)), {}};
    auto models = spec.substr(second + 1);
    while (!models.empty()) {
        const auto comma = models.find(',');
        if (!models.substr(0, comma).empty()) b.models.emplace_back(models.substr(0, comma));
        models = comma == std::string_view::npos ? std::string_view{} : models.substr(comma + 1);
    }
    if (b.name.empty() || b.zone.empty()) return std::nullopt;
    return b;
}

int lint(std::span<const std::string> args) {
    auto parsed =
        policy_usage.parse(args, ArgumentSpec().takes_values({"--gateway", "--backends"}).repeats({"--gateway", "--backends"}).at_most(1));
    if (auto* answered = std::get_if<int>(&parsed)) return *answered;
    const Arguments& arguments = std::get<Arguments>(parsed);
    std::optional<std::string> file;
    if (!arguments.positionals().empty()) file = arguments.positionals()[0];
    std::optional<std::vector<pol::BackendInfo>> backends;
    std::optional<std::vector<std::string>> gateway_tenants;
    std::vector<std::string> unread_gateways;
    for (const std::string& gateway_file : arguments.values("--gateway")) {
        // The operator's gateway.yaml says which backends exist, in which zones, for which models.
        auto loaded = load_gateway_config(gateway_file);
        if (auto* errors = std::get_if<std::vector<ConfigError>>(&loaded)) {
            // Reported, and the policy is linted all the same: a gateway file that does not load here (a
            // model or certificate it names exists only on the gateway's host) must not hide its problems.
            for (const auto& error : *errors) std::cout << error.to_string() << '\n';
            unread_gateways.push_back(gateway_file);
            continue;
        }
        const GatewayConfig& config = *std::get<std::shared_ptr<const GatewayConfig>>(loaded);
        if (!backends) backends.emplace();
        for (auto& backend : policy_backends(config)) backends->push_back(std::move(backend));
        if (!gateway_tenants) gateway_tenants.emplace();
        for (const auto& tenant : config.tenants) gateway_tenants->push_back(tenant.name);
    }
    for (const std::string& spec : arguments.values("--backends")) {
        const auto b = parse_backend(spec);
        if (!b) return usage_error("--backends '" + spec + "' is not NAME:ZONE:MODEL1,MODEL2");
        if (!backends) backends.emplace();
        backends->push_back(*b);
    }
    if (!file) return usage_error("lint needs a FILE");
    if (!unread_gateways.empty()) {
        // Half the gateway's backends and tenants would make every other one look missing.
        backends.reset();
        gateway_tenants.reset();
    }
    const auto diagnostics =
        pol::lint_policy_file(*file, backends ? &*backends : nullptr, gateway_tenants ? &*gateway_tenants : nullptr);
    print(diagnostics);
    if (!unread_gateways.empty()) {
        std::cout << *file << ": backends and tenants not checked: " << pol::join(unread_gateways)
                  << " did not load (see above)\n";
        return 1;
    }
    if (diagnostics.empty()) {
        std::cout << *file << ": no problems found"
                  << (backends ? "" : " (backend reachability not checked: give --gateway or --backends)") << "\n";
        return 0;
    }
    return 1;
}

int test(std::span<const std::string> args) {
    auto parsed = policy_usage.parse(args, ArgumentSpec().at_most(1));
    if (auto* answered = std::get_if<int>(&parsed)) return *answered;
    if (std::get<Arguments>(parsed).positionals().empty()) return usage_error("test takes one FILE");
    const std::string& file = std::get<Arguments>(parsed).positionals()[0];
    const auto test_file = pol::resolve_test_file(file);
    const auto loaded = pol::load_test_suite(test_file);
    if (!loaded.suite) {
        print(loaded.diagnostics);
        return 1;
    }
    // Given a policy, its tests must be for that policy: the named file is the one to be tested.
    std::error_code ec;
    if (test_file != std::filesystem::path(file) && !std::filesystem::equivalent(file, loaded.suite->policy_path, ec)) {
        std::cerr << test_file.string() << ": its 'policy:' names " << loaded.suite->policy_path.string()
                  << ", not " << file << ", so it would not test " << file
                  << ": point 'policy:' at it, or run 'sovereign policy test " << test_file.string() << "'\n";
        return 1;
    }
    const auto policy = pol::load_policy_file(loaded.suite->policy_path);
    if (!policy.policy) {
        print(policy.diagnostics);
        return 1;
    }
    const auto result = pol::run_test_suite(*loaded.suite, policy.policy);
    std::cout << "policy " << loaded.suite->policy_path.string() << " (sha256:" << policy.policy->version() << ")\n"
              << pol::render_suite_result(result, test_file.string());
    return result.passed() ? 0 : 1;
}

// Which endpoint a request file is for, from the key that holds its text, as the gateway knows it
// from the path the body was posted to.
std::optional<Endpoint> endpoint_of(const json::object& body) {
    if (body.contains("messages")) return Endpoint::chat_completions;
    if (body.contains("prompt")) return Endpoint::completions;
    if (body.contains("input")) return Endpoint::embeddings;
    return std::nullopt;
}

int explain(std::span<const std::string> args) {
    auto parsed = policy_usage.parse(args, ArgumentSpec()
                                               .takes_values({"--policy", "--request", "--answer", "--arguments",
                                                              "--tenant", "--model", "--data-class"})
                                               .at_most(0));
    if (auto* answered = std::get_if<int>(&parsed)) return *answered;
    const Arguments& arguments = std::get<Arguments>(parsed);
    const std::optional<std::string> policy_file = arguments.value("--policy"), request_file = arguments.value("--request"),
                                     answer_file = arguments.value("--answer"), arguments_file = arguments.value("--arguments"),
                                     tenant = arguments.value("--tenant"), model = arguments.value("--model"),
                                     data_class = arguments.value("--data-class");
    const int inputs = (request_file ? 1 : 0) + (answer_file ? 1 : 0) + (arguments_file ? 1 : 0);
    if (!policy_file || !tenant || inputs != 1)
        return usage_error("explain needs --policy, --tenant and one of --request, --answer or --arguments");
    const auto policy = pol::load_policy_file(*policy_file);
    if (!policy.policy) {
        print(policy.diagnostics);
        return 1;
    }
    std::string error;
    // A tool call's arguments are JSON text, read with its string escapes resolved, as the gateway reads them.
    if (answer_file || arguments_file) {
        const auto answer = pol::read_text_file(answer_file ? *answer_file : *arguments_file, max_request_file_bytes, error);
        if (!answer) {
            std::cerr << error << "\n";
            return 2;
        }
        std::cout << pol::explain_answer(policy.policy, *tenant, *answer,
                                         answer_file ? pol::AnswerText::prose : pol::AnswerText::json_text);
        return 0;
    }
    const auto text = pol::read_text_file(*request_file, max_request_file_bytes, error);
    if (!text) {
        std::cerr << error << "\n";
        return 2;
    }
    // Nesting far deeper than the gateway takes is parsed here, so that the gateway's decoder below
    // decides on it as the gateway does: Boost.JSON's default (32 levels) refused bodies it serves.
    json::parse_options options;
    options.max_depth = parse_depth_beyond_the_gateways;
    json::stream_parser parser({}, options);
    boost::system::error_code ec;
    parser.write(text->data(), text->size(), ec);
    if (!ec) parser.finish(ec);
    if (ec) {
        // In the words the application would get: the byte, its line and column, and what is wrong.
        const auto decoded = decode_request(Endpoint::chat_completions, *text);
        const auto* error = std::get_if<ApiError>(&decoded);
        std::cerr << *request_file << ": " << (error != nullptr ? error->message : "invalid JSON: " + ec.message())
                  << "\n";
        return 2;
    }
    json::value body = parser.release();
    if (!body.is_object()) {
        std::cerr << *request_file << ": the request body must be a JSON object\n";
        return 2;
    }
    const auto endpoint = endpoint_of(body.get_object());
    if (!endpoint) {
        std::cerr << *request_file << ": the body has none of messages (chat), prompt (completions) or input "
                     "(embeddings)\n";
        return 2;
    }
    if (model) body.get_object()["model"] = *model;
    // Decoded as the gateway decodes a body posted to that endpoint: every string it holds is a text the
    // policy reads, and what the gateway refuses before the policy decides is reported as such.
    // The file as written first: a repeated key (which re-serialising the parsed body would drop) is
    // refused as the gateway refuses it.
    auto decoded = decode_request(*endpoint, model ? json::serialize(body) : *text, {}, TextScope::every_string);
    std::optional<ApiError> refusal;
    if (auto* error = std::get_if<ApiError>(&decoded)) refusal = *error;
    else refusal = refused_before_policy(std::get<DecodedRequest>(decoded), *policy.policy, *tenant);
    auto refused = [](const ApiError& error, const char* when) {
        std::cout << "Decision: REFUSED " << when << " (HTTP " << static_cast<unsigned>(error.status) << ", "
                  << error.code << (error.param.empty() ? "" : ", parameter '" + error.param + "'")
                  << ")\nMessage to the application: " << error.message << "\n";
        return 0;
    };
    if (refusal) return refused(*refusal, "before the policy decides");
    const auto& request_body = std::get<DecodedRequest>(decoded);
    const auto request = policy_request(request_body, *tenant, data_class.value_or(""));
    pol::EvaluationTrace trace;
    const auto decision = pol::evaluate(request, *policy.policy, &trace);
    if (decision.action == pol::Action::allow)
        if (auto after = refused_after_policy(request_body, decision)) return refused(*after, "after the policy decided");
    if (policy.policy->find_tenant(*tenant) == nullptr) {
        // Legal (such a tenant has the default clearance and no zones of its own), but often a typo.
        std::vector<std::string_view> names;
        for (const auto& t : policy.policy->model().tenants) names.push_back(t.name);
        const auto suggestion = pol::closest_name(*tenant, names);
        std::cout << "Note: the policy lists no tenant '" << *tenant << "'; it is decided with the default clearance "
                  << "and no zones of its own" << (suggestion.empty() ? "" : " (did you mean '" + suggestion + "'?)")
                  << ".\n";
    }
    std::cout << pol::render_explanation(request, decision, trace, *policy.policy);
    return 0;
}

}  // namespace

int run_policy_command(std::span<const std::string> args) {
    if (const auto answered = policy_usage.answer_without_subcommand(args)) return *answered;
    const auto rest = args.subspan(1);
    if (args[0] == "lint") return lint(rest);
    if (args[0] == "test") return test(rest);
    if (args[0] == "explain") return explain(rest);
    return usage_error("unknown command '" + args[0] + "'");
}

}  // namespace sovereign::gateway

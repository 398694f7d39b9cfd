// Every example policy and test suite with one line deleted, or the key on one line misspelt: the
// loader, lint and `policy test` report problems with positions and never crash or throw. This is
// the deterministic part of tests/fuzz/policy_fuzz (which found a misspelt 'cases:' and a test case
// without 'name' aborting `policy test`, and a policy without detectors crashing the loader).
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "policy/diagnostic.hpp"
#include "policy/lint.hpp"
#include "policy/policy.hpp"
#include "policy/test_suite.hpp"

using namespace sovereign::policy;

namespace {

const std::filesystem::path examples = std::filesystem::path(SOURCE_ROOT) / "examples";

std::vector<std::string> lines_of(const std::filesystem::path& path) {
    std::ifstream in(path);
    std::vector<std::string> lines;
    for (std::string line; std::getline(in, line);) lines.push_back(line);
    return lines;
}

std::string joined(const std::vector<std::string>& lines) {
    std::string out;
    for (const auto& line : lines) out += line + "\n";
    return out;
}

// The file with line i deleted, and (where the line holds a key) with that key misspelt.
std::vector<std::string> damaged(const std::vector<std::string>& lines, std::size_t i) {
    std::vector<std::string> out;
    auto without = lines;
    without.erase(without.begin() + static_cast<std::ptrdiff_t>(i));
    out.push_back(joined(without));
    if (const auto colon = lines[i].find(':'); colon != std::string::npos) {
        auto misspelt = lines;
        misspelt[i].insert(colon, "x");
        out.push_back(joined(misspelt));
    }
    return out;
}

void write(const std::filesystem::path& path, const std::string& text) {
    std::ofstream(path, std::ios::trunc) << text;
}

void check_positions(const std::vector<Diagnostic>& diagnostics) {
    for (const auto& d : diagnostics) {
        CHECK(d.line >= 1);
        CHECK(d.column >= 1);
        CHECK_FALSE(d.message.empty());
    }
}

class ScratchDir {
  public:
    ScratchDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "sovereign-damaged-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~ScratchDir() { std::filesystem::remove_all(path_); }
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

}  // namespace

TEST_SUITE("damaged") {
    TEST_CASE("every example test suite with a line deleted or a key misspelt is read or refused, never a crash") {
        ScratchDir dir;
        std::size_t refused = 0;
        for (const char* example : {"bank", "hospital", "public-sector", "quickstart"}) {
            const auto policy_text = lines_of(examples / example / "policy.yaml");
            write(dir.path() / "policy.yaml", joined(policy_text));
            const auto policy = load_policy_text(joined(policy_text), "policy.yaml").policy;
            REQUIRE(policy);
            const auto suite_lines = lines_of(examples / example / "policy.tests.yaml");
            for (std::size_t i = 0; i < suite_lines.size(); ++i) {
                for (const auto& text : damaged(suite_lines, i)) {
                    CAPTURE(example);
                    CAPTURE(i);
                    write(dir.path() / "policy.tests.yaml", text);
                    const auto suite = load_test_suite(dir.path() / "policy.tests.yaml");
                    check_positions(suite.diagnostics);
                    if (suite.suite) (void)render_suite_result(run_test_suite(*suite.suite, policy), "policy.tests.yaml");
                    else ++refused;
                }
            }
        }
        CHECK(refused > 100);  // most damage is noticed
    }

    TEST_CASE("example policies with a line deleted or a key misspelt load or are refused with positions") {
        // One of the four: each load compiles the vectorscan databases (about 0.15 s).
        std::size_t refused = 0;
        for (const char* example : {"quickstart"}) {
            const auto lines = lines_of(examples / example / "policy.yaml");
            for (std::size_t i = 0; i < lines.size(); ++i) {
                CAPTURE(example);
                CAPTURE(i);
                const auto text = damaged(lines, i).back();
                const auto loaded = load_policy_text(text, "policy.yaml");
                check_positions(loaded.diagnostics);
                if (!loaded.policy) ++refused;
                else CHECK(loaded.diagnostics.empty());
            }
        }
        CHECK(refused > 10);
    }

    TEST_CASE("lint reads an example policy past a YAML syntax error on any line to a problem elsewhere") {
        // An unclosed '[' after the colon of a line of the quickstart policy, and a key misspelt in
        // another part of it (a zone's, or else the last rule's): lint reports the loader's syntax error
        // first, then the misspelt key, as the loader reports it in a file with only that problem.
        const auto lines = lines_of(examples / "quickstart" / "policy.yaml");
        std::size_t broken_lines = 0;
        for (std::size_t i = 0; i < lines.size(); ++i) {
            const auto colon = lines[i].find(':');
            if (colon == std::string::npos || lines[i].starts_with("#")) continue;
            const std::size_t other = i >= 9 && i <= 11 ? 41 : 11;  // 0-based: "action:" or the zone's "description:"
            auto misspelt = lines;
            misspelt[other].insert(misspelt[other].find(':'), "x");
            const auto only_misspelt = load_policy_text(joined(misspelt), "policy.yaml");
            REQUIRE(only_misspelt.diagnostics.size() == 1);
            auto broken = misspelt;
            broken[i].insert(colon + 1, " [");
            CAPTURE(broken[i]);
            const auto loaded = load_policy_text(joined(broken), "policy.yaml");
            REQUIRE_FALSE(loaded.diagnostics.empty());
            if (!loaded.diagnostics[0].message.starts_with("YAML syntax error")) continue;  // '[' read as text
            ++broken_lines;
            const auto linted = lint_policy_text(joined(broken), "policy.yaml", nullptr);
            check_positions(linted);
            REQUIRE(linted.size() >= 2);
            CHECK(format_diagnostic(linted[0]) == format_diagnostic(loaded.diagnostics[0]));
            CHECK(format_diagnostic(linted.back()) == format_diagnostic(only_misspelt.diagnostics[0]));
        }
        CHECK(broken_lines > 15);
    }
}

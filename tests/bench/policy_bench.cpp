// Policy engine speed: scan throughput with every built-in detector on (2 KB chat turns, 1 MB
// documents, streamed output) next to the bandwidth ceiling (memchr and memcpy over the same bytes) and
// std::regex with two of the same patterns; decision latency for a 2 KB prompt under the hospital policy.
// usage: policy_bench [path/to/examples/hospital/policy.yaml]      (single thread; numbers are per core)
//        policy_bench POLICY --document-only [ROUNDS]   scans only the 1 MB document ROUNDS times (default 3) and
//        prints its MB/s: for instruction counts, e.g. valgrind --tool=callgrind --toggle-collect='*scan_document_rounds*'
//        policy_bench POLICY --turns-only [ROUNDS]      the same for the 2 KB turns with a sensitive value in every fifth
//        sentence (512 turns a round; callgrind: --toggle-collect='*scan_turn_rounds*')
// Throughput is the best of several rounds; latency percentiles are over every decision (its first run, and
// its fastest of three in a row), next to how often this machine stops a program that does nothing.

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "policy/engine.hpp"
#include "policy/response_scanner.hpp"

using namespace sovereign::policy;
using Clock = std::chrono::steady_clock;

namespace {

std::mt19937_64 rng(7);

// Realistic prompt prose: clinical, financial and support wording, with a sensitive value in some turns.
std::string prose(std::size_t bytes, int sensitive_every) {
    static const std::vector<std::string> sentences{
        "The patient reported mild chest pain after climbing two flights of stairs on Tuesday morning. ",
        "Please summarise the attached discharge letter for the general practitioner in plain language. ",
        "Our quarterly revenue grew by 4.2 percent while operating costs stayed flat compared to 2023. ",
        "Draft a polite reply explaining that the replacement part will ship within 10 working days. ",
        "Der Kunde bittet um eine Rückrufnummer und eine kurze Zusammenfassung des Vertrags. ",
        "Le rapport mentionne trois incidents mineurs sans conséquence pour les usagers du service. ",
        "Translate the following paragraph into Spanish, keeping the formal tone of the original. ",
        "List the open action items from the meeting and assign an owner and a due date to each. ",
    };
    static const std::vector<std::string> values{
        "Contact: jane.doe@example.org. ", "Card 4111 1111 1111 1111 was declined. ",
        "NHS number 943 476 5919 on file. ", "IBAN DE89 3704 0044 0532 0130 00 for the refund. ",
        "Call +44 20 7946 0958 tomorrow. ", "Server 10.20.1.5 is down. ",
    };
    std::string out;
    int n = 0;
    while (out.size() < bytes) {
        ++n;
        if (sensitive_every > 0 && n % sensitive_every == 0) out += values[rng() % values.size()];
        else out += sentences[rng() % sentences.size()];
    }
    out.resize(bytes);
    return out;
}

template <typename F>
double seconds(F&& f) {
    const auto start = Clock::now();
    f();
    return std::chrono::duration<double>(Clock::now() - start).count();
}

// The fastest of several rounds: the machine is shared, and a round another process preempted says
// nothing about the code.
template <typename F>
double best_seconds(int rounds, F&& f) {
    double best = 1e30;
    for (int r = 0; r < rounds; ++r) best = std::min(best, seconds(f));
    return best;
}

struct Row {
    const char* what;
    double mb_per_s;
};

void print_rows(const char* title, const std::vector<Row>& rows, double ceiling) {
    std::printf("\n%s\n\n| scan | MB/s (one core) | share of memchr ceiling |\n|---|---:|---:|\n", title);
    for (const auto& r : rows) std::printf("| %s | %.0f | %.3f |\n", r.what, r.mb_per_s, r.mb_per_s / ceiling);
}

// How often the machine stops a running program, and for how long: a loop reads the clock as fast as
// it can and counts the gaps over 5 us. On a quiet physical machine they are rare; a virtual machine's
// host can take tens of microseconds every millisecond, which is every decision that happens to span it.
struct Interruptions {
    double per_second = 0, median_us = 0, longest_us = 0, share = 0;
};

Interruptions measure_interruptions(double for_seconds) {
    std::vector<double> gaps;
    const auto start = Clock::now();
    auto previous = start;
    for (;;) {
        const auto now = Clock::now();
        const double gap = std::chrono::duration<double, std::micro>(now - previous).count();
        if (gap > 5) gaps.push_back(gap);
        previous = now;
        if (std::chrono::duration<double>(now - start).count() >= for_seconds) break;
    }
    Interruptions out;
    if (gaps.empty()) return out;
    std::sort(gaps.begin(), gaps.end());
    double total = 0;
    for (double g : gaps) total += g;
    out.per_second = static_cast<double>(gaps.size()) / for_seconds;
    out.median_us = gaps[gaps.size() / 2];
    out.longest_us = gaps.back();
    out.share = total / (for_seconds * 1e6);
    return out;
}

void print_percentiles(const char* what, std::vector<double> times) {
    std::sort(times.begin(), times.end());
    auto at = [&](double q) { return times[static_cast<std::size_t>(q * static_cast<double>(times.size() - 1))]; };
    std::printf("| %s | %.1f us | %.1f us | %.1f us | %.1f us |\n", what, at(0.5), at(0.9), at(0.99), times.back());
}

// The 1 MB document case alone, for counting instructions under callgrind (its toggle names this function).
[[gnu::noinline]] double scan_document_rounds(const DetectorSet& set, const std::string& document, int rounds) {
    std::vector<Detection> found;
    ScanFailure failure;
    std::size_t findings = 0;
    const double best = best_seconds(rounds, [&] {
        if (!set.scan(document, 0, found, failure)) std::abort();
        findings += found.size();
    });
    std::printf("1 MB document, all detectors: %zu findings a scan, best of %d: %.0f MB/s\n", findings / static_cast<std::size_t>(rounds),
                rounds, static_cast<double>(document.size()) / 1e6 / best);
    return best;
}

// The 2 KB turns with a sensitive value in every fifth sentence alone, as above.
[[gnu::noinline]] double scan_turn_rounds(const DetectorSet& set, const std::vector<std::string>& turns, int rounds) {
    std::vector<Detection> found;
    ScanFailure failure;
    std::size_t findings = 0, bytes = 0;
    for (const auto& t : turns) bytes += t.size();
    const double best = best_seconds(rounds, [&] {
        for (const auto& t : turns) {
            if (!set.scan(t, 0, found, failure)) std::abort();
            findings += found.size();
        }
    });
    std::printf("2 KB turns, a value in every fifth sentence, all detectors: %.2f findings a turn, best of %d: %.0f MB/s\n",
                static_cast<double>(findings) / static_cast<double>(rounds) / static_cast<double>(turns.size()), rounds,
                static_cast<double>(bytes) / 1e6 / best);
    return best;
}

}  // namespace

int main(int argc, char** argv) {
    const std::string policy_path = argc > 1 ? argv[1] : "examples/hospital/policy.yaml";
    const auto loaded = load_policy_file(policy_path);
    if (!loaded.policy) {
        std::fprintf(stderr, "cannot load %s (run from the repository root or pass the path)\n", policy_path.c_str());
        return 1;
    }
    const Policy& policy = *loaded.policy;
    const auto& set = policy.detectors();
    if (argc > 2 && std::string_view(argv[2]) == "--document-only") {
        const int rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 3;
        scan_document_rounds(set, prose(1 << 20, 40), rounds);
        return 0;
    }
    if (argc > 2 && std::string_view(argv[2]) == "--turns-only") {
        const int rounds = argc > 3 ? std::max(1, std::atoi(argv[3])) : 3;
        std::vector<std::string> turns;
        for (int i = 0; i < 512; ++i) turns.push_back(prose(2048, 5));
        scan_turn_rounds(set, turns, rounds);
        return 0;
    }
    std::printf("Policy benchmark: %zu detectors (every built-in plus the policy's own); one pass per text through the\n"
                "full-text vectorscan database, follow-up scans only in windows around digit runs; runs of key characters found by a run finder\n",
                set.detectors().size());

    std::vector<Detection> found;
    ScanFailure failure;
    volatile std::size_t sink = 0;

    // 2 KB chat turns: many small scans, as the gateway does per message.
    std::vector<std::string> turns;
    for (int i = 0; i < 512; ++i) turns.push_back(prose(2048, 5));
    const double turn_bytes = 512.0 * 2048.0;
    auto run_turns = [&](int rounds, auto&& body) {
        return turn_bytes / 1e6 / best_seconds(rounds, [&] {
                   for (const auto& t : turns) body(t);
               });
    };
    const double memchr_turns = run_turns(200, [&](const std::string& t) {
        sink = sink + (std::memchr(t.data(), '\x01', t.size()) != nullptr);
    });
    std::string copy(2048, ' ');
    const double memcpy_turns = run_turns(200, [&](const std::string& t) {
        std::memcpy(copy.data(), t.data(), t.size());
        sink = sink + static_cast<unsigned char>(copy[t.size() / 2]);
    });
    const double scan_turns = run_turns(10, [&](const std::string& t) {
        if (!set.scan(t, 0, found, failure)) std::abort();
        sink = sink + found.size();
    });
    // The reference the windows must agree with: the digit-dense patterns over every byte.
    const double scan_turns_whole = run_turns(3, [&](const std::string& t) {
        if (!set.scan_whole_text(t, 0, found, failure)) std::abort();
        sink = sink + found.size();
    });
    // The same sentences without the sensitive values: prose with only the odd year or percentage.
    std::vector<std::string> plain_turns;
    for (int i = 0; i < 512; ++i) plain_turns.push_back(prose(2048, 0));
    const double scan_plain = turn_bytes / 1e6 / best_seconds(10, [&] {
        for (const auto& t : plain_turns) {
            if (!set.scan(t, 0, found, failure)) std::abort();
            sink = sink + found.size();
        }
    });
    // Not prose: base64 data pasted into a prompt, one long run of the characters keys are made of.
    std::vector<std::string> base64_turns;
    const char* base64_alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (int i = 0; i < 512; ++i) {
        std::string t;
        while (t.size() < 2048) t += base64_alphabet[rng() % 64];
        base64_turns.push_back(std::move(t));
    }
    const double scan_base64 = turn_bytes / 1e6 / best_seconds(10, [&] {
        for (const auto& t : base64_turns) {
            if (!set.scan(t, 0, found, failure)) std::abort();
            sink = sink + found.size();
        }
    });
    // Not prose either: log lines, digits everywhere (timestamps, request ids, durations, sizes).
    std::vector<std::string> log_turns;
    for (int i = 0; i < 512; ++i) {
        std::string t;
        while (t.size() < 2048) {
            char line[160];
            std::snprintf(line, sizeof line, "2026-11-%02u 12:%02u:%02u.%03u INFO req=%08x took %u ms status 200 bytes %u\n",
                          static_cast<unsigned>(rng() % 28 + 1), static_cast<unsigned>(rng() % 60),
                          static_cast<unsigned>(rng() % 60), static_cast<unsigned>(rng() % 1000),
                          static_cast<unsigned>(rng()), static_cast<unsigned>(rng() % 900),
                          static_cast<unsigned>(rng() % 100000));
            t += line;
        }
        t.resize(2048);
        log_turns.push_back(std::move(t));
    }
    const double scan_logs = turn_bytes / 1e6 / best_seconds(10, [&] {
        for (const auto& t : log_turns) {
            if (!set.scan(t, 0, found, failure)) std::abort();
            sink = sink + found.size();
        }
    });
    // Prose that does not repeat itself: the GNU GPL as Debian installs it (base-files), in 2 KB turns.
    // The generated prose above cycles through eight sentences, which flatters whatever the branch
    // predictor learns; this text is the check on it.
    std::vector<std::string> license_turns;
    {
        std::FILE* file = std::fopen("/usr/share/common-licenses/GPL-3", "rb");
        std::string text;
        char chunk[4096];
        for (std::size_t n = 0; file != nullptr && (n = std::fread(chunk, 1, sizeof chunk, file)) > 0;) text.append(chunk, n);
        if (file != nullptr) std::fclose(file);
        for (std::size_t at = 0; at + 2048 <= text.size(); at += 2048) license_turns.push_back(text.substr(at, 2048));
    }
    const double scan_license = license_turns.empty() ? 0.0 : static_cast<double>(license_turns.size()) * 2048 / 1e6 / best_seconds(40, [&] {
        for (const auto& t : license_turns) {
            if (!set.scan(t, 0, found, failure)) std::abort();
            sink = sink + found.size();
        }
    });
    const std::regex email(R"([A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,})");
    const std::regex card(R"([2-6](?:[ -]?[0-9]){12,18})");
    const double regex_turns = run_turns(1, [&](const std::string& t) {
        sink = sink + static_cast<std::size_t>(std::distance(std::sregex_iterator(t.begin(), t.end(), email),
                                                             std::sregex_iterator()));
        sink = sink + static_cast<std::size_t>(std::distance(std::sregex_iterator(t.begin(), t.end(), card),
                                                             std::sregex_iterator()));
    });
    print_rows("Scan throughput, 2 KB chat turns",
               {{"memchr (bandwidth ceiling)", memchr_turns},
                {"memcpy", memcpy_turns},
                {"all detectors, prose with few numbers", scan_plain},
                {"all detectors, the GPL's text (prose that does not repeat)", scan_license},
                {"all detectors, a sensitive value in every fifth sentence", scan_turns},
                {"the same, digit-dense patterns over the whole text (no windows)", scan_turns_whole},
                {"all detectors, base64 data (not prose)", scan_base64},
                {"all detectors, log lines (not prose)", scan_logs},
                {"std::regex, 2 patterns (email, card)", regex_turns}},
               memchr_turns);
    std::printf("\nvectorscan with %zu detectors is %.0fx faster than std::regex with 2\n", set.detectors().size(),
                scan_turns / regex_turns);

    // 1 MB documents.
    const std::string document = prose(1 << 20, 40);
    auto run_doc = [&](int rounds, auto&& body) {
        return static_cast<double>(document.size()) / 1e6 / best_seconds(rounds, body);
    };
    const double memchr_doc = run_doc(500, [&] { sink = sink + (std::memchr(document.data(), '\x01', document.size()) != nullptr); });
    const double scan_doc = run_doc(20, [&] {
        if (!set.scan(document, 0, found, failure)) std::abort();
        sink = sink + found.size();
    });
    const double stream_doc = run_doc(5, [&] {
        ResponseScanner scanner(loaded.policy, "research");
        std::size_t emitted = 0;
        // Model output arrives a token or two at a time: 24-byte chunks.
        for (std::size_t at = 0; at < document.size(); at += 24)
            emitted += scanner.feed(std::string_view(document).substr(at, 24)).size();
        emitted += scanner.finish().size();
        sink = sink + emitted;
    });
    print_rows("Scan throughput, 1 MB documents (a sensitive value in every 40th sentence)",
               {{"memchr (bandwidth ceiling)", memchr_doc},
                {"all detectors, vectorscan + validators", scan_doc},
                {"streamed response, 24-byte chunks", stream_doc}},
               memchr_doc);
    std::printf("\nstreamed response: %.0f chunks of 24 bytes per second on one core\n", stream_doc * 1e6 / 24);

    // Decision latency: the whole evaluate() for a 2 KB prompt, scan included. Each decision is timed
    // three times in a row: the first time is the one a request gets; the fastest of the three is the
    // code's own time, since the peer below shows that a virtual machine can stop every program for tens
    // of microseconds at a time and three runs in a row are not all stopped.
    const Interruptions machine = measure_interruptions(0.5);
    std::vector<double> first_times, best_times;
    const int decisions = 20000;
    first_times.reserve(decisions);
    best_times.reserve(decisions);
    for (int i = 0; i < decisions; ++i) {
        Request request{"research", "llama-3.1-8b", "chat.completions", "",
                        {{"messages[0].content", turns[static_cast<std::size_t>(i) % turns.size()]}}};
        double best = 1e30;
        for (int repeat = 0; repeat < 3; ++repeat) {
            const auto start = Clock::now();
            const Decision d = evaluate(request, policy);
            const double us = std::chrono::duration<double, std::micro>(Clock::now() - start).count();
            if (repeat == 0) first_times.push_back(us);
            best = std::min(best, us);
            sink = sink + d.spans.size();
        }
        best_times.push_back(best);
    }
    std::printf("\nDecision latency, 2 KB prompt, policy %s (%d decisions)\n\n", policy_path.c_str(), decisions);
    std::printf("| timing | p50 | p90 | p99 | max |\n|---|---:|---:|---:|---:|\n");
    print_percentiles("each decision, first run", first_times);
    print_percentiles("each decision, fastest of 3 runs in a row", best_times);
    std::printf("\nthis machine, measured in the same run: a loop that only reads the clock was stopped %.0f times a second\n"
                "for more than 5 us (median %.1f us, longest %.1f us): %.1f%% of its time\n",
                machine.per_second, machine.median_us, machine.longest_us, machine.share * 100);
    return sink == 42 ? 2 : 0;
}

// Sealed captures' health: failing from a failed write of the capture directory until one succeeds,
// or while a write has been outstanding past the write timeout; probes started at most once a second
// and only while failing, and a body too large to seal counted against that capture alone, never
// against the directory.
#include <doctest/doctest.h>

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <optional>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "crypto/key_file.hpp"
#include "gateway/pipeline/capture_health.hpp"
#include "gateway/pipeline/capture_shutdown.hpp"
#include "gateway/pipeline/gateway_services.hpp"
#include "gateway/pipeline/sealed_captures.hpp"

using namespace sovereign;
using namespace sovereign::gateway;
using namespace std::chrono_literals;

namespace {

// A capture directory under a fresh temporary directory, with the auditor keyring beside it.
class CaptureSite {
 public:
  CaptureSite() {
    std::string pattern = (std::filesystem::temp_directory_path() / "sovereign-capture-health-XXXXXX").string();
    root_ = ::mkdtemp(pattern.data());
    REQUIRE(crypto::append_public_key(root_ / "auditor.pub",
                                      crypto::public_key_of(crypto::generate_key(crypto::KeyKind::auditor)))
                .ok());
  }
  ~CaptureSite() {
    std::error_code ec;
    std::filesystem::remove_all(root_, ec);
  }
  std::filesystem::path captures() const { return root_ / "captures"; }
  std::filesystem::path keyring() const { return root_ / "auditor.pub"; }
  // Gives `services` this site's capture store, as the gateway opens it at start.
  void open_for(GatewayServices& services) const {
    auto store = crypto::CaptureStore::open(captures(), keyring());
    REQUIRE(store.ok());
    services.captures.emplace(std::move(store.value()));
  }
  // A regular file where the directory was (it stops root too); undone by unblock().
  void block() const {
    std::filesystem::rename(captures(), root_ / "captures.moved");
    std::ofstream(captures()) << "not a directory\n";
  }
  void unblock() const {
    std::filesystem::remove(captures());
    std::filesystem::rename(root_ / "captures.moved", captures());
  }

 private:
  std::filesystem::path root_;
};

// Runs what was posted to the capture thread so far, as the gateway's capture writer would.
void drain(GatewayServices& services) {
  std::promise<void> done;
  boost::asio::post(services.capture_writer, [&] { done.set_value(); });
  done.get_future().wait();
}

crypto::CaptureMetadata metadata(const std::string& part = "request") { return {"req-7", part, 1'700'000'000'000}; }

// Holds the one capture thread in a write that does not return until release(), as a write to a
// hung disk would (begun as every capture and probe write begins, by telling capture health): no
// test can make a real disk hang without root, so this stands in for it.
class HungCaptureThread {
 public:
  explicit HungCaptureThread(GatewayServices& services) {
    boost::asio::post(services.capture_writer, [this, &services] {
      const std::uint64_t id = services.capture_health.write_started(CaptureHealth::Clock::now());
      entered_.set_value();
      released_.get_future().wait();
      services.capture_health.write_finished(id);
    });
    entered_.get_future().wait();
  }
  ~HungCaptureThread() { release(); }
  void release() {
    if (!released_once_) released_.set_value();
    released_once_ = true;
  }

 private:
  std::promise<void> entered_;
  std::promise<void> released_;
  bool released_once_ = false;
};

// What post_capture answered, run on `io` until it has (or `limit` passes).
std::optional<crypto::Result<std::filesystem::path>> capture_answer(GatewayServices& services, boost::asio::io_context& io,
                                                                    std::string body, std::chrono::milliseconds limit) {
  std::optional<crypto::Result<std::filesystem::path>> answer;
  post_capture(services, io, metadata(), std::move(body),
               [&](crypto::Result<std::filesystem::path> written) { answer.emplace(std::move(written)); });
  io.restart();
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!answer && std::chrono::steady_clock::now() < deadline) io.run_for(10ms);
  return answer;
}

// What the process writes to stderr (the operator's log) while it lives, read back by text().
class StderrCapture {
 public:
  explicit StderrCapture(std::filesystem::path file) : file_(std::move(file)) {
    std::fflush(stderr);
    saved_ = ::dup(2);
    std::FILE* out = std::fopen(file_.c_str(), "w");
    REQUIRE(out != nullptr);
    ::dup2(::fileno(out), 2);
    std::fclose(out);
  }
  ~StderrCapture() { restore(); }
  std::string text() {
    restore();
    std::ifstream in(file_);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }

 private:
  void restore() {
    if (saved_ < 0) return;
    std::fflush(stderr);
    ::dup2(saved_, 2);
    ::close(saved_);
    saved_ = -1;
  }
  std::filesystem::path file_;
  int saved_ = -1;
};

}  // namespace

TEST_SUITE("capture health") {
  TEST_CASE("failing since the last failed write, with its reason; healthy again after one that succeeds") {
    CaptureHealth health;
    CHECK(health.healthy());
    CHECK_FALSE(health.failure());
    CHECK_FALSE(health.record_success());  // no change: nothing to log

    CHECK(health.record_failure("disk full"));
    CHECK_FALSE(health.healthy());
    CHECK(health.failure() == "disk full");
    CHECK_FALSE(health.record_failure("directory removed"));  // still failing: logged once
    CHECK(health.failure() == "directory removed");            // with the latest reason

    CHECK(health.record_success());
    CHECK(health.healthy());
    CHECK_FALSE(health.failure());
  }

  TEST_CASE("probes start only while failing, one at a time, at most once a probe interval") {
    CaptureHealth health;
    const auto start = CaptureHealth::Clock::now();
    CHECK_FALSE(health.begin_probe(start));  // healthy: nothing to probe

    REQUIRE(health.record_failure("disk full"));
    CHECK(health.begin_probe(start));
    CHECK_FALSE(health.begin_probe(start + 2s));  // the first still runs (a slow disk)
    health.probe_finished();
    CHECK_FALSE(health.begin_probe(start + CaptureHealth::probe_interval - 1ms));
    CHECK(health.begin_probe(start + CaptureHealth::probe_interval));
    health.probe_finished();

    REQUIRE(health.record_success());
    CHECK_FALSE(health.begin_probe(start + 10s));
  }

  TEST_CASE("a directory that cannot be written fails captures until a probe finds it writable again") {
    CaptureSite site;
    GatewayServices services;
    site.open_for(services);

    REQUIRE(write_capture(services, metadata(), "first").ok());
    CHECK(services.capture_health.healthy());

    // Too large to seal: this capture fails, the directory is as writable as before.
    auto too_large = write_capture(services, metadata(), std::string(crypto::max_capture_body_bytes + 1, 'x'));
    REQUIRE_FALSE(too_large.ok());
    CHECK(services.capture_health.healthy());

    site.block();
    auto refused = write_capture(services, metadata("response"), "second");
    REQUIRE_FALSE(refused.ok());
    CHECK_FALSE(services.capture_health.healthy());
    CHECK(services.capture_health.failure() == refused.error().message);
    CHECK(refused.error().message.find(": cannot create a file next to it: Not a directory") != std::string::npos);

    // Probes while the directory is still blocked keep it failing, with the probe's reason.
    check_capture_health(services);
    drain(services);
    REQUIRE(services.capture_health.failure());
    CHECK(services.capture_health.failure()->find(site.captures().string() + "/.probe-") == 0);

    site.unblock();
    check_capture_health(services);  // within the probe interval of the last one: none starts
    drain(services);
    CHECK_FALSE(services.capture_health.healthy());
    std::this_thread::sleep_for(CaptureHealth::probe_interval);
    check_capture_health(services);
    drain(services);
    CHECK(services.capture_health.healthy());
    // The first capture is there, and no probe file.
    CHECK_FALSE(std::filesystem::is_empty(site.captures()));
    for (const auto& entry : std::filesystem::directory_iterator(site.captures()))
      CHECK(entry.path().filename().string().find(".probe-") == std::string::npos);
  }

  TEST_CASE("a write or probe outstanding for the write timeout counts as failing until the directory answers") {
    CaptureHealth health;
    health.set_write_timeout(2s);
    const auto start = CaptureHealth::Clock::now();
    const std::uint64_t hung = health.write_started(start);
    const std::uint64_t queued = health.write_started(start + 500ms);
    CHECK_FALSE(health.stalled(start + 2s - 1ms));
    CHECK_FALSE(health.record_stall(start + 2s - 1ms));
    CHECK(health.healthy());

    REQUIRE(health.stalled(start + 2s));
    CHECK(*health.stalled(start + 2s) ==
          "a write to the capture directory has not finished after 2000 ms (audit.capture_write_timeout_ms is 2000): "
          "its disk or file server may hang");
    CHECK(health.record_stall(start + 2s));  // a change: logged once
    CHECK_FALSE(health.record_stall(start + 3s));
    CHECK_FALSE(health.healthy());
    CHECK(health.failure()->find("has not finished after 3000 ms") != std::string::npos);

    // The first returns at last; the one queued behind it has itself been waiting 2.5 s: still failing.
    health.write_finished(hung);
    CHECK_FALSE(health.record_success(start + 3s));
    CHECK_FALSE(health.healthy());
    CHECK(health.failure()->find("has not finished after 2500 ms") != std::string::npos);
    health.write_finished(queued);
    CHECK(health.record_success(start + 3s));
    CHECK(health.healthy());
    CHECK_FALSE(health.stalled(start + 1h));
  }

  // A burst on a disk that keeps writing queues captures behind each other: the time they wait for
  // their turn is not a hang (it failed every captured request and /readyz under a burst).
  TEST_CASE("captures queued behind slow writes wait their turn; only a write in progress can stall") {
    CaptureSite site;
    GatewayServices services;
    site.open_for(services);
    services.capture_health.set_write_timeout(400ms);
    boost::asio::io_context io;
    // Four writes of 150 ms each ahead of it: it waits 600 ms, no one write takes 400.
    for (int i = 0; i < 4; ++i)
      boost::asio::post(services.capture_writer, [&services] {
        const std::uint64_t id = services.capture_health.write_started(CaptureHealth::Clock::now());
        std::this_thread::sleep_for(150ms);
        services.capture_health.write_finished(id);
      });
    auto queued = capture_answer(services, io, "queued behind a burst", 5s);
    REQUIRE(queued);
    CHECK_MESSAGE(queued->ok(), (queued->ok() ? std::string() : queued->error().message));
    CHECK(services.capture_health.healthy());
  }

  TEST_CASE("a capture whose write hangs is refused after the write timeout; later ones at once, until it returns") {
    CaptureSite site;
    GatewayServices services;
    site.open_for(services);
    services.capture_health.set_write_timeout(500ms);
    boost::asio::io_context io;

    auto written = capture_answer(services, io, "before the disk hangs", 5s);
    REQUIRE(written);
    REQUIRE(written->ok());

    auto hang = std::make_unique<HungCaptureThread>(services);
    const auto handed_over = std::chrono::steady_clock::now();
    auto refused = capture_answer(services, io, "while it hangs", 5s);
    REQUIRE(refused);
    CHECK(std::chrono::steady_clock::now() - handed_over >= 500ms);
    REQUIRE_FALSE(refused->ok());
    CHECK_MESSAGE(refused->error().message.find("a write to the capture directory has not finished after") == 0,
                  refused->error().message);
    CHECK_FALSE(services.capture_health.healthy());
    REQUIRE(services.capture_health.failure());
    CHECK(services.capture_health.failure()->find("(audit.capture_write_timeout_ms is 500)") != std::string::npos);

    // Another captured request is refused without waiting, and without a write queued behind the hang.
    const auto asked = std::chrono::steady_clock::now();
    auto at_once = capture_answer(services, io, "refused at once", 5s);
    REQUIRE(at_once);
    REQUIRE_FALSE(at_once->ok());
    CHECK(std::chrono::steady_clock::now() - asked < 500ms);
    check_capture_health(services);  // what /readyz does: still failing, a probe queued behind the hang
    CHECK_FALSE(services.capture_health.healthy());

    // The disk answers: the probe is written (the refused capture is skipped: no record would name
    // its file), and captures are healthy again.
    hang->release();
    drain(services);
    CHECK(services.capture_health.healthy());
    auto after = capture_answer(services, io, "after the disk answers", 5s);
    REQUIRE(after);
    CHECK(after->ok());
  }

  TEST_CASE("at shutdown a capture thread stuck in a write is abandoned after the write timeout, and logged") {
    CaptureSite site;
    GatewayServices services;
    site.open_for(services);
    services.capture_health.set_write_timeout(300ms);
    boost::asio::io_context io;

    // Nothing outstanding: the thread is finished at once, and may be joined.
    const auto idle = std::chrono::steady_clock::now();
    CHECK(finish_captures(services));
    CHECK(std::chrono::steady_clock::now() - idle < 300ms);

    // A capture handed over while the thread hangs in a write: the wait ends at the write timeout.
    auto hang = std::make_unique<HungCaptureThread>(services);
    post_capture(services, io, metadata(), "queued behind the hang", [](crypto::Result<std::filesystem::path>) {});
    CHECK(services.capture_health.outstanding() == 1);
    const auto asked = std::chrono::steady_clock::now();
    bool finished = true;
    std::string log;
    {
      StderrCapture captured(site.captures().parent_path() / "stderr.log");
      finished = finish_captures(services);
      log = captured.text();
    }
    const auto waited = std::chrono::steady_clock::now() - asked;
    CHECK_FALSE(finished);
    CHECK(waited >= 300ms);
    CHECK(waited < 3s);
    CHECK_MESSAGE(log.find("\"event\":\"captures_abandoned\"") != std::string::npos, log);
    CHECK_MESSAGE(log.find("1 capture write(s) or probe(s) of the capture directory still outstanding") !=
                      std::string::npos,
                  log);
    CHECK_MESSAGE(log.find("(audit.capture_write_timeout_ms is 300)") != std::string::npos, log);

    // The disk answers (here, so the test can end): the queued capture is written and nothing is left.
    hang->release();
    drain(services);
    CHECK(services.capture_health.outstanding() == 0);
    CHECK(finish_captures(services));
  }
}

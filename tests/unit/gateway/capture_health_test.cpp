// Sealed captures' health: failing from a failed write of the capture directory until one succeeds,
// probes started at most once a second and only while failing, and a body too large to seal counted
// against that capture alone, never against the directory.
#include <doctest/doctest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <string>
#include <thread>

#include <boost/asio/post.hpp>

#include "crypto/key_file.hpp"
#include "gateway/pipeline/capture_health.hpp"
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
    auto store = crypto::CaptureStore::open(site.captures(), site.keyring());
    REQUIRE(store.ok());
    services.captures.emplace(std::move(store.value()));

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
    probe_captures_while_failing(services);
    drain(services);
    REQUIRE(services.capture_health.failure());
    CHECK(services.capture_health.failure()->find(site.captures().string() + "/.probe-") == 0);

    site.unblock();
    probe_captures_while_failing(services);  // within the probe interval of the last one: none starts
    drain(services);
    CHECK_FALSE(services.capture_health.healthy());
    std::this_thread::sleep_for(CaptureHealth::probe_interval);
    probe_captures_while_failing(services);
    drain(services);
    CHECK(services.capture_health.healthy());
    // The first capture is there, and no probe file.
    CHECK_FALSE(std::filesystem::is_empty(site.captures()));
    for (const auto& entry : std::filesystem::directory_iterator(site.captures()))
      CHECK(entry.path().filename().string().find(".probe-") == std::string::npos);
  }
}

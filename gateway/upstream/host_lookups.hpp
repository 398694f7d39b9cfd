#pragma once
// Host-name lookups that never hold up the thread that asks for them, nor the end of the process.
// Each lookup runs getaddrinfo on a detached thread of its own (so several names are looked up at
// once) and its answer, or "no answer within LIMIT ms" once its limit passes, is handed to the
// caller on the io_context given at construction. glibc's getaddrinfo cannot be interrupted: a
// lookup stuck on a DNS server that never answers keeps its thread until glibc gives up (its
// resolv.conf timeouts), but nobody waits for that thread: once close() has run, what it finds is
// dropped, and the thread touches nothing but its own copy of the name and a mutex it shares.
// A lookup of a host:port that another one still waits for in glibc (a retry every interval on a
// dead DNS server, a reload) takes that one's answer rather than a thread of its own, so there is
// at most one thread per name however long glibc keeps it.
// (asio's resolver would run the lookups in series on one thread, which closing the io_context
// joins, so a hung lookup would hold up shutdown.)
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

namespace sovereign::gateway {

// What one lookup found: addresses, or why there are none (the resolver's words, or the limit passed).
struct LookupAnswer {
  std::vector<boost::asio::ip::tcp::endpoint> endpoints;
  std::string error;  // empty: the name resolved (endpoints may still be empty)
};

class HostLookups {
 public:
  // A lookup that has not answered by then counts as failed (glibc's own DNS timeout is 5 s a try,
  // and it tries each server in resolv.conf, twice by default).
  static constexpr std::chrono::milliseconds default_limit{10'000};

  explicit HostLookups(boost::asio::io_context& io);
  ~HostLookups();  // close()
  HostLookups(const HostLookups&) = delete;
  HostLookups& operator=(const HostLookups&) = delete;

  // Looks up host:port (a numeric port, TCP); `done` runs once on the io_context, with the answer
  // or, once `limit` has passed without one, with the error "no answer within LIMIT ms". Call on the
  // io_context's thread.
  void lookup(const std::string& host, std::uint16_t port, std::chrono::milliseconds limit,
              std::function<void(LookupAnswer)> done);

  // From now on no answer is handed over (lookups still in glibc end on their own and are dropped);
  // call before the io_context is shut down or destroyed.
  void close();

 private:
  struct Pending;
  // Shared with the lookup threads, which outlive this object: where to hand an answer, if anywhere.
  struct Mailbox {
    std::mutex mutex;
    boost::asio::io_context* io = nullptr;  // null once closed
    // "host:port" of each lookup thread still running, with the lookups waiting for its answer.
    std::map<std::string, std::vector<std::weak_ptr<Pending>>> running;
  };

  boost::asio::io_context& io_;
  std::shared_ptr<Mailbox> mailbox_;
};

}  // namespace sovereign::gateway

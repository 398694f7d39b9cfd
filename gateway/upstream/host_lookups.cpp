#include "gateway/upstream/host_lookups.hpp"

#include <netdb.h>
#include <sys/socket.h>

#include <cstring>
#include <system_error>
#include <thread>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace sovereign::gateway {
namespace {

// The resolver's reason in the words asio gives it (as the 503 answer and the log have always read).
std::string lookup_error(int code) {
  switch (code) {
    case EAI_NONAME:
#ifdef EAI_NODATA
    case EAI_NODATA:
#endif
      return "Host not found (authoritative)";
    case EAI_AGAIN:
      return "Host not found (non-authoritative), try again later";
    case EAI_FAIL:
      return "A non-recoverable error occurred during database lookup";
    case EAI_SERVICE:
      return "Service not found";
    default:
      return ::gai_strerror(code);
  }
}

// Blocking: runs on a lookup thread only.
LookupAnswer look_up(const std::string& host, std::uint16_t port) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_protocol = IPPROTO_TCP;
  hints.ai_flags = AI_ADDRCONFIG | AI_NUMERICSERV;  // as asio's resolver asks by default
  addrinfo* found = nullptr;
  LookupAnswer answer;
  const int code = ::getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints, &found);
  if (code != 0) {
    answer.error = code == EAI_SYSTEM ? std::error_code(errno, std::generic_category()).message() : lookup_error(code);
    return answer;
  }
  for (const addrinfo* entry = found; entry != nullptr; entry = entry->ai_next) {
    if (entry->ai_family != AF_INET && entry->ai_family != AF_INET6) continue;
    boost::asio::ip::tcp::endpoint endpoint;
    endpoint.resize(entry->ai_addrlen);
    std::memcpy(endpoint.data(), entry->ai_addr, entry->ai_addrlen);
    answer.endpoints.push_back(endpoint);
  }
  ::freeaddrinfo(found);
  return answer;
}

}  // namespace

// One lookup, as the io_context's thread sees it; only that thread ever holds it (the lookup
// thread holds a weak pointer), so the handler and what it captures are destroyed there.
struct HostLookups::Pending {
  explicit Pending(boost::asio::io_context& io) : deadline(io) {}
  boost::asio::steady_timer deadline;
  std::function<void(LookupAnswer)> done;  // emptied once it has run
  void finish(LookupAnswer answer) {
    if (!done) return;
    auto handler = std::move(done);
    done = nullptr;
    deadline.cancel();
    handler(std::move(answer));
  }
};

HostLookups::HostLookups(boost::asio::io_context& io) : io_(io), mailbox_(std::make_shared<Mailbox>()) {
  mailbox_->io = &io;
}

HostLookups::~HostLookups() { close(); }

void HostLookups::close() {
  std::lock_guard lock(mailbox_->mutex);
  mailbox_->io = nullptr;
}

void HostLookups::lookup(const std::string& host, std::uint16_t port, std::chrono::milliseconds limit,
                         std::function<void(LookupAnswer)> done) {
  auto pending = std::make_shared<Pending>(io_);
  pending->done = std::move(done);
  // The deadline's handler holds the lookup until it fires or an answer cancels it.
  pending->deadline.expires_after(limit);
  pending->deadline.async_wait([pending, limit](boost::system::error_code ec) {
    if (ec) return;
    pending->finish({{}, "no answer within " + std::to_string(limit.count()) + " ms"});
  });
  const std::string key = host + ':' + std::to_string(port);
  {
    std::lock_guard lock(mailbox_->mutex);
    auto [entry, first] = mailbox_->running.try_emplace(key);
    entry->second.push_back(pending);
    if (!first) return;  // that thread's answer is this lookup's too
  }
  try {
    std::thread([mailbox = mailbox_, key, host, port] {
      LookupAnswer answer = look_up(host, port);
      std::lock_guard lock(mailbox->mutex);
      auto waiting = std::move(mailbox->running[key]);
      mailbox->running.erase(key);
      if (mailbox->io == nullptr) return;  // closed: nobody waits for this answer any more
      boost::asio::post(*mailbox->io, [waiting = std::move(waiting), answer = std::move(answer)] {
        for (const auto& weak : waiting)
          if (auto pending = weak.lock()) pending->finish(answer);
      });
    }).detach();
  } catch (const std::system_error& error) {  // no thread to be had (ulimit -u): a failed lookup
    std::lock_guard lock(mailbox_->mutex);
    auto waiting = std::move(mailbox_->running[key]);
    mailbox_->running.erase(key);
    boost::asio::post(io_, [waiting = std::move(waiting), why = std::string("cannot start a lookup thread: ") + error.what()] {
      for (const auto& weak : waiting)
        if (auto pending = weak.lock()) pending->finish({{}, why});
    });
  }
}

}  // namespace sovereign::gateway

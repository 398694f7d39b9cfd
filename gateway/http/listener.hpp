#pragma once
// Accepts connections on one address for one worker (SO_REUSEPORT lets every worker bind the same
// port, so the kernel spreads connections without a shared accept lock), and sweeps its open
// connections' deadlines every sweep_interval while it has any. SO_REUSEPORT would also let another
// process that sets it join the port (a second gateway started there by mistake would take part of
// the connections), so a port is first checked with an exclusive bind (ensure_port_free).
#include <list>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "gateway/http/client_session.hpp"

namespace sovereign::gateway {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Whether nothing listens on `endpoint` yet: a bind without SO_REUSEPORT fails while any socket
  // listens there, SO_REUSEPORT or not. Call once per endpoint before the workers' open(); on
  // failure `error` says why ("address already in use", permission...).
  static bool ensure_port_free(const boost::asio::ip::tcp::endpoint& endpoint, std::string& error);
  // Binds and listens (with SO_REUSEPORT when `shared_by_workers`, for one acceptor per worker); on
  // failure `error` says why (address in use, permission...).
  static std::shared_ptr<Listener> open(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint,
                                        std::shared_ptr<boost::asio::ssl::context> tls, const Limits& limits,
                                        RequestHandler& handler, SessionRegistry& registry, unsigned worker,
                                        bool shared_by_workers, std::string& error);

  void run();
  void stop();                // stop accepting
  void close_idle_sessions();  // draining: close keep-alive connections that wait for a request
  void stop_sessions();        // the drain timeout passed: end the requests in flight, close the rest
  void set_connection_refused_counter(std::function<void()> counter) { on_refused_ = std::move(counter); }
  // A reloaded configuration: connections accepted from now on get these limits and this TLS
  // context (a renewed certificate); open connections keep theirs. Call on the listener's thread.
  void update(std::shared_ptr<boost::asio::ssl::context> tls, const Limits& limits);

  Listener(boost::asio::io_context& io, std::shared_ptr<boost::asio::ssl::context> tls, const Limits& limits,
           RequestHandler& handler, SessionRegistry& registry, unsigned worker);

 private:
  // Connections over limits.max_connections are answered 503 (ClientSession::Role::refuse), at
  // most this many at a time across workers; beyond that they are closed unanswered.
  static constexpr std::size_t max_refusing_connections = 64;
  // Out of file descriptors or kernel memory, the connection stays queued and an accept fails again
  // at once: accepting waits this long instead of spinning.
  static constexpr std::chrono::milliseconds accept_retry_interval{100};

  void do_accept();
  void pause_accepting(const boost::system::error_code& ec);
  void sweep();

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  Limits limits_;
  RequestHandler& handler_;
  SessionRegistry& registry_;
  unsigned worker_;
  std::list<std::weak_ptr<ClientSession>> sessions_;
  SteadyTimer sweep_timer_;
  SteadyTimer accept_retry_timer_;
  bool sweeping_ = false;
  bool accept_paused_ = false;  // logged once per episode of failed accepts
  std::function<void()> on_refused_;
};

}  // namespace sovereign::gateway

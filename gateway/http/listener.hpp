#pragma once
// Accepts connections on one address for one worker (SO_REUSEPORT lets every worker bind the same
// port, so the kernel spreads connections without a shared accept lock), and sweeps its open
// connections' deadlines every sweep_interval while it has any.
#include <list>
#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>

#include "gateway/http/client_session.hpp"

namespace sovereign::gateway {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  // Binds and listens; on failure `error` says why (address in use, permission...).
  static std::shared_ptr<Listener> open(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint,
                                        std::shared_ptr<boost::asio::ssl::context> tls, const Limits& limits,
                                        RequestHandler& handler, SessionRegistry& registry, unsigned worker,
                                        std::string& error);

  void run();
  void stop();                // stop accepting
  void close_idle_sessions();  // draining: close keep-alive connections that wait for a request
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

  void do_accept();
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
  bool sweeping_ = false;
  std::function<void()> on_refused_;
};

}  // namespace sovereign::gateway

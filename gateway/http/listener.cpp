#include "gateway/http/listener.hpp"

#include <algorithm>

#include <boost/asio/socket_base.hpp>

#include "gateway/log/access_log.hpp"

namespace sovereign::gateway {

using reuse_port = boost::asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;

Listener::Listener(boost::asio::io_context& io, std::shared_ptr<boost::asio::ssl::context> tls, const Limits& limits,
                   RequestHandler& handler, SessionRegistry& registry, unsigned worker)
    : io_(io),
      acceptor_(io),
      tls_(std::move(tls)),
      limits_(limits),
      handler_(handler),
      registry_(registry),
      worker_(worker),
      sweep_timer_(io),
      accept_retry_timer_(io) {}

namespace {

std::string cannot_listen(const boost::asio::ip::tcp::endpoint& endpoint, const boost::system::error_code& ec) {
  return "cannot listen on " + endpoint.address().to_string() + ":" + std::to_string(endpoint.port()) + ": " +
         ec.message();
}

std::string endpoint_text(const boost::asio::ip::tcp::acceptor& acceptor) {
  boost::system::error_code ec;
  auto endpoint = acceptor.local_endpoint(ec);
  return ec ? std::string("unknown address") : endpoint.address().to_string() + ":" + std::to_string(endpoint.port());
}

bool out_of_resources(const boost::system::error_code& ec) {
  namespace errc = boost::system::errc;
  return ec == errc::too_many_files_open || ec == errc::too_many_files_open_in_system ||
         ec == errc::no_buffer_space || ec == errc::not_enough_memory;
}

}  // namespace

bool Listener::ensure_port_free(const boost::asio::ip::tcp::endpoint& endpoint, std::string& error) {
  boost::asio::io_context io;
  boost::asio::ip::tcp::acceptor probe(io);
  boost::system::error_code ec;
  probe.open(endpoint.protocol(), ec);
  if (!ec) probe.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec) probe.bind(endpoint, ec);
  if (ec) {
    error = cannot_listen(endpoint, ec);
    return false;
  }
  return true;
}

std::shared_ptr<Listener> Listener::open(boost::asio::io_context& io, const boost::asio::ip::tcp::endpoint& endpoint,
                                         std::shared_ptr<boost::asio::ssl::context> tls, const Limits& limits,
                                         RequestHandler& handler, SessionRegistry& registry, unsigned worker,
                                         bool shared_by_workers, std::string& error) {
  auto listener = std::make_shared<Listener>(io, std::move(tls), limits, handler, registry, worker);
  boost::system::error_code ec;
  auto& acceptor = listener->acceptor_;
  acceptor.open(endpoint.protocol(), ec);
  if (!ec) acceptor.set_option(boost::asio::socket_base::reuse_address(true), ec);
  if (!ec && shared_by_workers) acceptor.set_option(reuse_port(true), ec);
  if (!ec) acceptor.bind(endpoint, ec);
  if (!ec) acceptor.listen(boost::asio::socket_base::max_listen_connections, ec);
  if (ec) {
    error = cannot_listen(endpoint, ec);
    return nullptr;
  }
  return listener;
}

void Listener::run() { do_accept(); }

void Listener::stop() {
  boost::system::error_code ignored;
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
}

// Runs while connections are open (also after stop(), so that draining requests keep their
// timeouts); finished sessions are dropped from the list here.
void Listener::sweep() {
  sweep_timer_.expires_after(sweep_interval);
  sweep_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    auto now = Deadline::coarse_now();
    for (auto it = self->sessions_.begin(); it != self->sessions_.end();) {
      if (auto session = it->lock()) {
        session->check_deadlines(now);
        ++it;
      } else {
        it = self->sessions_.erase(it);
      }
    }
    if (self->sessions_.empty()) {
      self->sweeping_ = false;
      return;
    }
    self->sweep();
  });
}

void Listener::update(std::shared_ptr<boost::asio::ssl::context> tls, const Limits& limits) {
  tls_ = std::move(tls);
  limits_ = limits;
}

void Listener::close_idle_sessions() {
  for (auto& weak : sessions_)
    if (auto session = weak.lock()) session->close_if_idle();
}

void Listener::stop_sessions() {
  for (auto& weak : sessions_)
    if (auto session = weak.lock()) session->stop_in_flight();
}

void Listener::pause_accepting(const boost::system::error_code& ec) {
  if (!accept_paused_) {
    accept_paused_ = true;
    log_event("error", "accept_paused",
              "listener " + endpoint_text(acceptor_) + " cannot accept connections: " + ec.message() + " (" +
                  std::to_string(registry_.open.load(std::memory_order_relaxed)) +
                  " open); trying again every " + std::to_string(accept_retry_interval.count()) +
                  " ms. Raise the open-files limit (ulimit -n, LimitNOFILE) or lower limits.max_connections");
  }
  accept_retry_timer_.expires_after(accept_retry_interval);
  accept_retry_timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec || !self->acceptor_.is_open()) return;
    self->do_accept();
  });
}

void Listener::do_accept() {
  acceptor_.async_accept(io_, [self = shared_from_this()](boost::system::error_code ec,
                                                           TcpSocket socket) {
    if (ec == boost::asio::error::operation_aborted || !self->acceptor_.is_open()) return;
    if (out_of_resources(ec)) return self->pause_accepting(ec);
    if (!ec && self->accept_paused_) {
      self->accept_paused_ = false;
      log_event("info", "accept_resumed", "listener " + endpoint_text(self->acceptor_) + " accepts connections again");
    }
    if (!ec) {
      auto role = ClientSession::Role::serve;
      if (self->registry_.open.load(std::memory_order_relaxed) >= self->limits_.max_connections) {
        if (self->on_refused_) self->on_refused_();
        role = ClientSession::Role::refuse;
      }
      if (role == ClientSession::Role::refuse &&
          self->registry_.refusing.load(std::memory_order_relaxed) >= max_refusing_connections) {
        // A flood beyond what can be told: closed at once, without an answer.
        boost::system::error_code ignored;
        socket.close(ignored);
      } else {
        auto session = std::make_shared<ClientSession>(std::move(socket), self->tls_, self->limits_, self->handler_,
                                                       self->registry_, self->worker_, role);
        self->sessions_.push_back(session);
        session->run();
        if (!self->sweeping_) {
          self->sweeping_ = true;
          self->sweep();
        }
      }
    }
    self->do_accept();
  });
}

}  // namespace sovereign::gateway

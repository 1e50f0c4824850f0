// demo-web — B/S: the browser is just another client.
//
// A small HTTP/1.1 server, written here on socklab::net on purpose: what a
// browser sends and what a server answers are this program's own bytes. It
// serves a page that shows the visitor's address as the server saw it, and a
// stylesheet the page links, so one page load makes more than one request.
// The clients: socklab's own few-line HTTP client (--client builtin, with the
// lookup of "localhost" it makes first, and two requests on one kept-alive
// connection), curl, and headless Chromium; or, with --role server, any
// browser. --bad sends what a server must survive: a 10 MB request line, a
// head that never ends, a client that does not speak HTTP; each gets its
// status (431, 408, 400) and the server goes on serving. With --role server
// it serves a class (classroom.hpp): each connection is a run of its own, with
// its own section, ladder and verdicts (demos/README.md says why a connection
// and not a visit).
//
// The server's limits are named constants (kMaxHead, kKeepAliveIdle) or
// flags (--head-timeout): every wait in it is for a socket to become readable,
// bounded by one of them.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "demo.hpp"
#include "error_text.hpp"
#include "report.hpp"
#include "server_setup.hpp"

extern char** environ;

namespace {

using namespace socklab;
using demo::Session;
using demo::Side;
using demo::must;
using Clock = std::chrono::steady_clock;

constexpr std::array<std::string_view, 82> kNoteKeys{
    // the timeline: the client
    "url_parts", "url_numeric", "hosts_file", "hosts_missing", "nsswitch", "getaddrinfo", "connect_refused_next",
    "connect", "send_request", "recv_head", "recv_body", "same_connection", "close", "program_start", "program_done",
    "bad_long_line", "bad_long_answer", "bad_slow_head", "bad_not_http",
    // the timeline: the server
    "listen", "accept", "request_line", "header_host", "header_more", "head_end", "request_again", "response",
    "response_error", "idle_close", "peer_closed", "linger", "send_failed",
    // the wire
    "wire_syn", "wire_request", "wire_response", "wire_other",
    // the page
    "page_title", "page_heading", "page_visitor", "page_text", "not_found",
    // the summary
    "verdict_status", "verdict_keep_alive", "verdict_visitor", "verdict_visitor_wire", "verdict_framed",
    "verdict_stylesheet", "verdict_wire_connections", "verdict_wire_requests", "verdict_bad", "verdict_still_serving",
    "fact_lookup", "fact_requests", "fact_per_connection", "fact_favicon", "fact_extra_connections", "fact_no_capture",
    "fact_limits", "why_visitor",
    // usage and role server
    "open_in_browser", "open_in_browser_any", "no_program", "program_failed", "program_timeout", "client_with_server",
    "bad_with_client", "word_yes", "word_no",
    // why a run stopped
    "no_client", "answer_cut", "answer_not_http", "answer_no_length", "no_address",
    // why a request was refused
    "bad_empty", "bad_request_line", "bad_method", "bad_version", "bad_target", "bad_header", "bad_first_byte",
    "bad_too_large", "bad_timeout"};
using Note = demo::Key<kNoteKeys>;

// ---------------------------------------------------------------- the limits

// The request head (request line and headers) may take this many bytes; more
// is answered 431 before anything is parsed. nginx's default is 8 KiB too.
constexpr std::size_t kMaxHead = 8 * 1024;
// A kept-alive connection with no request under way is closed after this long
// (Apache's KeepAliveTimeout); the Keep-Alive header tells the client.
constexpr std::chrono::seconds kKeepAliveIdle{5};
// The 10 MB request line of --bad.
constexpr std::size_t kHugeLine = 10 * 1000 * 1000;

enum class ClientKind { builtin, curl, chromium };

struct Options {
  ClientKind client = ClientKind::builtin;
  bool bad = false;
  std::chrono::milliseconds head_timeout{5000};
};

// ---------------------------------------------------------------- what the run saw

struct ServedRequest {
  int connection = 0;        // 1, 2, ... in accept order
  std::string peer;
  std::string method, target;
  int status = 0;
  int nth_on_connection = 0;
};

struct ServerLog {
  std::vector<std::string> accepted;   // peers, in accept order
  std::vector<ServedRequest> requests;
  int max_per_connection = 0;
};

struct ClientResponse {
  std::string target;
  int status = 0;
  std::size_t content_length = 0;
  std::size_t body_read = 0;
  std::string body;
};

struct ClientLog {
  std::string url;
  std::string host;
  std::vector<std::string> hosts_lines;
  std::vector<std::string> resolved;
  std::string local;                    // the builtin client's own address
  std::vector<ClientResponse> responses;
  int connections = 0;
  std::string page;                     // the page as the client has it (body, or the DOM)
  int program_exit = -1;                // curl/chromium
  std::vector<int> bad_statuses;        // --bad: long line, slow head, not HTTP
};

// A system call that failed, in the lesson's language (glibc's texts are English).
[[noreturn]] void system_failure(const Session& s, int err, std::string call) {
  throw demo::DemoFailure(demo::error_text(net::system_error(err, std::move(call)), s.common(), s.options().lang));
}

std::string word(Session& s, bool yes) { return yes ? s.note(Note{"word_yes"}) : s.note(Note{"word_no"}); }

// The address the page shows, between the marker the page puts around it.
std::string visitor_in(const std::string& page) {
  constexpr std::string_view open = "id=\"visitor\">";
  const auto at = page.find(open);
  if (at == std::string::npos) return {};
  const auto from = at + open.size();
  const auto to = page.find('<', from);
  return to == std::string::npos ? std::string{} : page.substr(from, to - from);
}

// ---------------------------------------------------------------- the server

// A token character (RFC 9110): what a method is made of.
bool tchar(unsigned char c) {
  return std::isalnum(c) != 0 || std::string_view("!#$%&'*+-.^_`|~").find(static_cast<char>(c)) != std::string_view::npos;
}

struct Head {
  std::string method, target, version;
  std::vector<std::pair<std::string, std::string>> headers;
  std::size_t bytes = 0;   // up to and including the blank line
};

// Parses a complete head; nullopt with `why` when it is not HTTP/1.x.
std::optional<Head> parse_head(std::string_view text, std::optional<Note>& why) {
  Head h;
  std::vector<std::string_view> lines;
  std::size_t pos = 0;
  while (pos < text.size()) {
    auto eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    auto line = text.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    pos = eol + 1;
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  if (lines.empty()) {
    why = Note{"bad_empty"};
    return std::nullopt;
  }
  const auto first = lines.front();
  const auto sp1 = first.find(' ');
  const auto sp2 = sp1 == std::string_view::npos ? sp1 : first.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || first.find(' ', sp2 + 1) != std::string_view::npos) {
    why = Note{"bad_request_line"};
    return std::nullopt;
  }
  h.method = first.substr(0, sp1);
  h.target = first.substr(sp1 + 1, sp2 - sp1 - 1);
  h.version = first.substr(sp2 + 1);
  if (h.method.empty() || !std::all_of(h.method.begin(), h.method.end(), [](char c) { return tchar(c); })) {
    why = Note{"bad_method"};
    return std::nullopt;
  }
  if (h.version != "HTTP/1.1" && h.version != "HTTP/1.0") {
    why = Note{"bad_version"};
    return std::nullopt;
  }
  if (h.target.empty() || h.target.front() != '/') {
    why = Note{"bad_target"};
    return std::nullopt;
  }
  for (std::size_t i = 1; i < lines.size(); ++i) {
    const auto colon = lines[i].find(':');
    if (colon == 0 || colon == std::string_view::npos) {
      why = Note{"bad_header"};
      return std::nullopt;
    }
    auto value = lines[i].substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t')) value.remove_suffix(1);
    h.headers.emplace_back(std::string(lines[i].substr(0, colon)), std::string(value));
  }
  return h;
}

std::optional<std::string> header(const Head& h, std::string_view name) {
  for (const auto& [n, v] : h.headers) {
    if (n.size() == name.size() &&
        std::equal(n.begin(), n.end(), name.begin(), [](char a, char b) { return std::tolower(a) == std::tolower(b); })) {
      return v;
    }
  }
  return std::nullopt;
}

bool has_token(std::string_view value, std::string_view token) {
  std::string lower(value);
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return lower.find(token) != std::string::npos;
}

// Where a head ends: the index just past its blank line, or npos.
std::size_t head_end(std::string_view in) {
  const auto crlf = in.find("\r\n\r\n");
  const auto lf = in.find("\n\n");
  if (crlf == std::string_view::npos && lf == std::string_view::npos) return std::string_view::npos;
  if (lf == std::string_view::npos || (crlf != std::string_view::npos && crlf < lf)) return crlf + 4;
  return lf + 2;
}

std::string_view reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 431: return "Request Header Fields Too Large";
    default: return "Error";
  }
}

class WebServer {
 public:
  WebServer(Session& s, const Options& o) : s_(s), o_(o) {}

  void serve() {
    auto listener = s_.listen();
    s_.explain(Side::server, "listen", Note{"listen"}, {{"endpoint", listener.endpoint().to_string()}});
    if (s_.options().role == demo::Role::server) {
      // A class server's runs all listen on the class's listener: the URL is said once.
      static std::once_flag told;
      std::call_once(told, [&] { tell_the_teacher(listener.endpoint()); });
    }
    // Serving a class, a run is one connection (demos/README.md says why): the
    // next one in line; the listener is the class's, not this run's to poll.
    if (s_.serves_class()) adopt(s_.accept(listener));
    while (!done()) {
      std::vector<pollfd> fds;
      for (auto& c : conns_) fds.push_back({c->stream.fd(), POLLIN, 0});
      if (!s_.serves_class()) fds.push_back({listener.fd(), POLLIN, 0});
      const auto wait = next_deadline();
      const int n = ::poll(fds.data(), fds.size(), wait ? static_cast<int>(wait->count()) : -1);
      if (n < 0 && errno != EINTR) system_failure(s_, errno, "poll");
      if (n == 0 && conns_.empty() && s_.accept_patience()) {
        throw demo::DemoFailure(s_.note(Note{"no_client"}, {{"ms", std::to_string(s_.patience().count())}}));
      }
      const std::size_t open = conns_.size();
      for (std::size_t i = 0; n > 0 && i < open; ++i) {
        if (fds[i].revents != 0) readable(*conns_[i]);
      }
      if (n > 0 && fds.size() > open && (fds[open].revents & POLLIN) != 0) accept_one(listener);
      expire();
      std::erase_if(conns_, [](const auto& c) { return !c->stream; });
    }
    s_.end_capture();
  }

  [[nodiscard]] const ServerLog& log() const noexcept { return log_; }

 private:
  struct Conn {
    net::TcpStream stream;
    int id = 0;
    std::string peer;
    std::string in;
    int served = 0;
    bool lingering = false;     // answered an error: discarding input until EOF
    std::size_t discarded = 0;
    Clock::time_point head_started{};   // the first byte of the request under way
    Clock::time_point idle_since{};
  };

  // One visit: the page and its stylesheet served (the bad clients answered
  // first with --bad), and every connection closed, by the client or by the
  // keep-alive limit. A class server's run: its one connection closed.
  [[nodiscard]] bool done() const {
    if (!conns_.empty()) return false;
    if (s_.serves_class()) return true;
    if (o_.bad) return log_.accepted.size() >= 4 && served("/");
    return served("/") && served("/style.css");
  }
  [[nodiscard]] bool served(std::string_view target) const {
    return std::any_of(log_.requests.begin(), log_.requests.end(),
                       [&](const auto& r) { return r.target == target && r.status == 200; });
  }
  // With nobody connected, the wait for the next client is the session's
  // patience (none with --role server): poll() returning 0 then is a failure.
  [[nodiscard]] std::optional<std::chrono::milliseconds> next_deadline() const {
    if (conns_.empty()) return s_.accept_patience();
    const auto now = Clock::now();
    auto soonest = Clock::time_point::max();
    for (const auto& c : conns_) soonest = std::min(soonest, deadline(*c));
    return std::max(std::chrono::milliseconds(0), std::chrono::ceil<std::chrono::milliseconds>(soonest - now));
  }
  [[nodiscard]] Clock::time_point deadline(const Conn& c) const {
    if (c.lingering || !c.in.empty()) return c.head_started + o_.head_timeout;
    return c.idle_since + kKeepAliveIdle;
  }

  void tell_the_teacher(const net::Endpoint& bound) {
    std::string url;
    if (demo::is_unspecified(bound)) {
      const auto addresses = demo::reachable_addresses(bound.is_v6() ? AF_UNSPEC : AF_INET);
      const std::string host = addresses.empty() ? "<address>" : addresses.front();
      url = fmt::format("http://{}:{}/", host.find(':') != std::string::npos ? "[" + host + "]" : host, bound.port());
      std::fprintf(stderr, "%s\n", s_.note(Note{"open_in_browser_any"}, {{"url", url}}).c_str());
    } else {
      url = fmt::format("http://{}/", bound.to_string());
      std::fprintf(stderr, "%s\n", s_.note(Note{"open_in_browser"}, {{"url", url}}).c_str());
    }
    std::fflush(stderr);
  }

  void accept_one(net::TcpListener& listener) {
    auto a = listener.accept(std::chrono::milliseconds(0));
    if (!a) return;  // the client gave up in between
    adopt(std::move(*a));
  }

  void adopt(net::TcpListener::Accepted a) {
    auto c = std::make_unique<Conn>();
    c->stream = std::move(a.stream);
    c->peer = a.peer.to_string();
    c->id = static_cast<int>(log_.accepted.size()) + 1;
    c->idle_since = Clock::now();
    log_.accepted.push_back(c->peer);
    s_.explain(Side::server, "accept", Note{"accept"}, {{"n", std::to_string(c->id)}, {"peer", c->peer}});
    conns_.push_back(std::move(c));
  }

  void readable(Conn& c) {
    std::array<std::byte, 16 * 1024> buf{};
    auto r = c.stream.recv_some(buf);
    if (!r || *r == 0) {
      if (c.lingering) {
        s_.record_note(Side::server, fmt::format("#{} {} B", c.id, c.discarded), Note{"linger"},
                       {{"bytes", std::to_string(c.discarded)}});
      } else {
        s_.record_note(Side::server, fmt::format("#{} EOF", c.id), Note{"peer_closed"}, {{"n", std::to_string(c.id)}});
      }
      (void)c.stream.close();
      return;
    }
    if (c.lingering) {
      c.discarded += *r;
      return;
    }
    if (c.in.empty()) c.head_started = Clock::now();
    c.in.append(reinterpret_cast<const char*>(buf.data()), *r);
    handle(c);
  }

  // Answers every complete request in c.in (a client may send the next one
  // before reading the answer: pipelining), or an error when the head is bad.
  void handle(Conn& c) {
    while (c.stream && !c.lingering && !c.in.empty()) {
      // RFC 9112 2.2: a server should ignore empty lines before a request line.
      while (!c.in.empty() && (c.in.front() == '\r' || c.in.front() == '\n')) c.in.erase(0, 1);
      if (c.in.empty()) return;
      // Not HTTP at all (a TLS ClientHello begins with 0x16): no need to wait for a line.
      const auto first_bad = std::find_if(c.in.begin(), c.in.end(), [](char ch) { return !tchar(static_cast<unsigned char>(ch)); });
      if (first_bad != c.in.end() && *first_bad != ' ') {
        fail(c, 400, Note{"bad_first_byte"}, {{"byte", fmt::format("0x{:02x}", static_cast<unsigned char>(*first_bad))}});
        return;
      }
      const auto end = head_end(c.in);
      if (end == std::string::npos) {
        if (c.in.size() > kMaxHead) fail(c, 431, Note{"bad_too_large"}, {{"bytes", std::to_string(c.in.size())}});
        return;
      }
      if (end > kMaxHead) {
        fail(c, 431, Note{"bad_too_large"}, {{"bytes", std::to_string(end)}});
        return;
      }
      std::optional<Note> why;
      const auto head = parse_head(std::string_view(c.in).substr(0, end), why);
      if (!head) {
        fail(c, 400, *why);
        return;
      }
      c.in.erase(0, end);
      answer(c, *head, end);
      if (!c.in.empty()) c.head_started = Clock::now();
    }
  }

  void answer(Conn& c, const Head& h, std::size_t head_bytes) {
    ++c.served;
    const bool first_of_run = log_.requests.empty();
    const std::string line = fmt::format("{} {} {}", h.method, h.target, h.version);
    if (first_of_run) {
      s_.record_note(Side::server, line, Note{"request_line"},
                     {{"method", h.method}, {"target", h.target}, {"version", h.version}});
      std::string names;
      for (const auto& [name, value] : h.headers) {
        if (name.size() == 4 && has_token(name, "host")) {
          s_.record_note(Side::server, name + ": " + value, Note{"header_host"});
        } else {
          names += (names.empty() ? "" : ", ") + name;
        }
      }
      if (!names.empty()) {
        s_.record_note(Side::server, "+ " + names, Note{"header_more"},
                       {{"count", std::to_string(h.headers.size())}});
      }
      s_.record_note(Side::server, fmt::format("\\r\\n ({} B)", head_bytes), Note{"head_end"},
                     {{"bytes", std::to_string(head_bytes)}});
    } else {
      s_.record_note(Side::server, line, Note{"request_again"},
                     {{"n", std::to_string(c.served)}, {"conn", std::to_string(c.id)}});
    }

    const bool http10 = h.version == "HTTP/1.0";
    const auto connection = header(h, "Connection");
    const bool keep = http10 ? (connection && has_token(*connection, "keep-alive"))
                             : !(connection && has_token(*connection, "close"));
    std::string type = "text/plain; charset=utf-8";
    std::string body;
    int status = 200;
    const std::string path = h.target.substr(0, h.target.find('?'));
    if (h.method != "GET" && h.method != "HEAD") {
      status = 405;
      body = "GET or HEAD\n";
    } else if (http10 == false && !header(h, "Host")) {
      status = 400;
      body = "HTTP/1.1 needs a Host header\n";
    } else if (path == "/") {
      type = "text/html; charset=utf-8";
      body = page(c.peer);
    } else if (path == "/style.css") {
      type = "text/css; charset=utf-8";
      body = "body { font-family: sans-serif; margin: 2em; }\n#visitor { font-weight: bold; color: #06c; }\n";
    } else {
      status = 404;
      body = s_.note(Note{"not_found"}, {{"target", path}}) + "\n";
    }
    std::string response = fmt::format("HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\n", status,
                                       reason(status), type, body.size());
    response += status == 405 ? "Allow: GET, HEAD\r\n" : "";
    response += "Cache-Control: no-store\r\n";
    response += keep ? fmt::format("Connection: keep-alive\r\nKeep-Alive: timeout={}\r\n", kKeepAliveIdle.count())
                     : "Connection: close\r\n";
    response += "\r\n";
    if (h.method != "HEAD") response += body;
    log_.requests.push_back({c.id, c.peer, h.method, h.target, status, c.served});
    log_.max_per_connection = std::max(log_.max_per_connection, c.served);
    if (!c.stream.send_all(response)) {
      s_.explain(Side::server, "send", Note{"send_failed"}, {{"target", h.target}});
      (void)c.stream.close();
      return;
    }
    s_.explain(Side::server, "send", Note{"response"},
               {{"code", std::to_string(status)}, {"length", std::to_string(body.size())},
                {"head", std::to_string(response.size() - (h.method == "HEAD" ? 0 : body.size()))}});
    c.idle_since = Clock::now();
    if (!keep) (void)c.stream.close();
  }

  // An error answer, then the lingering close: our FIN first, then whatever the
  // client still sends is read and dropped until its FIN, so that closing with
  // unread data never turns into an RST that could destroy the answer.
  void fail(Conn& c, int status, Note why, const demo::Values& values = {}) {
    const std::string detail = s_.note(why, values);
    const std::string body = fmt::format("{} {}: {}\n", status, reason(status), detail);
    const std::string response = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{}",
        status, reason(status), body.size(), body);
    // The method, when the bytes began like one: the capture shows such a head too.
    const auto space = c.in.find(' ');
    const std::string method = space != std::string::npos && space > 0 && space <= 16 &&
                                       std::all_of(c.in.begin(), c.in.begin() + static_cast<std::ptrdiff_t>(space),
                                                   [](char ch) { return tchar(static_cast<unsigned char>(ch)); })
                                   ? c.in.substr(0, space)
                                   : std::string{};
    log_.requests.push_back({c.id, c.peer, method, "", status, c.served + 1});
    if (!c.stream.send_all(response)) {
      (void)c.stream.close();
      return;
    }
    s_.explain(Side::server, "send", Note{"response_error"},
               {{"code", std::to_string(status)}, {"detail", detail}});
    (void)c.stream.shutdown_write();
    c.lingering = true;
    c.head_started = Clock::now();
    c.in.clear();
    c.stream.set_trace({});  // the discarded bytes are not the lesson
  }

  void expire() {
    const auto now = Clock::now();
    for (auto& c : conns_) {
      if (!c->stream || deadline(*c) > now) continue;
      if (c->lingering) {
        s_.record_note(Side::server, fmt::format("#{} {} B", c->id, c->discarded), Note{"linger"},
                       {{"bytes", std::to_string(c->discarded)}});
        (void)c->stream.close();
      } else if (!c->in.empty()) {
        fail(*c, 408, Note{"bad_timeout"}, {{"ms", std::to_string(o_.head_timeout.count())}});
      } else {
        s_.record_note(Side::server, fmt::format("#{} {} s", c->id, kKeepAliveIdle.count()), Note{"idle_close"},
                       {{"seconds", std::to_string(kKeepAliveIdle.count())}});
        (void)c->stream.close();
      }
    }
  }

  std::string page(const std::string& visitor) const {
    return fmt::format(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>{}</title>"
        "<link rel=\"stylesheet\" href=\"/style.css\"></head>\n<body><h1>{}</h1>\n<p>{}</p>\n<p>{}</p>\n</body></html>\n",
        s_.note(Note{"page_title"}), s_.note(Note{"page_heading"}),
        s_.note(Note{"page_visitor"}, {{"visitor", "<span id=\"visitor\">" + visitor + "</span>"}}),
        s_.note(Note{"page_text"}));
  }

  Session& s_;
  const Options& o_;
  ServerLog log_;
  std::vector<std::unique_ptr<Conn>> conns_;
};

// ---------------------------------------------------------------- the builtin client

// Reads one response: the head up to its blank line, then exactly
// Content-Length bytes of body; bytes after it stay in `pending` for the next.
ClientResponse read_response(Session& s, net::StreamSocket& stream, std::string& pending, std::string target,
                             std::chrono::milliseconds patience) {
  ClientResponse r;
  r.target = std::move(target);
  std::array<std::byte, 16 * 1024> buf{};
  while (head_end(pending) == std::string::npos) {
    must(stream.wait_readable(patience));
    const auto n = must(stream.recv_some(buf));
    if (n == 0) throw demo::DemoFailure(s.note(Note{"answer_cut"}));
    pending.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  const auto end = head_end(pending);
  const std::string head = pending.substr(0, end);
  pending.erase(0, end);
  if (head.rfind("HTTP/1.", 0) != 0 || head.size() < 12) {
    throw demo::DemoFailure(s.note(Note{"answer_not_http"}, {{"start", head.substr(0, 40)}}));
  }
  r.status = std::atoi(head.c_str() + 9);
  std::string lower = head;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  const auto at = lower.find("content-length:");
  if (at == std::string::npos) throw demo::DemoFailure(s.note(Note{"answer_no_length"}, {{"status", std::to_string(r.status)}}));
  r.content_length = std::strtoull(head.c_str() + at + 15, nullptr, 10);
  s.explain(Side::client, "recv", Note{"recv_head"},
            {{"status", std::to_string(r.status)}, {"length", std::to_string(r.content_length)}});
  while (pending.size() < r.content_length) {
    must(stream.wait_readable(patience));
    const auto n = must(stream.recv_some(buf));
    if (n == 0) break;
    pending.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  r.body_read = std::min(pending.size(), r.content_length);
  r.body = pending.substr(0, r.body_read);
  pending.erase(0, r.body_read);
  s.explain(Side::client, "recv", Note{"recv_body"}, {{"length", std::to_string(r.content_length)}});
  return r;
}

std::string request(std::string_view target, std::string_view host) {
  return fmt::format("GET {} HTTP/1.1\r\nHost: {}\r\nUser-Agent: socklab-demo-web\r\nAccept: */*\r\n\r\n", target, host);
}

// The lines of /etc/hosts that name `host`.
std::vector<std::string> hosts_lines(const std::string& host) {
  std::vector<std::string> out;
  std::ifstream in("/etc/hosts");
  std::string line;
  while (std::getline(in, line)) {
    const auto text = line.substr(0, line.find('#'));
    std::istringstream words(text);
    std::string address, name;
    if (!(words >> address)) continue;
    while (words >> name) {
      if (name == host) {
        out.push_back(text.substr(0, text.find_last_not_of(" \t") + 1));
        break;
      }
    }
  }
  return out;
}

std::string nsswitch_hosts() {
  std::ifstream in("/etc/nsswitch.conf");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("hosts:", 0) == 0) {
      std::istringstream words(line);
      std::string w, out;
      while (words >> w) out += (out.empty() ? "" : " ") + w;
      return out;
    }
  }
  return {};
}

// The URL, its parts, and for a name the lookup that turns it into addresses;
// then connect() to them in getaddrinfo's order until one answers.
net::TcpStream open_url(Session& s, ClientLog& seen, const std::string& host, std::uint16_t port) {
  const auto client = s.trace(Side::client);
  const bool literal = static_cast<bool>(net::Endpoint::from_host_port(host, port, AF_UNSPEC)) &&
                       host.find_first_not_of("0123456789.:abcdefABCDEF") == std::string::npos;
  seen.host = host;
  seen.url = fmt::format("http://{}:{}/", host.find(':') != std::string::npos ? "[" + host + "]" : host, port);
  s.record_note(Side::client, seen.url, literal ? Note{"url_numeric"} : Note{"url_parts"},
                {{"host", host}, {"port", std::to_string(port)}});
  if (!literal) {
    const auto order = nsswitch_hosts();
    if (!order.empty()) s.record_note(Side::client, "nsswitch.conf", Note{"nsswitch"}, {{"order", order}});
    seen.hosts_lines = hosts_lines(host);
    for (const auto& l : seen.hosts_lines) s.record_note(Side::client, "/etc/hosts", Note{"hosts_file"}, {{"line", l}});
    if (seen.hosts_lines.empty()) s.record_note(Side::client, "/etc/hosts", Note{"hosts_missing"}, {{"host", host}});
  }
  const auto addresses = must(net::Endpoint::resolve(host, port));
  std::string list;
  for (const auto& a : addresses) {
    seen.resolved.push_back(a.address());
    list += (list.empty() ? "" : ", ") + a.address();
  }
  if (!literal) s.record_note(Side::client, "getaddrinfo()", Note{"getaddrinfo"}, {{"host", host}, {"addresses", list}});
  for (std::size_t i = 0; i < addresses.size(); ++i) {
    auto stream = net::TcpStream::connect(addresses[i], {.timeout = s.patience(), .trace = client});
    if (stream) {
      ++seen.connections;
      s.explain(Side::client, "connect", Note{"connect"}, {{"server", addresses[i].to_string()}});
      return std::move(*stream);
    }
    if (i + 1 == addresses.size()) throw demo::DemoFailure(demo::error_text(stream.error(), s.common(), s.options().lang));
    s.explain(Side::client, "connect", Note{"connect_refused_next"}, {{"server", addresses[i].to_string()}});
  }
  throw demo::DemoFailure(s.note(Note{"no_address"}, {{"host", host}}));
}

// The name the URL uses: the one the user gave, else "localhost" when the
// server is on 127.0.0.1 (what a learner types), else the address itself.
std::string url_host(Session& s, const net::Endpoint& server) {
  if (!s.options().host.empty()) return s.options().host;
  if (server.address() == "127.0.0.1") {
    // "localhost" leads here only if this machine's resolver says so.
    const auto r = net::Endpoint::resolve("localhost", server.port());
    if (r && std::any_of(r->begin(), r->end(), [&](const auto& e) { return e == server; })) return "localhost";
  }
  return server.address();
}

void builtin_client(Session& s, ClientLog& seen) {
  const auto server = s.server_endpoint();
  const auto host = url_host(s, server);
  auto stream = open_url(s, seen, host, server.port());
  seen.local = must(stream.local_endpoint()).to_string();
  const std::string host_header = fmt::format("{}:{}", host.find(':') != std::string::npos ? "[" + host + "]" : host,
                                              server.port());
  std::string pending;
  must(stream.send_all(request("/", host_header)));
  s.explain(Side::client, "send", Note{"send_request"});
  seen.responses.push_back(read_response(s, stream, pending, "/", s.patience()));
  seen.page = seen.responses.back().body;
  // The page links /style.css: asked on the same connection, as a browser would.
  must(stream.send_all(request("/style.css", host_header)));
  s.explain(Side::client, "send", Note{"same_connection"});
  seen.responses.push_back(read_response(s, stream, pending, "/style.css", s.patience()));
  must(stream.close());
  s.explain(Side::client, "close", Note{"close"});
}

// ---------------------------------------------------------------- curl and Chromium

std::string find_program(std::string_view name) {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr && *path != '\0' ? path : "/usr/local/bin:/usr/bin:/bin";
  std::istringstream in(dirs);
  std::string dir;
  while (std::getline(in, dir, ':')) {
    const auto candidate = (dir.empty() ? std::string(".") : dir) + "/" + std::string(name);
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return {};
}

struct ProgramRun {
  int exit_code = -1;   // -1: killed at the limit
  std::string out, err;
};

// Runs a program in its own process group, reading its stdout and stderr as
// they come; at `limit` the whole group is killed.
ProgramRun run_program(const Session& s, const std::vector<std::string>& argv, std::chrono::milliseconds limit) {
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
    system_failure(s, errno, "pipe");
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  posix_spawnattr_setpgroup(&attr, 0);
  sigset_t none;
  sigemptyset(&none);
  posix_spawnattr_setsigmask(&attr, &none);
  sigset_t dfl;
  sigemptyset(&dfl);
  sigaddset(&dfl, SIGPIPE);
  posix_spawnattr_setsigdefault(&attr, &dfl);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  const int rc = ::posix_spawn(&pid, args[0], &actions, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  ::close(out[1]);
  ::close(err[1]);
  ProgramRun r;
  if (rc != 0) {
    ::close(out[0]);
    ::close(err[0]);
    system_failure(s, rc, "posix_spawn " + argv[0]);
  }
  const auto deadline = Clock::now() + limit;
  std::array<pollfd, 2> fds{{{out[0], POLLIN, 0}, {err[0], POLLIN, 0}}};
  bool killed = false;
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      ::kill(-pid, SIGKILL);
      killed = true;
      break;
    }
    if (::poll(fds.data(), fds.size(), static_cast<int>(left.count())) < 0 && errno != EINTR) break;
    for (std::size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      std::array<char, 8192> buf{};
      const auto n = ::read(fds[i].fd, buf.data(), buf.size());
      if (n > 0) {
        (i == 0 ? r.out : r.err).append(buf.data(), static_cast<std::size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
      }
    }
  }
  for (auto& f : fds) {
    if (f.fd >= 0) ::close(f.fd);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!killed) r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

// A private, empty Chromium profile, removed afterwards.
class TempProfile {
 public:
  explicit TempProfile(const Session& s) {
    std::string tmpl = "/tmp/socklab-web-chromium-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) system_failure(s, errno, "mkdtemp " + tmpl);
    path_ = tmpl;
  }
  ~TempProfile() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempProfile(const TempProfile&) = delete;
  TempProfile& operator=(const TempProfile&) = delete;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

// The browser's flags: fetch and render the one URL, talk to nothing else.
std::vector<std::string> chromium_argv(const std::string& exe, const std::string& profile, const std::string& host,
                                       const std::string& url) {
  std::vector<std::string> argv{exe, "--headless", "--disable-gpu", "--no-first-run", "--no-default-browser-check",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                "--disable-extensions", "--disable-default-apps", "--disable-breakpad",
                                "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE " + host,
                                "--user-data-dir=" + profile, "--dump-dom", url};
  if (::geteuid() == 0) argv.insert(argv.begin() + 1, "--no-sandbox");  // Chromium refuses root otherwise
  return argv;
}

// How long a browser may take to start, load and render: it starts a dozen
// processes, so it gets many times the patience of a socket call.
constexpr int kProgramPatienceFactor = 6;

void program_client(Session& s, ClientLog& seen, ClientKind kind, const std::string& exe) {
  const auto server = s.server_endpoint();
  const std::string host = s.options().host.empty() ? server.address() : s.options().host;
  seen.host = host;
  seen.url = fmt::format("http://{}:{}/", host.find(':') != std::string::npos ? "[" + host + "]" : host, server.port());
  s.record_note(Side::client, seen.url, Note{"url_numeric"}, {{"host", host}, {"port", std::to_string(server.port())}});
  const std::string name = kind == ClientKind::curl ? "curl" : "chromium";
  std::optional<TempProfile> profile;
  std::vector<std::string> argv;
  if (kind == ClientKind::curl) {
    argv = {exe, "--silent", "--show-error", "--http1.1", "--noproxy", "*", "--max-time",
            std::to_string(s.patience().count() / 1000), seen.url, seen.url + "style.css"};
  } else {
    profile.emplace(s);
    argv = chromium_argv(exe, profile->path(), host, seen.url);
  }
  s.record_note(Side::client, name + " " + seen.url, Note{"program_start"}, {{"program", name}});
  const auto r = run_program(s, argv, s.patience() * kProgramPatienceFactor);
  seen.program_exit = r.exit_code;
  if (r.exit_code < 0) {
    throw demo::DemoFailure(s.note(Note{"program_timeout"}, {{"program", name},
                                                             {"seconds", std::to_string(s.patience().count() * kProgramPatienceFactor / 1000)}}));
  }
  if (r.exit_code != 0) {
    throw demo::DemoFailure(s.note(Note{"program_failed"}, {{"program", name}, {"code", std::to_string(r.exit_code)},
                                                            {"stderr", r.err.substr(0, 400)}}));
  }
  seen.page = r.out;
  s.record_note(Side::client, fmt::format("{} → 0, {} B", name, r.out.size()), Note{"program_done"},
                {{"program", name}, {"visitor", visitor_in(r.out)}});
}

// ---------------------------------------------------------------- --bad

// A client that sends `request` (possibly huge: it stops sending once the
// answer starts, as curl does), then reads the answer; returns its status.
int bad_client(Session& s, const net::Endpoint& server, std::string_view what, std::size_t huge, Note sent_note,
               std::chrono::milliseconds wait) {
  auto stream = must(net::TcpStream::connect(server, {.timeout = s.patience(), .trace = s.trace(Side::client)}));
  s.explain(Side::client, "connect", Note{"connect"}, {{"server", server.to_string()}});
  if (huge == 0) {
    must(stream.send_all(what));
    s.explain(Side::client, "send", sent_note);
  } else {
    // "GET /aaaa...": the request line alone, 10 MB, never ended.
    // A small send buffer: what is queued but unsent when the answer comes is
    // little, so the server's lingering close has little to drop.
    must(stream.set_send_buffer(16 * 1024));
    std::string chunk(64 * 1024, 'a');
    std::size_t sent = 0;
    must(stream.set_nonblocking(true));
    stream.set_trace({});
    while (sent < huge) {
      pollfd p{stream.fd(), POLLIN | POLLOUT, 0};
      if (::poll(&p, 1, static_cast<int>(wait.count())) <= 0) break;
      if ((p.revents & POLLIN) != 0) break;  // the answer is here: stop sending
      std::string_view piece = sent == 0 ? std::string_view("GET /") : std::string_view(chunk);
      piece = piece.substr(0, std::min(piece.size(), huge - sent));
      auto n = stream.send_some(demo::bytes_of(piece), MSG_NOSIGNAL);
      if (!n) break;
      sent += *n;
    }
    must(stream.set_nonblocking(false));
    stream.set_trace(s.trace(Side::client));
    s.record_note(Side::client, fmt::format("send {} B", sent), sent_note, {{"bytes", std::to_string(sent)}});
  }
  std::string pending;
  const auto r = read_response(s, stream, pending, "", wait);
  (void)stream.close();
  return r.status;
}

void bad_clients(Session& s, ClientLog& seen, const Options& o) {
  const auto server = s.server_endpoint();
  const auto wait = o.head_timeout + s.patience();
  seen.bad_statuses.push_back(bad_client(s, server, "", kHugeLine, Note{"bad_long_line"}, wait));
  s.record_note(Side::client, std::to_string(seen.bad_statuses.back()), Note{"bad_long_answer"});
  seen.bad_statuses.push_back(
      bad_client(s, server, "GET / HTTP/1.1\r\nHost: localhost\r\nX-Never-Ends: ", 0, Note{"bad_slow_head"}, wait));
  // The first bytes of a TLS ClientHello: what https:// sends to an http:// port.
  constexpr std::array<unsigned char, 16> hello{0x16, 0x03, 0x01, 0x02, 0x00, 0x01, 0x00, 0x01, 0xfc, 0x03, 0x03,
                                               0x5a, 0x5b, 0x5c, 0x5d, 0x5e};
  seen.bad_statuses.push_back(bad_client(
      s, server, std::string_view(reinterpret_cast<const char*>(hello.data()), hello.size()), 0, Note{"bad_not_http"}, wait));
  // And the server still serves.
  auto stream = must(net::TcpStream::connect(server, {.timeout = s.patience(), .trace = s.trace(Side::client)}));
  s.explain(Side::client, "connect", Note{"connect"}, {{"server", server.to_string()}});
  ++seen.connections;
  std::string pending;
  const std::string host_header = server.to_string();
  must(stream.send_all(fmt::format("GET / HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", host_header)));
  s.explain(Side::client, "send", Note{"send_request"});
  seen.responses.push_back(read_response(s, stream, pending, "/", s.patience()));
  seen.page = seen.responses.back().body;
  seen.local = must(stream.local_endpoint()).to_string();
  must(stream.close());
}

// ---------------------------------------------------------------- the lesson

std::size_t count_if_packets(const Session& s, const std::function<bool(const capture::PacketRecord&)>& pred) {
  return static_cast<std::size_t>(std::count_if(s.packets().begin(), s.packets().end(), pred));
}

bool is_request_segment(const capture::PacketRecord& p) {
  return p.len > 0 && (p.preview.rfind("GET ", 0) == 0 || p.preview.rfind("HEAD ", 0) == 0);
}

void explain_wire(Session& s, std::uint16_t server_port) {
  s.explain_packets([&s, server_port](const capture::PacketRecord& p) -> std::optional<std::string> {
    if (p.flags == "S") return s.note(Note{"wire_syn"}, {{"n", std::to_string(p.stream + 1)}, {"port", std::to_string(p.sport)}});
    if (is_request_segment(p)) {
      const auto version = p.preview.find(" HTTP/1.");
      return s.note(Note{"wire_request"}, {{"line", p.preview.substr(0, version == std::string::npos ? version : version + 9)}});
    }
    if (p.len > 0 && p.sport == server_port && p.preview.rfind("HTTP/1.", 0) == 0) {
      return s.note(Note{"wire_response"}, {{"status", p.preview.substr(9, 3)}});
    }
    return s.note(Note{"wire_other"}, {{"phase", demo::phase_words(p.phase, s.common())}});
  });
}

nlohmann::json requests_json(const ServerLog& log) {
  auto out = nlohmann::json::array();
  for (const auto& r : log.requests) {
    out.push_back({{"connection", r.connection}, {"peer", r.peer}, {"method", r.method}, {"target", r.target},
                   {"status", r.status}, {"nth_on_connection", r.nth_on_connection}});
  }
  return out;
}

void summary(Session& s, const Options& o, const ServerLog& log, const ClientLog& seen) {
  const bool server_here = s.plays(Side::server);
  const bool client_here = s.plays(Side::client);
  s.fact("limits", {{"max_head_bytes", kMaxHead}, {"head_timeout_ms", o.head_timeout.count()},
                    {"keep_alive_idle_s", kKeepAliveIdle.count()}},
         Note{"fact_limits"},
         {{"head", std::to_string(kMaxHead)}, {"timeout", std::to_string(o.head_timeout.count())},
          {"idle", std::to_string(kKeepAliveIdle.count())}});
  if (client_here && !seen.resolved.empty() && !seen.hosts_lines.empty()) {
    std::string addrs;
    for (const auto& a : seen.resolved) addrs += (addrs.empty() ? "" : ", ") + a;
    s.fact("lookup", {{"host", seen.host}, {"etc_hosts", seen.hosts_lines}, {"getaddrinfo", seen.resolved}},
           Note{"fact_lookup"}, {{"host", seen.host}, {"addresses", addrs}});
  }
  if (o.bad && client_here) {
    s.verdict("bad_requests_answered", {431, 408, 400}, seen.bad_statuses, Note{"verdict_bad"},
              {{"observed", demo::render_value(seen.bad_statuses)}});
    const int last = seen.responses.empty() ? 0 : seen.responses.back().status;
    s.verdict("still_serving", 200, last, Note{"verdict_still_serving"});
  }
  if (client_here && o.client == ClientKind::builtin && !o.bad) {
    nlohmann::json expected = nlohmann::json::object(), observed = nlohmann::json::object();
    bool framed = true;
    for (const auto& r : seen.responses) {
      expected[r.target] = 200;
      observed[r.target] = r.status;
      framed = framed && r.body_read == r.content_length;
    }
    s.verdict("status", {{"/", 200}, {"/style.css", 200}}, observed, Note{"verdict_status"});
    nlohmann::json lengths = nlohmann::json::object();
    std::string text;
    for (const auto& r : seen.responses) {
      lengths[r.target] = {{"content_length", r.content_length}, {"read", r.body_read}};
      text += fmt::format("{}{} {}/{}", text.empty() ? "" : ", ", r.target, r.body_read, r.content_length);
    }
    s.verdict("content_length_frames_body", "read == Content-Length", lengths, framed, Note{"verdict_framed"},
              {{"lengths", text}});
    s.verdict("keep_alive", {{"connections", 1}, {"requests", 2}},
              {{"connections", seen.connections}, {"requests", seen.responses.size()}}, Note{"verdict_keep_alive"});
    s.verdict("page_shows_visitor", seen.local, visitor_in(seen.page), Note{"verdict_visitor"},
              {{"visitor", visitor_in(seen.page)}, {"local", seen.local}});
  }
  if (server_here) {
    std::map<int, int> per_conn;
    for (const auto& r : log.requests) per_conn[r.connection] = std::max(per_conn[r.connection], r.nth_on_connection);
    nlohmann::json per = nlohmann::json::object();
    for (std::size_t i = 0; i < log.accepted.size(); ++i) {
      const int id = static_cast<int>(i) + 1;
      per[std::to_string(id)] = per_conn.contains(id) ? per_conn[id] : 0;
    }
    s.fact("requests", requests_json(log), Note{"fact_requests"},
           {{"count", std::to_string(log.requests.size())}, {"connections", std::to_string(log.accepted.size())}});
    std::string per_text;
    for (const auto& [id, n] : per.items()) per_text += (per_text.empty() ? "" : ", ") + fmt::format("#{}: {}", id, n.get<int>());
    s.fact("requests_per_connection", per, Note{"fact_per_connection"}, {{"list", per_text}});
    // A class server's run is one connection: which of a visit's resources came
    // on which connection is the browser's choice, so these are a whole visit's.
    if (!o.bad && !s.serves_class() && (o.client == ClientKind::chromium || !client_here)) {
      // The page's own resources, as the server saw them asked for.
      const bool served_css = std::any_of(log.requests.begin(), log.requests.end(),
                                          [](const auto& r) { return r.target == "/style.css"; });
      s.verdict("stylesheet_requested", true, served_css, Note{"verdict_stylesheet"}, {{"answer", word(s, served_css)}});
      const bool favicon = std::any_of(log.requests.begin(), log.requests.end(),
                                       [](const auto& r) { return r.target == "/favicon.ico"; });
      s.fact("favicon_requested", favicon, Note{"fact_favicon"}, {{"answer", word(s, favicon)}});
      std::size_t idle = 0;
      for (const auto& [id, n] : per.items()) idle += n.get<int>() == 0 ? 1 : 0;
      s.fact("connections_without_request", idle, Note{"fact_extra_connections"},
             {{"connections", std::to_string(log.accepted.size())}, {"idle", std::to_string(idle)}});
    }
    if (o.client == ClientKind::curl && !o.bad) {
      // curl was given both URLs: it asks for the second on the first connection.
      s.verdict("keep_alive", {{"connections", 1}, {"requests", 2}},
                {{"connections", log.accepted.size()}, {"requests", log.requests.size()}}, Note{"verdict_keep_alive"});
    }
    if (client_here && o.client != ClientKind::builtin && !o.bad) {
      // The page's address is that of the connection that asked for "/", as
      // the server logged it; the client only has the page it got.
      const auto shown = visitor_in(seen.page);
      std::string asked;
      for (const auto& r : log.requests) {
        if (r.target == "/" && (asked.empty() || r.peer == shown)) asked = r.peer;
      }
      const bool matches = !shown.empty() && shown == asked;
      s.verdict("page_shows_visitor", asked, shown, Note{"verdict_visitor"}, {{"visitor", shown}, {"local", shown}});
      if (!matches) s.why(Note{"why_visitor"}, {{"visitor", shown}});
    }
  }
  if (s.capturing()) {
    const auto port = s.server_port().value_or(0);
    explain_wire(s, port);
    const auto syns = count_if_packets(s, [port](const auto& p) { return p.flags == "S" && p.dport == port; });
    const auto requests = count_if_packets(s, [port](const auto& p) { return p.dport == port && is_request_segment(p); });
    if (server_here) {
      s.verdict("connections_on_wire", log.accepted.size(), syns, Note{"verdict_wire_connections"},
                {{"syns", std::to_string(syns)}, {"accepted", std::to_string(log.accepted.size())}});
      std::size_t http_requests = 0;
      for (const auto& r : log.requests) http_requests += r.method.empty() ? 0 : 1;
      s.verdict("requests_on_wire", http_requests, requests, Note{"verdict_wire_requests"},
                {{"segments", std::to_string(requests)}, {"served", std::to_string(http_requests)}});
    }
    // The client's own capture has its handshake: a lone client checks the page's port too.
    const auto shown = visitor_in(seen.page);
    if (client_here && !shown.empty()) {
      const auto colon = shown.rfind(':');
      const auto shown_port = static_cast<std::uint16_t>(std::atoi(shown.c_str() + colon + 1));
      const bool on_wire = count_if_packets(s, [&](const auto& p) {
                             return p.flags == "S" && p.dport == port && p.sport == shown_port;
                           }) == 1;
      s.verdict("visitor_port_on_wire", true, on_wire, Note{"verdict_visitor_wire"}, {{"port", std::to_string(shown_port)}});
    }
  } else if (s.options().capture == false) {
    s.fact("wire", nullptr, Note{"fact_no_capture"});
  }
}

void web(Session& s, const Options& o) {
  std::string exe;
  if (o.client != ClientKind::builtin && s.plays(Side::client)) {
    const std::string name = o.client == ClientKind::curl ? "curl" : "chromium";
    exe = find_program(name);
    if (exe.empty()) throw demo::UsageError(s.note(Note{"no_program"}, {{"program", name}}));
  }
  ServerLog log;
  ClientLog seen;
  std::unique_ptr<WebServer> server;
  s.run(
      [&] {
        server = std::make_unique<WebServer>(s, o);
        server->serve();
        log = server->log();
      },
      [&] {
        if (o.bad) {
          bad_clients(s, seen, o);
        } else if (o.client == ClientKind::builtin) {
          builtin_client(s, seen);
        } else {
          program_client(s, seen, o.client, exe);
        }
        s.end_capture();
      });
  summary(s, o, log, seen);
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"web", "demo-web: B/S, the browser is just another client of an HTTP server", kNoteKeys});
  Options o;
  std::string client = "builtin";
  int head_timeout_ms = 5000;
  auto* client_opt = app.cli()
                         .add_option("--client", client,
                                     "Who visits: builtin (socklab's own HTTP client), curl, or chromium (headless)")
                         ->check(CLI::IsMember({"builtin", "curl", "chromium"}));
  app.cli().add_flag("--bad", o.bad,
                     "Bad requests: a 10 MB request line (431), a head that never ends (408), not HTTP (400)");
  app.cli()
      .add_option("--head-timeout", head_timeout_ms, "Milliseconds a request head may take to arrive (408 after)")
      ->check(CLI::Range(1, 600'000));
  // Each connection is a student's run (see demos/README.md), whatever the
  // student's client: the server is the same for every variant.
  app.serve_classes();
  return app.run(argc, argv, [&](Session& s) {
    o.client = client == "curl" ? ClientKind::curl : client == "chromium" ? ClientKind::chromium : ClientKind::builtin;
    o.head_timeout = std::chrono::milliseconds(head_timeout_ms);
    if (o.bad && client_opt->count() > 0) throw demo::UsageError(s.note(Note{"bad_with_client"}));
    if (s.options().role == demo::Role::server && client_opt->count() > 0) {
      throw demo::UsageError(s.note(Note{"client_with_server"}));
    }
    if (o.bad) s.set_variant("bad", "--bad");
    if (o.client != ClientKind::builtin) s.set_variant(client, "--client " + client);
    web(s, o);
  });
}

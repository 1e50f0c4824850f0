// demo-unix — socket families: the same echo over AF_UNIX and AF_INET.
//
// One echo exchange (socket, bind, listen, accept, connect, send, recv, close)
// three times: over AF_UNIX on a path in a private temporary directory, over
// AF_UNIX in the abstract namespace, and over AF_INET on 127.0.0.1. The calls
// are the same; with --capture, armed on lo for the whole run, only the AF_INET
// exchange puts segments there. The server reads SO_PEERCRED (pid, uid, gid),
// which only AF_UNIX gives; then both families move the same bytes, in the same
// message sizes, untraced, for a throughput measured in this run. --stale
// shows a socket file left by a crashed server and the safe way to take it over.
//
// Both ends run in this one process: an AF_UNIX socket cannot reach another
// machine, so --role is refused.
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "demo.hpp"

namespace {

using namespace socklab;
using demo::Session;
using demo::Side;
using demo::must;

constexpr std::array<std::string_view, 34> kNoteKeys{
    // the timeline
    "path_listen", "abstract_listen", "inet_listen", "path_connect", "abstract_connect", "inet_connect",
    "echo_back", "peercred", "inet_segment", "inet_wire", "stale_crashed", "stale_bind_fails", "stale_probe",
    "stale_unlink", "stale_bind_ok",
    // the summary
    "verdict_echo", "verdict_unix_no_packets", "verdict_inet_segments", "why_unix_packets", "fact_no_capture",
    "verdict_peercred", "fact_throughput", "fact_socket_dir", "verdict_stale_eaddrinuse", "verdict_stale_refused",
    "verdict_stale_fixed", "fact_stale_file", "role_one_process", "host_one_machine", "stale_no_capture", "word_yes", "word_no",
    // a step that did not happen (the lesson stops)
    "failed_no_receipt", "failed_closed_early"};
using Note = demo::Key<kNoteKeys>;

constexpr std::string_view kMessage = "hello, socket family";
// The throughput run: the same message size and byte count for both families,
// a few MB: long enough to measure, well under a second on loopback.
constexpr std::size_t kChunk = 16 * 1024;
constexpr std::size_t kTotal = 4 * 1024 * 1024;

// A private directory for the run's socket file, removed (with whatever is
// left in it) when the lesson ends, also when it fails.
class RunDir {
 public:
  RunDir() {
    std::string tmpl = "/tmp/socklab-unix-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) {
      throw demo::DemoFailure(net::system_error(errno, "mkdtemp " + tmpl));
    }
    path_ = tmpl;
  }
  ~RunDir() {
    for (const auto& f : files_) (void)::unlink(f.c_str());
    (void)::rmdir(path_.c_str());
  }
  RunDir(const RunDir&) = delete;
  RunDir& operator=(const RunDir&) = delete;
  [[nodiscard]] const std::string& path() const noexcept { return path_; }
  // A file name in the directory, removed with it.
  std::string file(std::string_view name) {
    files_.push_back(path_ + "/" + std::string(name));
    return files_.back();
  }

 private:
  std::string path_;
  std::vector<std::string> files_;
};

bool file_exists(const std::string& path) {
  struct stat st {};
  return ::lstat(path.c_str(), &st) == 0;
}

// When one exchange ran, on the client's clock (the capture's clock).
struct Window {
  std::int64_t from = 0;
  std::int64_t to = 0;
};

struct Observed {
  nlohmann::json echoed = nlohmann::json::object();  // what came back, per family
  Window path, abstract, inet;
  std::optional<net::PeerCredentials> cred;
  double unix_mb_s = 0, inet_mb_s = 0;
};

// The client's half of one echo: send the message, read it back, close.
std::string echo(net::StreamSocket& s) {
  must(s.send_all(kMessage));
  std::string back(kMessage.size(), '\0');
  const auto n = must(s.recv_exact(std::as_writable_bytes(std::span(back))));
  back.resize(n);
  must(s.close());
  return back;
}

// The server's half: read the message, send it back, wait for the client's close.
void echo_back(Session& s, net::StreamSocket& conn) {
  std::string buf(kMessage.size(), '\0');
  const auto n = must(conn.recv_exact(std::as_writable_bytes(std::span(buf))));
  must(conn.send_all(std::string_view(buf).substr(0, n)));
  s.explain(Side::server, "send", Note{"echo_back"});
  std::array<std::byte, 1> eof{};
  (void)must(conn.recv_some(eof));
  must(conn.close());
}

// Throughput, client side: kTotal bytes in kChunk sends, then the server's
// one-byte receipt; returns MB/s (10^6 bytes per second).
double push(const Session& lesson, net::StreamSocket& s) {
  const std::vector<std::byte> chunk(kChunk, std::byte{'x'});
  const std::int64_t t0 = net::realtime_ns();
  for (std::size_t sent = 0; sent < kTotal; sent += kChunk) must(s.send_all(chunk));
  std::array<std::byte, 1> receipt{};
  if (must(s.recv_exact(receipt)) != 1) throw demo::DemoFailure(lesson.note(Note{"failed_no_receipt"}));
  const std::int64_t ns = net::realtime_ns() - t0;
  return static_cast<double>(kTotal) / (static_cast<double>(ns) / 1e9) / 1e6;
}

// Throughput, server side: read every byte, answer with one.
void drain(const Session& lesson, net::StreamSocket& conn) {
  conn.set_trace({});
  std::vector<std::byte> buf(kChunk);
  std::size_t got = 0;
  while (got < kTotal) {
    const auto n = must(conn.recv_some(buf));
    if (n == 0) throw demo::DemoFailure(lesson.note(Note{"failed_closed_early"}));
    got += n;
  }
  must(conn.send_all("k"));
}

std::size_t packets_in(const Session& s, const Window& w) {
  std::size_t n = 0;
  for (const auto& p : s.packets()) {
    if (p.ts_ns >= w.from && p.ts_ns <= w.to) ++n;
  }
  return n;
}

std::string mb_s(double v) { return fmt::format("{:.0f}", v); }

// ---------------------------------------------------------------- the families

void families(Session& s) {
  RunDir dir;
  const auto path = must(net::UnixAddress::path(dir.file("echo.sock")));
  const auto abstract = must(net::UnixAddress::abstract(fmt::format("socklab-unix-{}", ::getpid())));
  Observed seen;

  s.run(
      [&] {  // the server
        const auto server = s.trace(Side::server);
        auto on_path = must(net::UnixListener::bind(path, {.trace = server}));
        s.explain(Side::server, "bind", Note{"path_listen"}, {{"path", path.to_string()}});
        auto on_abstract = must(net::UnixListener::bind(abstract, {.trace = server}));
        s.explain(Side::server, "bind", Note{"abstract_listen"}, {{"name", abstract.to_string()}});
        auto on_inet = s.listen_unannounced();
        s.explain(Side::server, "bind", Note{"inet_listen"}, {{"endpoint", on_inet.endpoint().to_string()}});
        // Arms the capture on lo before the first exchange, and releases the client.
        s.announce(on_inet.endpoint());

        {
          auto conn = must(on_path.accept(s.patience()));
          seen.cred = must(conn.peer_credentials());
          s.explain(Side::server, "getsockopt", Note{"peercred"});
          echo_back(s, conn);
        }
        {
          auto conn = must(on_abstract.accept(s.patience()));
          echo_back(s, conn);
        }
        {
          auto conn = must(on_inet.accept(s.patience()));
          echo_back(s, conn.stream);
        }
        s.end_capture();

        // Throughput, after the capture: untraced, the same on both families.
        auto unix_conn = must(on_path.accept(s.patience()));
        drain(s, unix_conn);
        auto inet_conn = must(on_inet.accept(s.patience()));
        drain(s, inet_conn.stream);
        (void)inet_conn.stream.wait_readable(s.patience());  // until the client closed
        (void)unix_conn.wait_readable(s.patience());
      },
      [&] {  // the client
        const auto inet = s.server_endpoint();  // every listener is ready once this one is announced
        const auto client = s.trace(Side::client);
        auto run_echo = [&](const char* family, Window& w, auto connect, Note note, demo::Values values) {
          w.from = net::realtime_ns();
          auto stream = connect();
          s.explain(Side::client, "connect", note, values);
          seen.echoed[family] = echo(stream);
          w.to = net::realtime_ns();
        };
        run_echo("path", seen.path, [&] { return must(net::UnixStream::connect(path, client)); }, Note{"path_connect"},
                 {{"path", path.to_string()}});
        run_echo("abstract", seen.abstract, [&] { return must(net::UnixStream::connect(abstract, client)); },
                 Note{"abstract_connect"}, {{"name", abstract.to_string()}});
        run_echo("inet", seen.inet, [&] { return must(net::TcpStream::connect(inet, {.trace = client})); },
                 Note{"inet_connect"}, {{"endpoint", inet.to_string()}});
        s.end_capture();

        auto unix_stream = must(net::UnixStream::connect(path));
        seen.unix_mb_s = push(s, unix_stream);
        auto inet_stream = must(net::TcpStream::connect(inet));
        seen.inet_mb_s = push(s, inet_stream);
      });

  // ---- what the run showed
  s.verdict("echo_over_every_family", {{"path", kMessage}, {"abstract", kMessage}, {"inet", kMessage}}, seen.echoed,
            Note{"verdict_echo"}, {{"message", std::string(kMessage)}});

  if (s.capturing()) {
    // One note, on the SYN that opens the AF_INET exchange: every packet is its.
    s.explain_packets([&s](const capture::PacketRecord& p) -> std::optional<std::string> {
      if (p.flags != "S") return s.note(Note{"inet_wire"}, {{"flags", p.flags}});
      return s.note(Note{"inet_segment"});
    });
    const nlohmann::json unix_observed = {{"path", packets_in(s, seen.path)},
                                          {"abstract", packets_in(s, seen.abstract)}};
    s.verdict("unix_no_packets_on_lo", {{"path", 0}, {"abstract", 0}}, unix_observed, Note{"verdict_unix_no_packets"},
              {{"path", unix_observed["path"].dump()}, {"abstract", unix_observed["abstract"].dump()}});
    if (unix_observed != nlohmann::json{{"path", 0}, {"abstract", 0}}) s.why(Note{"why_unix_packets"});
    const std::size_t inet_packets = packets_in(s, seen.inet);
    s.verdict("inet_segments_on_lo", "> 0", inet_packets, inet_packets > 0, Note{"verdict_inet_segments"},
              {{"count", std::to_string(inet_packets)}});
  } else {
    s.fact("wire", nullptr, Note{"fact_no_capture"});
  }

  if (seen.cred) {
    const auto& c = *seen.cred;
    s.verdict("peercred_matches",
              {{"pid", ::getpid()}, {"uid", ::getuid()}, {"gid", ::getgid()}},
              {{"pid", c.pid}, {"uid", c.uid}, {"gid", c.gid}}, Note{"verdict_peercred"},
              {{"pid", std::to_string(c.pid)}, {"uid", std::to_string(c.uid)}, {"gid", std::to_string(c.gid)}});
  }
  s.fact("throughput_mb_s",
         {{"af_unix", seen.unix_mb_s}, {"af_inet", seen.inet_mb_s}, {"bytes", kTotal}, {"message_size", kChunk}},
         Note{"fact_throughput"},
         {{"unix", mb_s(seen.unix_mb_s)}, {"inet", mb_s(seen.inet_mb_s)},
          {"mib", std::to_string(kTotal / (1024 * 1024))}, {"kib", std::to_string(kChunk / 1024)}});
  s.fact("socket_dir", {{"dir", dir.path()}, {"path", path.to_string()}, {"abstract", abstract.to_string()}},
         Note{"fact_socket_dir"}, {{"dir", dir.path()}});
}

// ---------------------------------------------------------------- --stale

void stale(Session& s) {
  s.set_variant("stale", "--stale");
  s.set_no_wire();
  RunDir dir;
  const auto path = must(net::UnixAddress::path(dir.file("stale.sock")));
  std::optional<int> bind_errno, probe_errno;
  bool fixed = false;
  bool left_behind = false;

  s.run(
      [&] {  // the server: a crashed one, then a new one taking its place
        const auto server = s.trace(Side::server);
        {
          // Closed without unlink(), as when the process is killed.
          auto crashed = must(net::UnixListener::bind(path, {.unlink_on_close = false, .trace = server}));
        }
        left_behind = file_exists(path.name());
        s.record_note(Side::server, "ls " + path.to_string(), Note{"stale_crashed"},
                      {{"left", left_behind ? s.note(Note{"word_yes"}) : s.note(Note{"word_no"})}});

        auto again = net::UnixListener::bind(path, {.trace = server});
        bind_errno = again ? 0 : again.error().errno_value();
        s.explain(Side::server, "bind", Note{"stale_bind_fails"});

        // Is anybody still listening there? A refused connect() says no.
        auto probe = net::UnixStream::connect(path, server);
        probe_errno = probe ? 0 : probe.error().errno_value();
        s.explain(Side::server, "connect", Note{"stale_probe"});
        if (*probe_errno != ECONNREFUSED) return;  // someone listens (or something else): never unlink then

        if (::unlink(path.name().c_str()) != 0) {
          throw demo::DemoFailure(net::system_error(errno, "unlink " + path.to_string()));
        }
        s.record_note(Side::server, "unlink " + path.to_string(), Note{"stale_unlink"});
        auto listener = must(net::UnixListener::bind(path, {.trace = server}));
        s.explain(Side::server, "listen", Note{"stale_bind_ok"});
        // The new server serves: a client gets through.
        auto client = must(net::UnixStream::connect(path, server));
        fixed = static_cast<bool>(listener.accept(s.patience()));
      },
      [] {});

  s.fact("stale_file", left_behind, Note{"fact_stale_file"},
         {{"path", path.to_string()}, {"left", left_behind ? s.note(Note{"word_yes"}) : s.note(Note{"word_no"})}});
  s.verdict("stale_file_eaddrinuse", "EADDRINUSE", demo::errno_name(bind_errno.value_or(0)),
            Note{"verdict_stale_eaddrinuse"});
  s.verdict("stale_probe_refused", "ECONNREFUSED", demo::errno_name(probe_errno.value_or(0)),
            Note{"verdict_stale_refused"});
  s.verdict("stale_fixed", true, fixed, Note{"verdict_stale_fixed"},
            {{"result", fixed ? s.note(Note{"word_yes"}) : s.note(Note{"word_no"})}});
  s.fact("socket_dir", {{"dir", dir.path()}, {"path", path.to_string()}}, Note{"fact_socket_dir"},
         {{"dir", dir.path()}});
}

}  // namespace

int main(int argc, char** argv) {
  socklab::demo::Demo demo({"unix", "Socket families: the same echo over AF_UNIX and AF_INET", kNoteKeys});
  bool stale_file = false;
  demo.cli().add_flag("--stale", stale_file, "A socket file left by a crashed server: EADDRINUSE, and the fix");
  return demo.run(argc, argv, [&](Session& s) {
    using socklab::demo::UsageError;
    if (s.options().role != socklab::demo::Role::both) throw UsageError(s.note(Note{"role_one_process"}));
    if (!s.options().host.empty()) throw UsageError(s.note(Note{"host_one_machine"}));
    // The stale file never touches the network: a capture would have nothing to show.
    if (stale_file && s.options().capture) throw UsageError(s.note(Note{"stale_no_capture"}));
    stale_file ? stale(s) : families(s);
  });
}

// demo-backlog — Lesson 5: what listen()'s backlog bounds.
//
// The server calls listen(N) (default 2) and does not accept. M clients
// (default 6) connect without blocking, one after another: N + 1 of them
// complete the handshake and wait in the accept queue (Linux lets the queue
// hold one more than the backlog); the SYNs of the others are dropped, so they
// stay in SYN_SENT and their kernels send the SYN again. Once every waiting
// client has retransmitted, the server accepts: the waiting clients complete at
// their next retransmission. Everything is read from the run: the queue from
// inet_diag, the states from TCP_INFO, the dropped SYNs from the listener's own
// drop counter, the retransmission times from the capture.
//
// With --role server it serves a class, and each student's run gets a listener of
// its own (see "a class" below): the lesson is one queue, filled by one run's clients.
#include <algorithm>
#include <array>
#include <chrono>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "classroom.hpp"
#include "demo.hpp"

namespace {

using namespace socklab;
using capture::PacketRecord;
using capture::Phase;
using demo::must;
using demo::Session;
using demo::Side;
using net::TcpState;
using namespace std::chrono_literals;

constexpr std::array<std::string_view, 38> kNoteKeys{
    // the timeline
    "listen", "queue_empty", "queue_full", "syns_dropped", "accept_queued", "accept_waited", "connect_start",
    "client_established", "client_syn_sent", "connect_finish", "client_not_waiting",
    // the summary
    "fact_settings", "verdict_completed", "why_ack_dropped", "verdict_queue",
    "verdict_syn_sent", "verdict_dropped", "verdict_accepted", "verdict_all_complete", "verdict_retransmitted",
    "fact_syn_times", "verdict_completed_at_retransmission", "fact_linear_timeouts", "fact_remote_listener", "label_drops", "syn_times_one",
    // a class: the student's own listener, named over the class port
    "class_listen", "class_student", "class_plan", "told_full", "label_told_full",
    // what went wrong, in the run's language
    "fail_no_port", "fail_student_left", "fail_queue_never_full", "fail_no_retransmission", "fail_not_all_came",
    "fail_client_unsettled",
    // bad usage, in the run's language
    "usage_clients"};
using Note = demo::Key<kNoteKeys>;

struct Config {
  int backlog = 2;
  int clients = 6;
};

// The kernel settings that decide this lesson's outcome.
constexpr std::array<std::string_view, 5> kSettings{"net.core.somaxconn", "net.ipv4.tcp_max_syn_backlog",
                                                    "net.ipv4.tcp_syncookies", "net.ipv4.tcp_abort_on_overflow",
                                                    "net.ipv4.tcp_syn_linear_timeouts"};

// The listener as inet_diag sees it, when it is on this machine: its accept
// queue's length (Recv-Q) and limit (Send-Q).
std::optional<net::DiagSocket> find_listener(const net::Endpoint& server) {
  auto found = net::find_tcp_sockets({.family = server.family(), .local_port = server.port(), .states = {TcpState::listen}});
  if (!found || found->empty()) return std::nullopt;
  return found->front();
}

// What a client saw, written by the client side only.
struct ClientSeen {
  std::uint16_t port = 0;
  bool completed_at_once = false;     // ESTABLISHED before the server accepted anything
  bool waited = false;                // still SYN_SENT after its SYN was sent again
  bool completed = false;             // ESTABLISHED in the end
};

// ---------------------------------------------------------------- the wire

struct Flow {
  std::vector<std::int64_t> syns;          // when each SYN of this client left
  std::optional<std::int64_t> syn_ack;     // when the SYN-ACK came
};

// Each client's SYNs and SYN-ACK, by the client's port, from the capture.
std::map<std::uint16_t, Flow> flows(const Session& s, std::uint16_t server_port) {
  std::map<std::uint16_t, Flow> out;
  for (const auto& p : s.packets()) {
    if (!p.is_tcp) continue;
    if (p.flags == "S" && p.dport == server_port) out[p.sport].syns.push_back(p.ts_ns);
    if (p.flags == "S." && p.sport == server_port && !out[p.dport].syn_ack) out[p.dport].syn_ack = p.ts_ns;
  }
  return out;
}

std::string seconds_text(std::int64_t ns) { return fmt::format("{:.2f}", static_cast<double>(ns) / 1e9); }

// ---------------------------------------------------------------- the lesson

void settings_fact(Session& s) {
  nlohmann::json values = nlohmann::json::object();
  std::string text;
  for (auto name : kSettings) {
    const auto v = demo::read_sysctl(name);
    values[std::string(name)] = v ? nlohmann::json(*v) : nlohmann::json(nullptr);
    if (v) text += fmt::format("{}{} = {}", text.empty() ? "" : ", ", name, *v);
  }
  s.fact("kernel_settings", values, Note{"fact_settings"}, {{"settings", text}});
  if (!values["net.ipv4.tcp_syn_linear_timeouts"].is_null()) {
    s.fact("syn_linear_timeouts", values["net.ipv4.tcp_syn_linear_timeouts"], Note{"fact_linear_timeouts"},
           {{"count", values["net.ipv4.tcp_syn_linear_timeouts"].get<std::string>()}});
  }
}

// ---------------------------------------------------------------- a class

// A class server gives each student's run a listener of its own: the lesson is
// one listener's accept queue, filled by one run's clients, so classmates must not
// share it. The student's client first connects to the class port; the run there
// sends one JSON line, the plan (the listener's port, its backlog and limit, how
// many clients), and once that queue is full a second one ({"queue":"full"}), so
// that the clients left over start at once instead of one retransmission apart.
struct Plan {
  std::uint16_t port = 0;
  int backlog = 0;
  int limit = 0;
  int clients = 0;
};

// The plan from the class server's first line (Session::join_class).
Plan read_plan(Session& s, const nlohmann::json& json) {
  const auto number = [&](const char* key, int low, int high) {
    const auto it = json.find(key);
    if (it == json.end() || !it->is_number_integer() || it->get<std::int64_t>() < low || it->get<std::int64_t>() > high) {
      throw s.class_plan_refused(json);
    }
    return static_cast<int>(it->get<std::int64_t>());
  };
  Plan plan{.port = static_cast<std::uint16_t>(number("port", 1, 65535)), .backlog = number("backlog", 0, 64),
            .limit = number("limit", 0, 65535), .clients = number("clients", 1, 32)};
  return plan;
}

// ---------------------------------------------------------------- the lesson

void backlog(Session& s, const Config& flags) {
  Config cfg = flags;
  // With --role client the class server decides: its plan comes first, over the class
  // port, so that the capture is armed on the student's own listener before any SYN.
  std::optional<Session::ClassPlan> teacher;
  std::optional<Plan> plan;
  if (s.options().role == demo::Role::client) {
    teacher = s.join_class();
    plan = read_plan(s, teacher->plan);
    cfg = {.backlog = plan->backlog, .clients = plan->clients};
    s.explain(Side::client, "connect", Note{"class_plan"},
              {{"port", std::to_string(plan->port)}, {"backlog", std::to_string(plan->backlog)}, {"clients", std::to_string(plan->clients)}});
  }
  // A class's students take the server's settings from its plan: its command for them names none.
  s.set_variant("default", s.serves_class() ? "" : fmt::format("--backlog {} --clients {}", cfg.backlog, cfg.clients));
  // Server side
  std::optional<net::ListenQueue> queue_full;
  std::optional<std::uint32_t> dropped;
  int accepted = 0, expected_waiting = 0;
  // Client side
  std::vector<ClientSeen> clients;
  bool listener_visible = false;
  std::uint16_t server_port = 0;

  s.run(
      [&] {  // the server: listen(N), and no accept() until every waiting client has retransmitted
        // Serving a class: this run's handle on the class port (closed after the
        // lesson, so the ladder does not show it go) and the student's connection there.
        net::TcpListener hall;
        std::optional<net::TcpStream> student;
        net::TcpListener listener;
        if (s.serves_class()) {
          hall = s.listen();
          s.explain(Side::server, "listen", Note{"class_listen"});
          auto came = s.accept(hall);
          auto own = s.student_listener({.backlog = cfg.backlog});
          if (!own) {
            throw demo::DemoFailure(s.note(Note{"fail_no_port"}, {{"first", std::to_string(hall.endpoint().port() + 1)},
                                                                   {"count", std::to_string(demo::Classroom::kStudentPorts)}}));
          }
          listener = std::move(*own);
          s.explain(Side::server, "accept", Note{"class_student"}, {{"port", std::to_string(listener.endpoint().port())}});
          came.stream.set_trace({});  // the plan is the class's plumbing, not the lesson's calls
          student = std::move(came.stream);
        } else {
          listener = s.listen_unannounced({.backlog = cfg.backlog});
        }
        s.explain(Side::server, "listen", Note{"listen"}, {{"backlog", std::to_string(cfg.backlog)}});
        const auto empty = must(listener.queue());
        s.record_note(Side::server, s.queue_label(empty), Note{"queue_empty"}, {{"limit", std::to_string(empty.limit)}});
        const std::uint32_t drops_before = must(listener.drops());
        server_port = listener.endpoint().port();
        s.announce(listener.endpoint());
        const auto tell = [&](const nlohmann::json& line) {
          if (student) must(student->send_all(line.dump() + "\n"));
        };
        tell({{"port", server_port}, {"backlog", cfg.backlog}, {"limit", empty.limit}, {"clients", cfg.clients}});

        // A student who stops (their client's connection on the class port closes)
        // ends the run: nothing they would have sent comes any more.
        const auto left = [&] { return student && must(student->state()) != TcpState::established; };
        const auto forever = s.accept_patience().value_or(std::chrono::hours(24));
        const auto wait_for = [&](const std::function<bool()>& done, demo::NoteKey failure, const demo::Values& values) {
          if (demo::wait_until([&] { return done() || left(); }, forever) && done()) return;
          throw demo::DemoFailure(left() ? s.note(Note{"fail_student_left"}) : s.note(failure, values));
        };

        // Linux admits one connection more than the limit (it checks "more than", not "as many as").
        const int complete = std::min(cfg.clients, static_cast<int>(empty.limit) + 1);
        expected_waiting = cfg.clients - complete;
        wait_for([&] { return static_cast<int>(must(listener.queue()).length) >= complete; }, Note{"fail_queue_never_full"},
                 {{"count", std::to_string(complete)}});
        queue_full = must(listener.queue());
        s.record_note(Side::server, s.queue_label(*queue_full), Note{"queue_full"},
                      {{"length", std::to_string(queue_full->length)}, {"limit", std::to_string(queue_full->limit)}});
        if (expected_waiting > 0) tell({{"queue", "full"}, {"length", queue_full->length}, {"limit", queue_full->limit}});
        // Every waiting client's first SYN and its first retransmission, both dropped here.
        const auto want = static_cast<std::uint32_t>(2 * expected_waiting);
        wait_for([&] { return must(listener.drops()) - drops_before >= want; }, Note{"fail_no_retransmission"},
                 {{"count", std::to_string(want)}});
        dropped = must(listener.drops()) - drops_before;
        if (expected_waiting > 0) {
          s.record_note(Side::server, s.note(Note{"label_drops"}, {{"dropped", std::to_string(*dropped)}}), Note{"syns_dropped"},
                        {{"dropped", std::to_string(*dropped)}, {"clients", std::to_string(expected_waiting)}});
        }

        std::vector<net::TcpStream> open;
        for (int i = 0; i < cfg.clients; ++i) {
          wait_for([&] { return must(listener.queue()).length > 0; }, Note{"fail_not_all_came"},
                   {{"count", std::to_string(cfg.clients)}, {"accepted", std::to_string(i)}});
          auto a = must(listener.accept(s.patience()));
          open.push_back(std::move(a.stream));
          ++accepted;
          s.explain(Side::server, "accept", i < complete ? Note{"accept_queued"} : Note{"accept_waited"},
                    {{"peer", a.peer.to_string()}});
        }
        s.end_capture();  // every handshake is complete: accept() had them all
      },
      [&] {  // the clients, started one after another without blocking
        const auto server = s.server_endpoint();
        listener_visible = find_listener(server).has_value();
        // The class server's next line has come (or its connection ended): read it.
        bool told_full = false;
        const auto teacher_spoke = [&] {
          return teacher && !told_full &&
                 (must(teacher->teacher.bytes_in_recv_queue()) > 0 || must(teacher->teacher.state()) != TcpState::established);
        };
        std::vector<net::TcpStream> conns;
        for (int k = 1; k <= cfg.clients; ++k) {
          auto conn = must(net::TcpStream::connect_start(server, {.trace = s.trace(Side::client)}));
          s.explain(Side::client, "connect", Note{"connect_start"}, {{"n", std::to_string(k)}});
          ClientSeen seen{.port = must(conn.local_endpoint()).port()};
          // Before the next client starts, this one's fate is settled: its handshake
          // completed (and the listener counts it), or the listener's queue is full
          // so its SYN is dropped (read from the listener, or the class server says
          // so), or (neither in sight) it had to send the SYN again.
          const bool settled = demo::wait_until(
              [&] {
                const auto state = must(conn.state());
                if (state == TcpState::closed) return true;  // refused: nobody listens there
                if (listener_visible) {
                  const auto l = find_listener(server);
                  if (!l) return false;
                  if (state == TcpState::established && static_cast<int>(l->recv_queue) >= k) return true;
                  return state == TcpState::syn_sent && l->recv_queue > l->send_queue;
                }
                return state == TcpState::established || told_full || teacher_spoke() || must(conn.info()).retransmits >= 1;
              },
              s.patience());
          if (!settled) throw demo::DemoFailure(s.note(Note{"fail_client_unsettled"}, {{"n", std::to_string(k)}}));
          if (teacher_spoke()) {
            const auto said = s.read_class_line(teacher->teacher, teacher->reader);
            if (said.value("queue", "") != "full") throw s.class_plan_refused(said);
            told_full = true;
            s.record_note(Side::client, s.note(Note{"label_told_full"}), Note{"told_full"});
          }
          // finish_connect() records the refusal (ECONNREFUSED), which the report then explains.
          if (must(conn.state()) == TcpState::closed) must(conn.finish_connect(s.patience()));
          seen.completed_at_once = must(conn.state()) == TcpState::established;
          seen.completed = seen.completed_at_once;
          if (seen.completed_at_once) {
            s.record_state(Side::client, TcpState::established, Note{"client_established"}, {{"n", std::to_string(k)}});
          }
          clients.push_back(seen);
          conns.push_back(std::move(conn));
        }
        // The ones left waiting: still SYN_SENT once their kernel has sent the SYN again.
        for (std::size_t i = 0; i < conns.size(); ++i) {
          if (clients[i].completed_at_once) continue;
          const bool again = demo::wait_until(
              [&] { return must(conns[i].info()).retransmits >= 1 || must(conns[i].state()) != TcpState::syn_sent; }, s.patience());
          const auto state = must(conns[i].state());
          clients[i].waited = again && state == TcpState::syn_sent;
          // What was seen, said as seen: a client already in is not said to wait.
          s.record_state(Side::client, state, clients[i].waited ? Note{"client_syn_sent"} : Note{"client_not_waiting"},
                         {{"n", std::to_string(i + 1)}});
          clients[i].completed = state == TcpState::established;
        }
        for (std::size_t i = 0; i < conns.size(); ++i) {
          if (clients[i].completed) continue;
          clients[i].completed = conns[i].finish_connect(s.patience()).has_value();
          if (clients[i].completed) {
            s.record_state(Side::client, TcpState::established, Note{"connect_finish"}, {{"n", std::to_string(i + 1)}});
          }
        }
        s.end_capture();
      });

  settings_fact(s);
  // The limit the listener had: read by the server; a class's student has it from the plan.
  const int limit = queue_full ? static_cast<int>(queue_full->limit) : plan ? plan->limit : cfg.backlog;
  const int expected_complete = std::min(cfg.clients, limit + 1);
  const int expected_wait = cfg.clients - expected_complete;
  if (s.plays(Side::client)) {
    const int at_once = static_cast<int>(std::count_if(clients.begin(), clients.end(), [](const auto& c) { return c.completed_at_once; }));
    s.verdict("completed_before_accept", expected_complete, at_once, Note{"verdict_completed"},
              {{"backlog", std::to_string(cfg.backlog)}});
    if (at_once > expected_complete) s.why(Note{"why_ack_dropped"});
    const int waited = static_cast<int>(std::count_if(clients.begin(), clients.end(), [](const auto& c) { return c.waited; }));
    s.verdict("left_in_syn_sent", expected_wait, waited, Note{"verdict_syn_sent"});
    const int done = static_cast<int>(std::count_if(clients.begin(), clients.end(), [](const auto& c) { return c.completed; }));
    s.verdict("all_complete_after_accept", cfg.clients, done, Note{"verdict_all_complete"});
    if (!listener_visible) s.fact("listener_visible", false, Note{"fact_remote_listener"});
  }
  if (s.plays(Side::server) && queue_full) {
    s.verdict("accept_queue_full", {{"length", expected_complete}, {"limit", queue_full->limit}},
              {{"length", queue_full->length}, {"limit", queue_full->limit}}, Note{"verdict_queue"},
              {{"length", std::to_string(queue_full->length)}, {"limit", std::to_string(queue_full->limit)}});
    if (dropped) {
      s.verdict("syns_dropped", {{"at_least", 2 * expected_waiting}}, {{"at_least", *dropped}},
                static_cast<int>(*dropped) >= 2 * expected_waiting, Note{"verdict_dropped"},
                {{"dropped", std::to_string(*dropped)}});
    }
    s.verdict("all_accepted", cfg.clients, accepted, Note{"verdict_accepted"});
  }
  if (s.capturing()) {
    demo::explain_wire(s);
    if (server_port == 0) server_port = s.options().server_endpoint.port();
    const auto by_client = flows(s, server_port);
    // The SYN count of every client, in the order they connected (by their first SYN).
    std::vector<std::pair<std::int64_t, std::uint16_t>> order;
    for (const auto& [port, f] : by_client) {
      if (!f.syns.empty()) order.emplace_back(f.syns.front(), port);
    }
    std::sort(order.begin(), order.end());
    nlohmann::json syn_counts = nlohmann::json::array();
    nlohmann::json expected_counts = nlohmann::json::array();
    bool after_retransmission = true;
    std::string times;
    for (std::size_t i = 0; i < order.size(); ++i) {
      const Flow& f = by_client.at(order[i].second);
      syn_counts.push_back(f.syns.size());
      const bool waits = static_cast<int>(i) >= expected_complete;
      expected_counts.push_back(waits ? "2 or more" : "1");
      if (waits) {
        // The SYN-ACK answered a SYN sent again, after the first retransmission.
        after_retransmission = after_retransmission && f.syns.size() >= 2 && f.syn_ack && *f.syn_ack > f.syns[1];
        std::string at;
        for (auto t : f.syns) at += (at.empty() ? "" : ", ") + seconds_text(t - f.syns.front());
        times += s.note(Note{"syn_times_one"}, {{"port", std::to_string(order[i].second)}, {"times", at}}) + "; ";
      }
    }
    bool counts_ok = static_cast<int>(order.size()) == cfg.clients;
    for (std::size_t i = 0; i < order.size(); ++i) {
      const auto n = syn_counts[i].get<std::size_t>();
      counts_ok = counts_ok && (static_cast<int>(i) >= expected_complete ? n >= 2 : n == 1);
    }
    s.verdict("syn_retransmissions_seen", expected_counts, syn_counts, counts_ok, Note{"verdict_retransmitted"},
              {{"counts", demo::render_value(syn_counts)}});
    if (!times.empty()) {
      times.resize(times.size() - 2);
      s.fact("syn_times", times, Note{"fact_syn_times"}, {{"times", times}});
    }
    if (expected_wait > 0) {
      s.verdict("completed_at_retransmission", true, after_retransmission, Note{"verdict_completed_at_retransmission"});
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  demo::Demo app({"backlog", "demo-backlog: Lesson 5, what listen()'s backlog bounds, on the wire", kNoteKeys});
  Config cfg;
  app.cli()
      .add_option("--backlog", cfg.backlog, "The server's listen(backlog) (default 2)")
      ->check(CLI::Range(0, 64));
  app.cli()
      .add_option("--clients", cfg.clients, "How many clients connect at once (default 6)")
      ->check(CLI::Range(1, 32));
  // With --role server: a class, each student's run with a listener of its own.
  app.serve_classes();
  app.give_students_ports();
  return app.run(argc, argv, [&](Session& s) {
    // The clients left waiting retransmit together once the server accepts: all
    // of them must fit in the emptied queue (backlog + 1), or those that do not
    // are dropped again, or answered with SYN cookies and lost (see the lesson).
    if (cfg.clients > 2 * (cfg.backlog + 1)) {
      throw demo::UsageError(s.note(Note{"usage_clients"}, {{"clients", std::to_string(cfg.clients)},
                                                            {"backlog", std::to_string(cfg.backlog)},
                                                            {"max", std::to_string(2 * (cfg.backlog + 1))}}));
    }
    backlog(s, cfg);
  });
}

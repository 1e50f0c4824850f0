// A class across machines: the teacher's server in one network namespace, 20
// students' clients started at once in another, joined by a veth cable (a lab
// of its own, removed at the end, also when the test fails). Every demo that
// serves a class: the server serves the 20 with --serve 20, every client
// succeeds without a wait that runs out, the verdicts are right on both sides,
// and the class summary counts 20 of 20. Needs CAP_NET_ADMIN (PRIVILEGED).
// The same test runs in the repeat suite (SOCKLAB_CLASS_ROUNDS rounds).
#include <catch2/catch.hpp>

#include <csignal>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "demo_runner.hpp"
#include "socklab/lab/lab.hpp"

using socklab::test::of_kind;
using socklab::test::Process;
using socklab::test::RunResult;
using Strings = std::vector<std::string>;
using namespace std::chrono_literals;

namespace {

constexpr int kStudents = 20;
constexpr const char* kTeacher = "10.77.0.1";
constexpr const char* kPort = "5060";

// A program run inside a lab namespace, as `ip netns exec` runs it.
Strings in_namespace(const socklab::lab::Node& node, Strings args) {
  args.insert(args.begin(), {SOCKLAB_IP, "netns", "exec", node.netns()});
  return args;
}

struct ClassCase {
  std::string name;
  Strings variant;                      // the demo and its flags
  std::set<std::string> server_points;  // the verdicts each student's run has on the server
  std::set<std::string> client_points;  // and on the client (the first kCapturing with --capture)
  std::set<std::string> wire_points;    // those of client_points that need --capture
};

// Students with --capture: each capture on the students' machine sees every
// classmate's packets too (on separate machines it would not), so a few only,
// enough to check the client's wire verdicts without starving 20 captures of CPU.
constexpr int kCapturing = 3;

std::set<std::string> without(std::set<std::string> all, const std::set<std::string>& some) {
  for (const auto& s : some) all.erase(s);
  return all;
}

// The verdicts of one run's JSON lines, every one ok.
void require_all_ok(const std::vector<nlohmann::json>& lines, const std::set<std::string>& names, const std::string& who) {
  std::set<std::string> seen;
  for (const auto& v : of_kind(lines, "verdict")) {
    INFO(who << ": " << v.dump());
    CHECK(v.at("ok") == true);
    seen.insert(v.at("name").get<std::string>());
  }
  INFO(who);
  CHECK(seen == names);
}

void hold_class(const ClassCase& c) {
  auto lab = socklab::lab::Lab::create();
  auto& teacher = lab.add_host("teacher");
  auto& students = lab.add_host("class");
  lab.connect(teacher, {.address = std::string(kTeacher) + "/24"}, students, {.address = "10.77.0.2/24"});

  Strings server_args = c.variant;
  server_args.insert(server_args.end(), {"--role", "server", "--listen", kTeacher, "--port", kPort, "--serve",
                                         std::to_string(kStudents), "--summary-every", "10", "--capture", "--json"});
  Process server(in_namespace(teacher, server_args), {.env = socklab::test::demo_environment()});
  const std::string ready = server.wait_for_stderr("Serving a class");
  INFO(ready);
  REQUIRE(ready.find("Serving a class") != std::string::npos);

  Strings client_args = c.variant;
  client_args.insert(client_args.end(), {"--role", "client", "--host", kTeacher, "--port", kPort, "--json"});
  Strings capturing_args = client_args;
  capturing_args.push_back("--capture");
  std::vector<std::unique_ptr<Process>> clients;
  std::vector<std::chrono::steady_clock::time_point> started;
  for (int i = 0; i < kStudents; ++i) {
    started.push_back(std::chrono::steady_clock::now());
    clients.push_back(std::make_unique<Process>(in_namespace(students, i < kCapturing ? capturing_args : client_args),
                                                socklab::test::ProcessOptions{.env = socklab::test::demo_environment()}));
  }
  std::set<std::string> client_addresses;
  for (int i = 0; i < kStudents; ++i) {
    const RunResult r = clients[i]->finish();
    const auto took = std::chrono::steady_clock::now() - started[i];
    INFO(c.name << ", student " << i << ":\n" << r.err);
    REQUIRE(r.exit_code == 0);
    // Nothing waited until its patience (10 s) ran out: a student's run is over
    // in well under a second here (0.3 s at most in 200 runs), and a wait that
    // ran out would take 10 s; the margin is for the sanitizer build's start-up.
    CHECK(took < 8s);
    for (const auto& cap : of_kind(r.json(), "capture")) INFO("client's capture: " << cap.dump());
    require_all_ok(r.json(), i < kCapturing ? c.client_points : without(c.client_points, c.wire_points),
                   c.name + " client " + std::to_string(i));
    for (const auto& call : of_kind(r.json(), "call"))
      if (call.value("call", "") == "connect" && !call.value("local", "").empty()) client_addresses.insert(call.value("local", ""));
  }
  const RunResult s = server.finish();
  INFO(c.name << " server:\n" << s.err);
  REQUIRE(s.exit_code == 0);
  const auto lines = s.json();
  // Each student's run: its own objects, tagged with the student's address.
  std::map<std::string, std::vector<nlohmann::json>> by_client;
  for (const auto& l : lines) {
    if (l.value("kind", "") == "class_summary") continue;
    REQUIRE(l.contains("client"));
    by_client[l.at("client").get<std::string>()].push_back(l);
  }
  CHECK(by_client.size() == kStudents);
  for (const auto& [client, run] : by_client) {
    CHECK(client_addresses.contains(client));
    require_all_ok(run, c.server_points, c.name + " server, student " + client);
    // The ladder is cut to this student's connection: one handshake, from its port.
    int syns = 0;
    for (const auto& p : of_kind(run, "packet")) {
      if (p.value("flags", "") == "S") ++syns;
      CHECK((p.value("src", "") == client || p.value("dst", "") == client));
    }
    CHECK(syns == 1);
  }
  const auto summaries = of_kind(lines, "class_summary");
  // --summary-every 10: after the 10th and the 20th student, then the final one.
  REQUIRE(summaries.size() == 3);
  CHECK(summaries[0].at("final") == false);
  CHECK(summaries[0].at("clients") == 10);
  CHECK(summaries[1].at("final") == false);
  CHECK(summaries[1].at("clients") == kStudents);
  const auto& summary = summaries.back();
  INFO(summary.dump());
  CHECK(summary.at("final") == true);
  CHECK(summary.at("clients") == kStudents);
  CHECK(summary.at("failed").empty());
  std::set<std::string> points;
  for (const auto& p : summary.at("points")) {
    CHECK(p.at("ok") == kStudents);
    CHECK(p.at("of") == kStudents);
    points.insert(p.at("name").get<std::string>());
  }
  CHECK(points == c.server_points);
  CHECK(summary.at("capture").at("dropped_by_kernel") == 0);
}

int rounds() {
  const char* n = std::getenv("SOCKLAB_CLASS_ROUNDS");
  return n != nullptr ? std::max(1, std::atoi(n)) : 1;
}

}  // namespace

TEST_CASE("a server serves a class of 20 students from another machine", "[demos][class]") {
  const std::vector<ClassCase> cases{
      {"sticky", {DEMO_STICKY}, {"glued_read", "separate_segments"}, {"separate_segments"}, {"separate_segments"}},
      {"sticky --fix length",
       {DEMO_STICKY, "--fix", "length"},
       {"messages_whole", "separate_segments"},
       {"separate_segments"},
       {"separate_segments"}},
      {"teardown",
       {DEMO_TEARDOWN},
       {"server_close_wait", "teardown_segments"},
       {"client_time_wait", "teardown_segments"},
       {"teardown_segments"}},
      {"teardown --half-close",
       {DEMO_TEARDOWN, "--half-close"},
       {"data_after_fin"},
       {"received_after_shutdown", "data_after_fin"},
       {"data_after_fin"}},
      {"handshake",
       {DEMO_HANDSHAKE},
       {"handshake_segments", "syn_takes_one_sequence_number", "accept_queue"},
       {"handshake_segments", "syn_takes_one_sequence_number", "options_in_force", "client_state_after_connect"},
       {"handshake_segments", "syn_takes_one_sequence_number"}},
      // A web student's run is its one connection (two requests on it); the server's run is that connection.
      {"web",
       {DEMO_WEB},
       {"connections_on_wire", "requests_on_wire"},
       {"status", "content_length_frames_body", "keep_alive", "page_shows_visitor", "visitor_port_on_wire"},
       {"visitor_port_on_wire"}},
  };
  for (int round = 1; round <= rounds(); ++round) {
    for (const auto& c : cases) {
      INFO("round " << round);
      hold_class(c);
    }
  }
}

TEST_CASE("Ctrl-C ends a class with its summary; students then hear that no server listens", "[demos][class]") {
  // With --capture: the capture's thread must not take the signal (it did, and the class died without its summary).
  auto server = socklab::test::start_demo({DEMO_STICKY, "--role", "server", "--capture", "--json"});
  const auto port = socklab::test::announced_port(server.wait_for_stderr("--port "));
  REQUIRE(port);
  for (int i = 0; i < 2; ++i) {
    const auto r = socklab::test::run_demo({DEMO_STICKY, "--role", "client", "--port", *port});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
  }
  // Both students' runs are printed before the signal: their verdict lines are there.
  REQUIRE(server.wait_until([](const socklab::test::ProcessOutput& o) {
    std::size_t n = 0;
    for (auto at = o.out.find("\"glued_read\""); at != std::string::npos; at = o.out.find("\"glued_read\"", at + 1)) ++n;
    return n == 2;
  }));
  server.signal(SIGINT);
  const auto served = server.finish();
  INFO(served.err);
  REQUIRE(served.exit_code == 0);
  const auto summaries = of_kind(served.json(), "class_summary");
  REQUIRE(summaries.size() == 1);
  CHECK(summaries[0].at("final") == true);
  CHECK(summaries[0].at("clients") == 2);
  const auto late = socklab::test::run_demo({DEMO_STICKY, "--role", "client", "--port", *port});
  CHECK(late.exit_code == 1);
  CHECK_THAT(late.err, Catch::Contains("Nothing listens on"));
}

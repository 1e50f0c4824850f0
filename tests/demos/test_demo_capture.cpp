// The demos with --capture (needs CAP_NET_RAW: root in CI): the wire facts of
// every variant, the pcap file, two processes capturing at once, the width of
// the ladder with packets, and the exit code when capture is not permitted.
#include <catch2/catch.hpp>

#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <vector>

#include "demo_checks.hpp"
#include "socklab/capture/terminal.hpp"

using socklab::test::captured;
using socklab::test::flags_of_stream;
using socklab::test::port_of;
using socklab::test::of_kind;
using socklab::test::start_demo;
using socklab::test::run_demo;
using socklab::test::RunResult;
using socklab::test::verdicts;
using Strings = std::vector<std::string>;

namespace {

std::vector<std::string> phases_of_stream(const std::vector<nlohmann::json>& lines, int stream) {
  std::vector<std::string> out;
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.value("stream", -1) == stream) out.push_back(p.at("phase").get<std::string>());
  }
  return out;
}

// Flags from the first FIN or RST on.
Strings closing(const Strings& flags) {
  Strings out;
  bool on = false;
  for (const auto& f : flags) {
    on = on || f.find_first_of("FR") != std::string::npos;
    if (on) out.push_back(f);
  }
  return out;
}

int server_port_of(const std::vector<nlohmann::json>& lines) {
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.at("flags") == "S") return port_of(p.at("dst"));
  }
  return 0;
}

}  // namespace

TEST_CASE("handshake: S, S., . with random ISNs, each SYN counting one", "[demos][capture]") {
  const auto lines = captured({DEMO_HANDSHAKE});
  CHECK(flags_of_stream(lines, 0) == Strings{"S", "S.", "."});
  CHECK(phases_of_stream(lines, 0) == Strings{"handshake 1/3", "handshake 2/3", "handshake 3/3"});
  const auto v = verdicts(lines);
  for (const char* name : {"handshake_segments", "syn_takes_one_sequence_number", "client_state_after_connect",
                           "accept_queue"}) {
    CHECK(v.contains(name));
  }
  const auto packets = of_kind(lines, "packet");
  const auto syn = packets.at(0), synack = packets.at(1), ack = packets.at(2);
  CHECK(synack.at("ack_abs").get<std::uint32_t>() == syn.at("seq_abs").get<std::uint32_t>() + 1);
  CHECK(ack.at("ack_abs").get<std::uint32_t>() == synack.at("seq_abs").get<std::uint32_t>() + 1);
  for (const auto& p : {syn, synack}) {
    for (const char* option : {"mss", "sackOK", "TS val", "wscale"}) CHECK_THAT(p.at("options").get<std::string>(), Catch::Contains(option));
  }
  bool isn_fact = false;
  for (const auto& f : of_kind(lines, "fact")) {
    if (f.at("name") == "isn") {
      isn_fact = true;
      CHECK(f.at("value").at("client") == syn.at("seq_abs"));
      CHECK(f.at("value").at("server") == synack.at("seq_abs"));
    }
  }
  CHECK(isn_fact);
}

TEST_CASE("handshake --refused: the SYN is answered by RST, connect() fails ECONNREFUSED", "[demos][capture]") {
  const auto lines = captured({DEMO_HANDSHAKE, "--refused"});
  CHECK(flags_of_stream(lines, 0) == Strings{"S", "R."});
  CHECK(phases_of_stream(lines, 0).back() == "refused");
  const auto v = verdicts(lines);
  CHECK(v.at("connect_error").at("observed") == "ECONNREFUSED");
  CHECK(v.at("refused_segments").at("observed") == nlohmann::json({"S", "R."}));
}

TEST_CASE("the capture's set-up is a row of its own, with the time it took", "[demos][capture]") {
  // Armed once the server has its port: the pause before the client is the set-up.
  const auto calls = of_kind(captured({DEMO_HANDSHAKE}), "call");
  const auto row = std::find_if(calls.begin(), calls.end(), [](const nlohmann::json& c) {
    return c.at("call") == "note" && c.at("args") == "capture lo";
  });
  REQUIRE(row != calls.end());
  CHECK_THAT(row->at("note").get<std::string>(), Catch::Contains("setting it up took") && Catch::Contains("pause"));
  const auto listen = std::find_if(calls.begin(), calls.end(), [](const auto& c) { return c.at("call") == "listen"; });
  const auto client = std::find_if(calls.begin(), calls.end(), [](const auto& c) { return c.at("side") == "client"; });
  REQUIRE(listen != calls.end());
  REQUIRE(client != calls.end());
  CHECK(listen->at("t_ns").get<std::int64_t>() < row->at("t_ns").get<std::int64_t>());
  CHECK(row->at("t_ns").get<std::int64_t>() < client->at("t_ns").get<std::int64_t>());
}

TEST_CASE("teardown: FIN, ACK, FIN, ACK, and TIME_WAIT after close", "[demos][capture]") {
  const auto lines = captured({DEMO_TEARDOWN});
  const auto flags = flags_of_stream(lines, 0);
  CHECK(closing(flags) == Strings{"F.", ".", "F.", "."});
  const auto phases = phases_of_stream(lines, 0);
  CHECK(Strings(phases.end() - 4, phases.end()) ==
        Strings{"teardown 1/4", "teardown 2/4", "teardown 3/4", "teardown 4/4"});
  const auto v = verdicts(lines);
  CHECK(v.at("teardown_segments").at("observed") == nlohmann::json({"F.", ".", "F.", "."}));
  CHECK(v.at("client_time_wait").at("observed") == "TIME_WAIT");
  CHECK(v.at("server_close_wait").at("observed") == "CLOSE_WAIT");
  // The client closes first: the first FIN goes to the server's port.
  const int server = server_port_of(lines);
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.at("phase") == "teardown 1/4") CHECK(port_of(p.at("dst")) == server);
  }
}

TEST_CASE("teardown --merged: three segments, the second FIN carrying the ACK", "[demos][capture]") {
  const auto lines = captured({DEMO_TEARDOWN, "--merged"});
  CHECK(closing(flags_of_stream(lines, 0)) == Strings{"F.", "F.", "."});
  const auto phases = phases_of_stream(lines, 0);
  CHECK(phases.at(phases.size() - 2) == "teardown 2+3/4");
}

TEST_CASE("teardown --half-close: the server's data flows after the client's FIN", "[demos][capture]") {
  const auto lines = captured({DEMO_TEARDOWN, "--half-close"});
  const int server = server_port_of(lines);
  bool client_fin = false;
  std::uint32_t after = 0;
  for (const auto& p : of_kind(lines, "packet")) {
    const bool from_server = port_of(p.at("src")) == server;
    if (!from_server && p.at("flags").get<std::string>().find('F') != std::string::npos) client_fin = true;
    if (client_fin && from_server) after += p.at("len").get<std::uint32_t>();
  }
  CHECK(after == 59);
  const auto v = verdicts(lines);
  CHECK(v.at("data_after_fin").at("observed") == 59);
  CHECK(v.at("received_after_shutdown").at("observed") == 59);
}

TEST_CASE("teardown --abort: RST instead of FIN, twice, and no TIME_WAIT", "[demos][capture]") {
  const auto lines = captured({DEMO_TEARDOWN, "--abort"});
  const int server = server_port_of(lines);
  for (int stream : {0, 1}) {
    const auto flags = flags_of_stream(lines, stream);
    INFO("stream " << stream);
    CHECK(flags.back() == "R.");
    for (const auto& f : flags) CHECK(f.find('F') == std::string::npos);
  }
  std::vector<bool> rst_from_server;
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.at("flags") == "R.") rst_from_server.push_back(port_of(p.at("src")) == server);
  }
  CHECK(rst_from_server == std::vector<bool>{false, true});  // SO_LINGER 0 client, then unread-data server
  CHECK(verdicts(lines).at("rst_instead_of_fin").at("ok") == true);
}

TEST_CASE("teardown --reuse: the server closes first; EADDRINUSE, then SO_REUSEADDR works", "[demos][capture]") {
  const auto lines = captured({DEMO_TEARDOWN, "--reuse"});
  const int server = server_port_of(lines);
  for (const auto& p : of_kind(lines, "packet")) {
    if (p.at("phase") == "teardown 1/4") CHECK(port_of(p.at("src")) == server);
  }
  const auto v = verdicts(lines);
  CHECK(v.at("rebind_without_reuseaddr").at("observed") == "EADDRINUSE");
  CHECK(v.at("rebind_with_reuseaddr").at("observed") == "ok");
}

TEST_CASE("-w keeps the capture in a pcap file tcpdump reads", "[demos][capture]") {
  const auto dir = std::filesystem::temp_directory_path() / ("socklab-demos-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "teardown.pcap";
  const auto r = run_demo({DEMO_TEARDOWN, "-w", file.string(), "--json"});
  REQUIRE(r.exit_code == 0);
  const auto packets = of_kind(r.json(), "packet").size();
  REQUIRE(std::filesystem::exists(file));
  const auto read = run_demo({SOCKLAB_TCPDUMP, "-nn", "-r", file.string()});
  CHECK(read.exit_code == 0);
  CHECK(read.out_lines().size() == packets);
  CHECK_THAT(read.out, Catch::Contains("Flags [F.]"));
  // Only the finished file: no temporary left beside it.
  CHECK(std::distance(std::filesystem::directory_iterator(dir), std::filesystem::directory_iterator{}) == 1);
  std::filesystem::remove_all(dir);
}

TEST_CASE("without the capture privilege: a clear message and exit code 4", "[demos][capture]") {
  const auto dir = std::filesystem::temp_directory_path() / ("socklab-demos-noperm-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  const auto file = dir / "denied.pcap";
  // Root without capabilities cannot open a packet socket.
  const auto r = run_demo({SOCKLAB_SETPRIV, "--bounding-set=-all", "--inh-caps=-all", "--", DEMO_HANDSHAKE,
                           "--capture", "-w", file.string(), "--json"});
  CHECK(r.exit_code == 4);
  CHECK_THAT(r.err, Catch::Contains("CAP_NET_RAW") && Catch::Contains("setcap"));
  // The remedy is the user's own command line, as typed, under sudo.
  CHECK_THAT(r.err, Catch::Contains("sudo " + std::string(DEMO_HANDSHAKE) + " --capture -w " + file.string() + " --json"));
  const auto capture = of_kind(r.json(), "capture");
  REQUIRE(capture.size() == 1);
  CHECK(capture[0].at("enabled") == false);
  CHECK(capture[0].at("not_permitted") == true);
  // The lesson still ran: the calls are there, the verdicts that need no wire too.
  CHECK(verdicts(r.json()).at("accept_queue").at("ok") == true);
  CHECK(std::filesystem::is_empty(dir));  // no pcap, not even half of one
  std::filesystem::remove_all(dir);
}

TEST_CASE("server and client in two processes, each capturing its side", "[demos][capture][roles]") {
  for (const Strings& variant : {Strings{}, Strings{"--merged"}, Strings{"--abort"}}) {
    Strings server_args{DEMO_TEARDOWN, "--role", "server", "--serve", "1", "--capture", "--json"};
    server_args.insert(server_args.end(), variant.begin(), variant.end());
    auto server = start_demo(server_args);
    const auto port = socklab::test::announced_port(server.wait_for_stderr("--port "));
    REQUIRE(port);
    Strings client_args{DEMO_TEARDOWN, "--role", "client", "--port", *port, "--capture", "--json"};
    client_args.insert(client_args.end(), variant.begin(), variant.end());
    const auto client = run_demo(client_args);
    const auto served = server.finish();
    INFO(served.err << client.err);
    REQUIRE(served.exit_code == 0);
    REQUIRE(client.exit_code == 0);
    // Both captured the same conversation.
    const auto a = flags_of_stream(served.json(), 0);
    CHECK(a == flags_of_stream(client.json(), 0));
    CHECK(a.size() >= 6);  // handshake, data, the end
    for (const auto& lines : {served.json(), client.json()}) {
      for (const auto& [name, v] : verdicts(lines)) {
        INFO(name << ": " << v.dump());
        CHECK(v.at("ok") == true);
      }
    }
  }
}

TEST_CASE("the ladder with packets fits 80 columns, in English and Chinese", "[demos][capture][width]") {
  for (const Strings& args : {Strings{DEMO_HANDSHAKE}, Strings{DEMO_HANDSHAKE, "--refused"}, Strings{DEMO_TEARDOWN},
                              Strings{DEMO_TEARDOWN, "--merged"}, Strings{DEMO_TEARDOWN, "--half-close"},
                              Strings{DEMO_TEARDOWN, "--abort"}, Strings{DEMO_TEARDOWN, "--reuse"}}) {
    for (const char* lang : {"en", "zh"}) {
      Strings a = args;
      a.insert(a.end(), {"--capture", "--lang", lang});
      const auto r = run_demo(a);
      INFO(a.back() << " " << args.back());
      REQUIRE(r.exit_code == 0);
      int arrows = 0;
      for (const auto& line : r.out_lines()) {
        INFO(line);
        CHECK(socklab::capture::display_width(line) <= 80);
        if (line.find("▶") != std::string::npos || line.find("◀") != std::string::npos) ++arrows;
      }
      CHECK(arrows >= 2);  // the wire is drawn
    }
  }
}

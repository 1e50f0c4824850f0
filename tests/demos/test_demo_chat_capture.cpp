// demo-chat server --capture (needs CAP_NET_RAW): the wire of every client, shown
// as it passes, in the same JSON contract as the other demos' packets.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <string>

#include "chat_runner.hpp"

using socklab::test::ChatServerProcess;
using socklab::test::RawChatClient;
using nlohmann::json;

TEST_CASE("demo-chat server --capture shows each client's handshake, data, FIN and RST", "[demos][chat][capture]") {
  ChatServerProcess server({"--capture"});
  REQUIRE(server.events("lesson").at(0)["capture"] == true);
  const std::string server_at = server.endpoint().to_string();
  std::string alice_at, mallory_at;
  {
    RawChatClient alice(server.endpoint(), "alice");
    alice_at = socklab::net::value_or_throw(alice.stream().local_endpoint()).to_string();
    alice.send_text("hi");
    REQUIRE(alice.frame_where([](const json& f) { return f["type"] == "message"; }));
    RawChatClient mallory(server.endpoint(), "mallory");
    mallory_at = socklab::net::value_or_throw(mallory.stream().local_endpoint()).to_string();
    socklab::net::value_or_throw(mallory.stream().set_linger(std::chrono::seconds(0)));
    (void)mallory.stream().close();  // an abortive close: RST, the server's ECONNRESET
    REQUIRE(server.wait_for([](const json& e) { return e.value("kind", "") == "leave" && e["reason"] == "reset"; }));
    REQUIRE(alice.frame_where([](const json& f) { return f["type"] == "leave"; }));
    socklab::net::value_or_throw(alice.stream().shutdown_write());  // alice leaves cleanly: FIN
    REQUIRE(server.wait_for([](const json& e) { return e.value("kind", "") == "leave" && e["reason"] == "closed"; }));
  }
  REQUIRE(server.stop() == 0);

  const auto packets = server.events("packet");
  const auto from = [&](const std::string& client) {
    std::vector<std::string> flags;
    for (const auto& p : packets)
      if (p["proto"] == "tcp" && p["src"] == client && p["dst"] == server_at) flags.push_back(p["flags"]);
    return flags;
  };
  const auto alice_flags = from(alice_at);
  const auto mallory_flags = from(mallory_at);
  INFO(json(packets).dump());
  REQUIRE_FALSE(alice_flags.empty());
  CHECK(alice_flags.front() == "S");
  CHECK(std::count(alice_flags.begin(), alice_flags.end(), "P.") == 2);  // the name, then "hi"
  CHECK(std::find(alice_flags.begin(), alice_flags.end(), "F.") != alice_flags.end());
  REQUIRE_FALSE(mallory_flags.empty());
  CHECK(mallory_flags.front() == "S");
  CHECK(mallory_flags.back().front() == 'R');
  // The frame "hi" is 4 + 2 bytes on the wire.
  const bool hi_seen = std::any_of(packets.begin(), packets.end(), [&](const json& p) {
    return p["src"] == alice_at && p["len"] == 6 && p["flags"] == "P.";
  });
  CHECK(hi_seen);
  CHECK(server.events("summary").at(0)["capture"]["captured"].get<int>() == static_cast<int>(packets.size()));
}

TEST_CASE("demo-chat server --raw --capture says a recv() was glued only from the segments it saw",
          "[demos][chat][capture][raw]") {
  ChatServerProcess server({"--raw", "--capture"});
  auto client = socklab::net::value_or_throw(
      socklab::net::TcpStream::connect(server.endpoint(), {.timeout = socklab::test::chat_patience}));
  const std::string me = socklab::net::value_or_throw(client.local_endpoint()).to_string();
  REQUIRE(server.wait_for([&](const json& e) { return e.value("kind", "") == "join" && e["peer"] == me; }));
  // One line alone first: one segment, one recv(), nothing glued.
  socklab::net::value_or_throw(client.send_all(std::string_view("hi")));
  REQUIRE(server.wait_for([](const json& e) { return e.value("kind", "") == "recv"; }));
  socklab::test::send_while_server_stopped(server.pid(), client, {"hello", "how are you"});
  const auto glued = server.wait_for([](const json& e) { return e.value("kind", "") == "glued"; });
  REQUIRE(glued);
  CHECK((*glued)["peer"] == me);
  CHECK((*glued)["bytes"] == 16);
  CHECK((*glued)["segments"] == json::array({5, 11}));  // two send() calls, two segments, one recv()
  REQUIRE(client.shutdown_write());
  REQUIRE(server.wait_for([](const json& e) { return e.value("kind", "") == "leave"; }));
  CHECK(server.stop() == 0);
  CHECK(server.events("glued").size() == 1);  // "hi" was read alone: not called glued
  const auto reads = server.events("recv");
  REQUIRE(reads.size() == 2);
  CHECK(reads[1]["bytes"] == 16);
}

TEST_CASE("demo-chat server --capture without the privilege: it serves, says why in the run's language, exits 4",
          "[demos][chat][capture]") {
  // Root without capabilities cannot open a packet socket.
  ChatServerProcess server({"--capture", "--lang", "zh"}, DEMO_CHAT,
                           {SOCKLAB_SETPRIV, "--bounding-set=-all", "--inh-caps=-all", "--"});
  CHECK(server.events("lesson").at(0)["capture"] == false);
  {
    RawChatClient alice(server.endpoint(), "alice");  // the chat goes on without the wire
    alice.send_text("hi");
    REQUIRE(alice.frame_where([](const json& f) { return f["type"] == "message"; }));
  }
  std::string said;  // the log wraps to 80 columns: compare the words
  for (char c : server.stderr_text()) {
    const bool space = c == ' ' || c == '\n';
    if (!space || (!said.empty() && said.back() != ' ')) said += space ? ' ' : c;
  }
  INFO(said);
  CHECK_THAT(said, Catch::Contains("没有权限") && Catch::Contains("CAP_NET_RAW"));
  // The remedy is the user's own command line, under sudo.
  CHECK_THAT(said, Catch::Contains("sudo " + std::string(DEMO_CHAT) + " server --json --capture --lang zh"));
  CHECK(said.find("Operation not permitted") == std::string::npos);
  CHECK(server.stop() == 4);
}

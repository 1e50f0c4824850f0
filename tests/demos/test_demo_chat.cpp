// demo-chat as a user runs it: a server and scripted clients in separate
// processes, over loopback, their JSON lines and text checked.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "chat_runner.hpp"

using socklab::test::ChatServerProcess;
using socklab::test::RawChatClient;
using socklab::test::run_chat_client;
using socklab::test::run_demo;
using nlohmann::json;

namespace {

std::string port_of(const ChatServerProcess& s) { return std::to_string(s.endpoint().port()); }

std::vector<json> received(const socklab::test::RunResult& r) {
  std::vector<json> frames;
  for (const auto& line : r.json())
    if (line.value("kind", "") == "received") frames.push_back(line["frame"]);
  return frames;
}

}  // namespace

TEST_CASE("demo-chat: two clients talk through the server, which announces who joins and leaves",
          "[demos][chat]") {
  ChatServerProcess server({});
  CHECK(server.endpoint().address() == "127.0.0.1");  // loopback unless --listen says otherwise
  const auto listening = server.events("listening").at(0);
  CHECK(listening["limits"]["max_message"] == 4096);
  CHECK(listening["prefix"] == "!I");

  // bob stays connected (raw) and sees what the scripted client says.
  RawChatClient bob(server.endpoint(), "bob");
  const auto alice = run_chat_client({"--port", port_of(server), "--name", "alice", "--json"},
                                     "hello bob\n\nsecond line\r\n");
  CHECK(alice.exit_code == 0);
  INFO(alice.out << alice.err);
  const auto frames = received(alice);
  REQUIRE(frames.size() == 3);
  CHECK(frames[0] == json{{"type", "welcome"}, {"name", "alice"}, {"online", 2}});
  CHECK(frames[1] == json{{"type", "message"}, {"from", "alice"}, {"text", "hello bob"}});
  CHECK(frames[2] == json{{"type", "message"}, {"from", "alice"}, {"text", "second line"}});
  // The empty line was refused by the client itself: never sent, so never relayed.
  const auto not_sent = socklab::test::of_kind(alice.json(), "not_sent");
  REQUIRE(not_sent.size() == 1);
  CHECK(not_sent[0]["reason"] == "empty");

  CHECK(bob.next_frame() == json{{"type", "join"}, {"name", "alice"}, {"online", 2}});
  CHECK(bob.next_frame() == json{{"type", "message"}, {"from", "alice"}, {"text", "hello bob"}});
  CHECK(bob.next_frame() == json{{"type", "message"}, {"from", "alice"}, {"text", "second line"}});
  CHECK(bob.next_frame() == json{{"type", "leave"}, {"name", "alice"}, {"reason", "closed"}, {"online", 1}});

  REQUIRE(server.wait_for_count("message", 2));  // the server's log, read as it is written
  const auto messages = server.events("message");
  REQUIRE(messages.size() == 2);
  CHECK(messages[0]["from"] == "alice");
  CHECK(messages[0]["text"] == "hello bob");
  const auto left = server.wait_for([](const json& e) { return e.value("kind", "") == "leave"; });
  REQUIRE(left);
  CHECK((*left)["reason"] == "closed");
  CHECK(server.stop() == 0);
  const auto summary = server.events("summary").at(0);
  CHECK(summary["clients_served"] == 2);
  CHECK(summary["messages"] == 2);
  CHECK(summary["ok"] == true);
}

TEST_CASE("demo-chat: the text a person reads, in English and Chinese", "[demos][chat]") {
  ChatServerProcess server({});
  SECTION("English") {
    const auto r = run_chat_client({"--port", port_of(server), "--name", "ann", "--no-lesson"}, "hi\n\n");
    CHECK(r.exit_code == 0);
    // The script is read at once: the empty line is refused before the echo of "hi" is back.
    CHECK(r.out == "Connected to " + server.endpoint().to_string() +
                       " as ann (1 online). Type a line and press Enter; Ctrl-D leaves.\n"
                       "(empty line: not sent)\n"
                       "[ann] hi\n");
  }
  SECTION("Chinese, with the lesson's title first") {
    const auto r = run_chat_client({"--port", port_of(server), "--name", "李雷", "--lang", "zh"}, "你好\n");
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("第 6 课：一直在服务的聊天服务器\n", 0) == 0);
    CHECK(r.out.find("已连接到 " + server.endpoint().to_string() + "，名字是 李雷（在线 1 人）") != std::string::npos);
    CHECK(r.out.find("[李雷] 你好\n") != std::string::npos);
  }
  SECTION("the same name twice is made unique") {
    RawChatClient first(server.endpoint(), "ann");
    RawChatClient second(server.endpoint(), "ann");
    CHECK(first.name() == "ann");
    CHECK(second.name() == "ann#2");
  }
}

TEST_CASE("demo-chat: bad usage is exit code 2 with a message naming the flag", "[demos][chat]") {
  const auto no_side = run_demo({DEMO_CHAT});
  CHECK(no_side.exit_code == 2);
  CHECK(no_side.err.find("demo-chat server, or demo-chat client") != std::string::npos);
  const auto no_port = run_demo({DEMO_CHAT, "client"});
  CHECK(no_port.exit_code == 2);
  CHECK(no_port.err.find("demo-chat client needs --port") != std::string::npos);
  const auto bad_prefix = run_demo({DEMO_CHAT, "server", "--prefix", "q"});
  CHECK(bad_prefix.exit_code == 2);
  CHECK(bad_prefix.err.find("--prefix: length prefix format \"q\"") != std::string::npos);
  const auto bad_name = run_demo({DEMO_CHAT, "client", "--port", "5000", "--name", std::string(40, 'x')});
  CHECK(bad_name.exit_code == 2);
  CHECK(bad_name.err.find("--name") != std::string::npos);
  const auto bad_limit = run_demo({DEMO_CHAT, "server", "--max-clients", "0"});
  CHECK(bad_limit.exit_code == 2);
  CHECK(bad_limit.err.find("--max-clients") != std::string::npos);
  const auto help = run_demo({DEMO_CHAT, "server", "--help"});
  CHECK(help.exit_code == 0);
  CHECK(help.out.find("--frame-timeout") != std::string::npos);
}

TEST_CASE("demo-chat server: a port in use, or an address not here, is explained as by every demo",
          "[demos][chat]") {
  namespace net = socklab::net;
  auto busy = net::value_or_throw(net::TcpListener::bind(net::Endpoint::loopback_v4(0)));
  const std::string port = std::to_string(busy.endpoint().port());
  const auto in_use = run_demo({DEMO_CHAT, "server", "--port", port});
  CHECK(in_use.exit_code == 1);
  CHECK_THAT(in_use.err, Catch::Contains("Port " + port + " is already in use") && Catch::Contains("--port"));
  const auto not_here = run_demo({DEMO_CHAT, "server", "--listen", "192.0.2.1"});  // TEST-NET-1
  CHECK(not_here.exit_code == 1);
  CHECK_THAT(not_here.err, Catch::Contains("192.0.2.1") && Catch::Contains("0.0.0.0"));
}

TEST_CASE("demo-chat server: restarts on its port while a connection it closed sits in TIME_WAIT",
          "[demos][chat]") {
  namespace net = socklab::net;
  std::uint16_t port = 0;
  {
    ChatServerProcess first({});
    port = first.endpoint().port();
    // The server closes first (a 2 GiB header): the TIME_WAIT is on its side, on its port.
    RawChatClient giant(first.endpoint(), "giant");
    const std::array<std::byte, 4> header{std::byte{0x80}, std::byte{0}, std::byte{0}, std::byte{0}};
    giant.send_bytes(header);
    (void)giant.frames_until_closed();
    (void)giant.stream().close();
    const auto waiting = net::wait_for_tcp_socket(
        {.family = AF_INET, .local_port = port, .states = {net::TcpState::time_wait}}, socklab::test::chat_patience);
    REQUIRE(waiting.has_value());
    CHECK(first.stop() == 0);
  }
  // SO_REUSEADDR: the same port again at once (without it: EADDRINUSE, exit 1).
  ChatServerProcess again({"--port", std::to_string(port)});
  CHECK(again.endpoint().port() == port);
  CHECK(again.stop() == 0);
}

TEST_CASE("demo-chat: the lesson files define exactly the notes the program uses", "[demos][chat]") {
  const auto r = run_demo({DEMO_CHAT, "--check-notes"});
  INFO(r.err);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("notes ok: demo-chat") != std::string::npos);
}

TEST_CASE("demo-chat: a client whose server is gone, or refuses, says so", "[demos][chat]") {
  SECTION("nobody listens: exit 1, the reason named") {
    // A port bound but not listening: no other program can take it, and a SYN there is refused.
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    socklab::net::Socket reserved(fd);
    const auto any = socklab::net::Endpoint::loopback_v4();
    REQUIRE(::bind(fd, any.data(), any.size()) == 0);
    const auto port = std::to_string(socklab::net::value_or_throw(reserved.local_endpoint()).port());
    const auto r = run_chat_client({"--port", port, "--name", "x"}, "hi\n");
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("Connection refused") != std::string::npos);
  }
  SECTION("the server stops: the client is told, exit 0") {
    ChatServerProcess server({});
    RawChatClient waiting(server.endpoint(), "waiting");
    CHECK(server.stop() == 0);
    const auto bye = waiting.frame_where([](const json& f) { return f["type"] == "bye"; });
    REQUIRE(bye);
    CHECK((*bye)["reason"] == "shutdown");
  }
}

// demo-sticky --fix header against the classic course's Python peers
// (classic_file_client.py, classic_file_server.py: standard library only), in
// both directions: the same bytes on the wire, whoever wrote the program.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "chat_runner.hpp"
#include "demo_runner.hpp"

using socklab::test::start_demo;
using socklab::test::run_demo;
using socklab::test::verdicts;
namespace fs = std::filesystem;

namespace {

const std::string kClient = std::string(SOCKLAB_INTEROP_DIR) + "/classic_file_client.py";
const std::string kServer = std::string(SOCKLAB_INTEROP_DIR) + "/classic_file_server.py";

// A fresh directory under the build tree, removed at the end of the test.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name) : path(fs::path(SOCKLAB_BINARY_DIR) / ("interop-" + name)) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

// A binary file: every byte value, in an order that no codec bug reproduces by chance.
fs::path make_file(const fs::path& dir, std::size_t size) {
  const fs::path file = dir / "lecture notes.bin";
  std::ofstream out(file, std::ios::binary);
  for (std::size_t i = 0; i < size; ++i) out.put(static_cast<char>((i * 131 + i / 256) % 256));
  return file;
}

std::string contents(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("demo-sticky serves a file to the classic Python client (struct 'i', JSON header)", "[demos][interop]") {
  TempDir dir("to-python");
  const fs::path file = make_file(dir.path, 300'000);
  fs::create_directories(dir.path / "received");
  auto server = start_demo({DEMO_STICKY, "--role", "server", "--serve", "1", "--fix", "header", "--endian", "little", "--file",
                            file.string(), "--json"});
  const auto port = socklab::test::announced_port(server.wait_for_stderr("--port "));
  REQUIRE(port);
  const auto client = run_demo({PYTHON3, kClient, "127.0.0.1", *port, (dir.path / "received").string()});
  INFO(client.err);
  REQUIRE(client.exit_code == 0);
  const auto summary = nlohmann::json::parse(client.out);
  CHECK(summary.at("file_name") == "lecture notes.bin");
  CHECK(summary.at("file_size") == 300'000);
  CHECK(contents(dir.path / "received" / "lecture notes.bin") == contents(file));

  const auto served = server.finish();
  INFO(served.err);
  REQUIRE(served.exit_code == 0);
  CHECK(verdicts(served.json()).at("file_sent").at("ok") == true);
}

TEST_CASE("demo-sticky receives a file from the classic Python server", "[demos][interop]") {
  TempDir dir("from-python");
  const fs::path file = make_file(dir.path, 250'000);
  auto server = start_demo({PYTHON3, kServer, file.string()});
  const std::string said = server.wait_for_stderr(" on port ");
  const auto at = said.find(" on port ");
  REQUIRE(at != std::string::npos);
  const std::string port = std::to_string(std::stoi(said.substr(at + 9)));
  // The demo's client checks what arrives against the same file, byte for byte.
  const auto client = run_demo({DEMO_STICKY, "--role", "client", "--port", port, "--fix", "header", "--endian",
                                "little", "--file", file.string(), "--json"});
  INFO(client.err);
  REQUIRE(client.exit_code == 0);
  const auto v = verdicts(client.json());
  CHECK(v.at("header_received").at("observed") ==
        nlohmann::json({{"file_name", "lecture notes.bin"}, {"file_size", 250'000}}));
  CHECK(v.at("file_intact").at("ok") == true);
  const auto served = server.finish();
  INFO(served.err);
  CHECK(served.exit_code == 0);
}

TEST_CASE("without --file the demo's client checks what it can: the size the header announced", "[demos][interop]") {
  TempDir dir("size-only");
  const fs::path file = make_file(dir.path, 5'000);
  auto server = start_demo({PYTHON3, kServer, file.string()});
  const std::string said = server.wait_for_stderr(" on port ");
  const std::string port = std::to_string(std::stoi(said.substr(said.find(" on port ") + 9)));
  const auto client = run_demo({DEMO_STICKY, "--role", "client", "--port", port, "--fix", "header", "--endian",
                                "little", "--json"});
  INFO(client.err);
  REQUIRE(client.exit_code == 0);
  const auto v = verdicts(client.json());
  CHECK(v.at("header_received").at("ok") == true);
  CHECK(v.at("file_intact").at("observed") == nlohmann::json({{"bytes", 5'000}, {"same_bytes", nullptr}}));
  CHECK(server.finish().exit_code == 0);
}

TEST_CASE("byte orders that disagree: a clear error, not a 700 MB allocation", "[demos][interop]") {
  // struct.pack('i', n) is little-endian on x86; a client expecting '!I' reads a huge length.
  TempDir dir("endian");
  const fs::path file = make_file(dir.path, 1000);
  auto server = start_demo({PYTHON3, kServer, file.string()});
  const std::string said = server.wait_for_stderr(" on port ");
  const std::string port = std::to_string(std::stoi(said.substr(said.find(" on port ") + 9)));
  const auto client = run_demo({DEMO_STICKY, "--role", "client", "--port", port, "--fix", "header", "--file",
                                file.string()});
  CHECK(client.exit_code == 1);
  CHECK_THAT(client.err, Catch::Contains("length prefix '!I'"));
  CHECK_THAT(client.err, Catch::Contains("more than the maximum"));
  (void)server.finish();  // it fails too: its client hung up
}

// ---- demo-udp --echo and the classic course's UDP peers (classic_udp_*.py)

namespace {
const std::string kUdpClient = std::string(SOCKLAB_INTEROP_DIR) + "/classic_udp_client.py";
const std::string kUdpServer = std::string(SOCKLAB_INTEROP_DIR) + "/classic_udp_server.py";
}  // namespace

TEST_CASE("demo-udp --echo answers the classic Python UDP client, student after student", "[demos][interop][udp]") {
  // The class server: each classic client's datagrams are one student's run, by their ADDR:PORT.
  auto server = start_demo({DEMO_UDP, "--role", "server", "--echo", "--serve", "2", "--json"});
  const auto port = socklab::test::announced_port(server.wait_for_stderr("--port "));
  REQUIRE(port);
  for (const std::string input : {"hello\nhai\nhahaha\n", "one\ntwo\nthree\n"}) {
    const auto client = socklab::test::run({PYTHON3, kUdpClient, "127.0.0.1", *port},
                                           {.env = socklab::test::demo_environment(), .input = input});
    INFO(client.err);
    REQUIRE(client.exit_code == 0);
    // Each answer reached the client's own address.
    CHECK(client.out == (input.starts_with("hello") ? "HELLO\nHAI\nHAHAHA\n" : "ONE\nTWO\nTHREE\n"));
  }
  const auto served = server.finish();
  INFO(served.err);
  REQUIRE(served.exit_code == 0);
  std::set<std::string> students;
  for (const auto& v : socklab::test::of_kind(served.json(), "verdict")) {
    CHECK(v.at("name") == "answered_to_sender");
    CHECK(v.at("ok") == true);
    CHECK(v.at("observed").size() == 3);
    students.insert(v.at("client").get<std::string>());
  }
  CHECK(students.size() == 2);
  const auto summary = socklab::test::of_kind(served.json(), "class_summary");
  REQUIRE(summary.size() == 1);
  CHECK(summary[0].at("clients") == 2);
}

TEST_CASE("demo-udp --echo --role client gets its answers from the classic Python UDP server", "[demos][interop][udp]") {
  auto server = start_demo({PYTHON3, kUdpServer, "3"});
  const std::string said = server.wait_for_stderr("port ");
  const auto at = said.find("port ");
  REQUIRE(at != std::string::npos);
  const std::string port = std::to_string(std::stoi(said.substr(at + 5)));
  const auto client = run_demo({DEMO_UDP, "--role", "client", "--port", port, "--echo", "--json"});
  INFO(client.err);
  REQUIRE(client.exit_code == 0);
  const auto v = verdicts(client.json());
  CHECK(v.at("replies_from_server").at("ok") == true);
  CHECK_THAT(v.at("replies_from_server").at("text").get<std::string>(), Catch::Contains("HELLO HAI HAHAHA"));
  const auto served = server.finish();
  INFO(served.err);
  CHECK(served.exit_code == 0);
  // The server saw the three datagrams from one client port: the demo's one socket.
  const auto lines = served.out_lines();
  REQUIRE(lines.size() == 3);
  CHECK(lines[0].substr(0, lines[0].rfind(' ')) == lines[2].substr(0, lines[2].rfind(' ')));
}

// ---- demo-chat server and the classic course's unframed chat client (classic_chat_client.py)

TEST_CASE("demo-chat server tells the classic unframed client in plain text to frame its messages",
          "[demos][interop][chat]") {
  socklab::test::ChatServerProcess server({});
  const std::string port = std::to_string(server.endpoint().port());
  const std::string kChatClient = std::string(SOCKLAB_INTEROP_DIR) + "/classic_chat_client.py";
  const auto client = socklab::test::run({PYTHON3, kChatClient, "127.0.0.1", port},
                                         {.env = socklab::test::demo_environment(), .input = "hello\n"});
  INFO(client.err);
  CHECK(client.exit_code == 0);  // not cut off: no BrokenPipeError, no traceback
  CHECK(client.err.empty());
  CHECK_THAT(client.out, Catch::Contains("This chat server reads framed messages"));
  CHECK_THAT(client.out, Catch::Contains("Your first bytes \"hell\" were read as a length of 1751477356 bytes"));
  // And the server's log says why the client left.
  const auto left = server.wait_for([](const nlohmann::json& e) { return e.value("kind", "") == "leave"; });
  REQUIRE(left);
  CHECK(left->value("reason", "") == "malformed_frame");
  CHECK_THAT(left->value("detail", ""), Catch::Contains("plain text without the length prefix"));
}

// ---- demo-chat --raw: the classic course's unframed chat, both ways

TEST_CASE("the classic Python chat client works against demo-chat server --raw", "[demos][interop][chat]") {
  socklab::test::ChatServerProcess server({"--raw"});
  const std::string port = std::to_string(server.endpoint().port());
  const std::string kChatClient = std::string(SOCKLAB_INTEROP_DIR) + "/classic_chat_client.py";
  const auto client = socklab::test::run({PYTHON3, kChatClient, "127.0.0.1", port},
                                         {.env = socklab::test::demo_environment(), .input = "hello\nhai\n"});
  INFO(client.err);
  CHECK(client.exit_code == 0);  // no BrokenPipeError, no traceback
  CHECK(client.err.empty());
  // It waits for an answer to each line, so each recv(1024) of the server got one line.
  const auto left = server.wait_for([](const nlohmann::json& e) { return e.value("kind", "") == "leave"; });
  REQUIRE(left);
  CHECK(left->value("reason", "") == "closed");  // recv() returned 0: it closed, nothing was cut off
  const auto reads = server.events("recv");
  REQUIRE(reads.size() == 2);
  CHECK(reads[0]["bytes"] == 5);
  CHECK(reads[1]["text"] == "hai");
  const std::string peer = reads[0]["peer"];
  CHECK(client.out == "[" + peer + "] hello\n[" + peer + "] hai\n");
  CHECK(server.stop() == 0);
}

TEST_CASE("demo-chat client --raw talks to the classic Python chat server", "[demos][interop][chat]") {
  const std::string kChatServer = std::string(SOCKLAB_INTEROP_DIR) + "/classic_chat_server.py";
  auto server = start_demo({PYTHON3, kChatServer});
  const std::string said = server.wait_for_stderr("port ");
  const auto at = said.find("port ");
  REQUIRE(at != std::string::npos);
  const std::string port = std::to_string(std::stoi(said.substr(at + 5)));
  const auto client = socklab::test::run({DEMO_CHAT, "client", "--raw", "--port", port, "--json"},
                                         {.env = socklab::test::demo_environment(), .input = "hello\nhai\n"});
  INFO(client.out << client.err);
  REQUIRE(client.exit_code == 0);  // the server closed after our FIN, as the classic server does
  std::string received;
  std::size_t sent = 0;
  for (const auto& line : client.out_lines()) {
    const auto e = nlohmann::json::parse(line);
    if (e["kind"] == "sent") ++sent;
    if (e["kind"] == "received") received += e["text"].get<std::string>();
  }
  CHECK(sent == 2);
  CHECK(received == "HELLOHAI");  // in one recv() or two, as the lines glued or not on the way
  const auto served = server.finish();
  INFO(served.err);
  CHECK(served.exit_code == 0);
  std::string read;
  for (const auto& line : served.out_lines()) read += line;
  CHECK(read == "hellohai");
}

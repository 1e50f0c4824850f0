// demo-chat as a user runs it: a server and scripted clients in separate
// processes, over loopback, their JSON lines and text checked.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <array>
#include <cstddef>
#include <string>
#include <vector>

#include "chat_runner.hpp"
#include "net_helpers.hpp"

using socklab::test::ChatServerProcess;
using socklab::test::RawChatClient;
using socklab::test::run_chat_client;
using socklab::test::run_demo;
using nlohmann::json;

namespace {

std::string port_of(const ChatServerProcess& s) { return std::to_string(s.endpoint().port()); }

// Text as wrapped lines say it, without the line breaks and spaces wrapping moves.
std::string squeezed(std::string_view text) {
  std::string out;
  for (char ch : text)
    if (ch != ' ' && ch != '\n') out += ch;
  return out;
}

// Every line of `out` fits in 80 columns (the width when stdout is not a terminal).
void check_fits_80_columns(const std::string& out) {
  std::size_t start = 0;
  while (start < out.size()) {
    const std::size_t eol = std::min(out.find('\n', start), out.size());
    const std::string line = out.substr(start, eol - start);
    std::size_t columns = 0;  // CJK characters (3 UTF-8 bytes here) take two columns
    for (std::size_t i = 0; i < line.size();) {
      const auto b = static_cast<unsigned char>(line[i]);
      const std::size_t len = b < 0x80 ? 1 : b < 0xe0 ? 2 : b < 0xf0 ? 3 : 4;
      columns += len == 3 ? 2 : 1;
      i += len;
    }
    INFO(line);
    CHECK(columns <= 80);
    start = eol + 1;
  }
}

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
  CHECK(frames[0] == json{{"type", "welcome"}, {"name", "alice"}, {"online", 2}, {"max_message", 4096}});
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
    CHECK(squeezed(r.out) == squeezed("Connected to " + server.endpoint().to_string() +
                                      " as ann (1 online). Type a line and press Enter; Ctrl-D leaves."
                                      "(empty line: not sent)"
                                      "[ann] hi"));
    CHECK(r.out.ends_with("\n(empty line: not sent)\n[ann] hi\n"));
    check_fits_80_columns(r.out);
  }
  SECTION("Chinese, with the lesson's title first") {
    const auto r = run_chat_client({"--port", port_of(server), "--name", "李雷", "--lang", "zh"}, "你好\n");
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("第 6 课：一直在服务的聊天服务器\n", 0) == 0);
    CHECK(squeezed(r.out).find(squeezed("已连接到 " + server.endpoint().to_string() + "，名字是 李雷（在线 1 人）")) !=
          std::string::npos);
    CHECK(r.out.find("[李雷] 你好\n") != std::string::npos);
    check_fits_80_columns(r.out);  // the goal paragraph is wrapped, not one 600-column line
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
    const auto refusing = socklab::test::refusing_port();  // a SYN there is refused (ECONNREFUSED)
    const auto& port = refusing.port;
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

TEST_CASE("demo-chat client: a line longer than the server's limit is refused before sending; later lines go on",
          "[demos][chat]") {
  ChatServerProcess server({"--max-message", "100"});
  // A line over the limit, then one far too long to be kept in memory, then a good one.
  const std::string script = "first\n" + std::string(300, 'x') + "\n" + std::string(200'000, 'y') + "\nafter\n";
  const auto r = run_chat_client({"--port", port_of(server), "--name", "long", "--json"}, script);
  INFO(r.err);
  CHECK(r.exit_code == 0);
  const auto not_sent = socklab::test::of_kind(r.json(), "not_sent");
  REQUIRE(not_sent.size() == 2);
  CHECK(not_sent[0] == json{{"kind", "not_sent"}, {"reason", "too_long"}, {"bytes", 300}, {"max_message", 100},
                            {"t", not_sent[0]["t"]}});
  CHECK(not_sent[1]["bytes"] == 200'000);
  const auto frames = received(r);
  REQUIRE(frames.size() == 3);
  CHECK(frames[1]["text"] == "first");
  CHECK(frames[2]["text"] == "after");
  CHECK(server.events("leave").size() <= 1);  // the client's own goodbye, never frame_too_large
  for (const auto& e : server.events("leave")) CHECK(e["reason"] == "closed");

  SECTION("and says so in words") {
    const auto text = run_chat_client({"--port", port_of(server), "--name", "long", "--no-lesson"},
                                      std::string(101, 'z') + "\nok\n");
    CHECK(text.exit_code == 0);
    CHECK(squeezed(text.out).find(squeezed(
              "(a line of 101 bytes: not sent; the server takes messages of at most 100 bytes)")) != std::string::npos);
    CHECK(text.out.ends_with("[long] ok\n"));
  }
}

TEST_CASE("demo-chat client: when the server stops, the reason is said once, in the client's language",
          "[demos][chat]") {
  const auto [lang, expected] = GENERATE(table<std::string, std::string>({
      {"en", "! The server closed your connection: the server is stopping\n"},
      {"zh", "! 服务器关闭了你的连接：服务器正在停止\n"}}));
  ChatServerProcess server({});
  // stdin held open: the client stays until the server goes.
  socklab::test::HeldPipesChild client({DEMO_CHAT, "client", "--port", port_of(server), "--name", "stays",
                                        "--no-lesson", "--lang", lang});
  REQUIRE(client.read_stdout_until([](const std::string& out) { return out.find('\n') != std::string::npos; }));
  REQUIRE(server.wait_for([](const json& e) { return e.value("kind", "") == "join"; }));
  CHECK(server.stop() == 0);
  const auto done = client.process().finish();
  (void)client.read_stdout_until([](const std::string&) { return false; });  // to its end
  INFO(client.out() << done.err);
  CHECK(done.exit_code == 0);
  CHECK(client.out().find(expected) != std::string::npos);
  CHECK(client.out().find("(the server is stopping)") == std::string::npos);
  CHECK(client.out().find("（服务器正在停止）") == std::string::npos);
}

namespace {

// The Latin words of `text` that are not a protocol token, a flag, a code or a
// name the test chose: what must not appear in a --lang zh run.
std::vector<std::string> english_words(const std::string& text, const std::vector<std::string>& allowed) {
  std::vector<std::string> found;
  std::size_t i = 0;
  while (i < text.size()) {
    const auto starts_token = [&](std::size_t at) {
      return text.compare(at, 2, "--") == 0 || text.compare(at, 2, "0x") == 0 || text.compare(at, 2, "U+") == 0;
    };
    if (starts_token(i)) {  // a flag (--max-message), a byte (0x07), a code point (U+009B)
      while (i < text.size() && text[i] != ' ' && static_cast<unsigned char>(text[i]) < 0x80 && text[i] != '\n') ++i;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(text[i]))) {  // a number, or hex bytes such as 6d
      while (i < text.size() && std::isalnum(static_cast<unsigned char>(text[i]))) ++i;
      continue;
    }
    if (!std::isalpha(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    std::size_t end = i;
    while (end < text.size() && std::isalnum(static_cast<unsigned char>(text[end]))) ++end;
    const std::string word = text.substr(i, end - i);
    if (std::find(allowed.begin(), allowed.end(), word) == allowed.end()) found.push_back(word);
    i = end;
  }
  return found;
}

}  // namespace

TEST_CASE("demo-chat --lang zh: the server's log and the client's lines are Chinese, wrapped to 80 columns",
          "[demos][chat]") {
  socklab::test::Process server({DEMO_CHAT, "server", "--lang", "zh", "--max-message", "100"},
                                {.env = socklab::test::demo_environment()});
  const std::string err = server.wait_for_stderr("127.0.0.1:");
  const auto at = err.find("127.0.0.1:");
  REQUIRE(at != std::string::npos);
  const auto endpoint = socklab::net::value_or_throw(
      socklab::net::Endpoint::parse(err.substr(at, err.find_first_not_of("0123456789.:", at) - at)));
  {
    RawChatClient witness(endpoint, "见证人");
    RawChatClient giant(endpoint, "巨人");
    const std::array<std::byte, 4> header{std::byte{0x6d}, std::byte{0x73}, std::byte{0x67}, std::byte{0x00}};
    // "msg\0" read as a length: 1836279552 bytes. (Not all text: four printable
    // bytes are an unframed client's, answered in plain text, test_interop.cpp.)
    giant.send_bytes(header);
    (void)giant.frames_until_closed();
    RawChatClient half(endpoint, "半截");
    half.send_bytes(std::array<std::byte, 5>{std::byte{0}, std::byte{0}, std::byte{0}, std::byte{9}, std::byte{'a'}});
    (void)half.stream().shutdown_write();
    (void)half.frames_until_closed();
    RawChatClient nameless(endpoint);
    nameless.send_text("");
    (void)nameless.frames_until_closed();
    witness.send_text("\xc2\x9b" "31m");  // 8-bit CSI
    REQUIRE(witness.frame_where([](const json& f) { return f["type"] == "refused"; }));
  }
  const auto zh_client = run_chat_client({"--port", std::to_string(endpoint.port()), "--name", "学生", "--lang", "zh"},
                                         "你好\n" + std::string(101, 'z') + "\n\xe2\x80\xae" "abc\n");
  server.signal(SIGTERM);
  const auto done = server.finish();
  INFO(done.out << done.err << zh_client.out << zh_client.err);
  CHECK(done.exit_code == 0);
  CHECK(zh_client.exit_code == 0);
  // The 2 GiB-style header is described in Chinese, with its bytes and number.
  CHECK(squeezed(done.out).find(squeezed("长度前缀 '!I' [6d 73 67 00] 声称有 1836279552 字节")) != std::string::npos);
  CHECK(squeezed(zh_client.out).find(squeezed("第 0 字节处有双向文本控制符 U+202E")) != std::string::npos);
  const std::vector<std::string> tokens{"recv", "ECONNRESET", "Python", "ConnectionResetError", "UTF", "C1", "I",
                                        "demo", "chat", "client", "host", "port", "name", "YOUR_NAME", "lang", "zh",
                                        "Ctrl", "D", "YOUR", "NAME", "zzzzzzzzzz"};
  const auto joined = [](const std::vector<std::string>& words) {
    std::string out;
    for (const auto& w : words) out += w + " ";
    return out;
  };
  CHECK(joined(english_words(done.out, tokens)) == "");
  CHECK(joined(english_words(done.err, tokens)) == "");
  CHECK(joined(english_words(zh_client.out, tokens)) == "");
  check_fits_80_columns(done.out);
  check_fits_80_columns(zh_client.out);
}

TEST_CASE("demo-chat --lang zh: errno texts are Chinese, not glibc's English strerror()", "[demos][chat]") {
  SECTION("the client's refused connect()") {
    const auto refusing = socklab::test::refusing_port();  // a SYN there is refused (ECONNREFUSED)
    const auto& port = refusing.port;
    const auto r = run_chat_client({"--port", port, "--name", "x", "--lang", "zh"}, "hi\n");
    INFO(r.err);
    CHECK(r.exit_code == 1);
    CHECK(r.err.find("连接被拒绝（ECONNREFUSED）") != std::string::npos);
    CHECK(r.err.find("Connection refused") == std::string::npos);
    CHECK(english_words(r.err, {"demo", "chat", "client", "connect", "ECONNREFUSED"}).empty());
  }
  SECTION("the server's log of a client that reset its connection") {
    ChatServerProcess server({"--lang", "zh"});
    {
      RawChatClient gone(server.endpoint(), "走了");
      REQUIRE(gone.stream().set_linger(std::chrono::seconds(0)));  // close() sends an RST
    }
    const auto left = server.wait_for([](const json& e) { return e.value("kind", "") == "leave"; });
    REQUIRE(left);
    CHECK((*left)["reason"] == "reset");
    const auto detail = (*left)["detail"].get<std::string>();
    INFO(detail);
    CHECK(detail.find("连接被对方重置（ECONNRESET）") != std::string::npos);
    CHECK(detail.find("Connection reset") == std::string::npos);
    CHECK(server.stop() == 0);
  }
}

TEST_CASE("demo-chat server --raw: two lines queued before the server reads come out of one recv()",
          "[demos][chat][raw]") {
  ChatServerProcess server({"--raw"});
  CHECK(server.events("listening").at(0)["raw"] == true);
  auto client = socklab::net::value_or_throw(
      socklab::net::TcpStream::connect(server.endpoint(), {.timeout = socklab::test::chat_patience}));
  const std::string me = socklab::net::value_or_throw(client.local_endpoint()).to_string();
  REQUIRE(server.wait_for([&](const json& e) { return e.value("kind", "") == "join" && e["peer"] == me; }));
  socklab::test::send_while_server_stopped(server.pid(), client, {"hello", "how are you"});
  const auto read = server.wait_for([](const json& e) { return e.value("kind", "") == "recv"; });
  REQUIRE(read);
  CHECK((*read)["bytes"] == 16);  // both send() calls, in one recv(): no length said where "hello" ended
  CHECK((*read)["text"] == "hellohow are you");
  // The server relays what that recv() gave as one message, to the sender too.
  const std::string expected = "[" + me + "] hellohow are you";
  std::string relayed;
  std::array<std::byte, 1024> buf{};
  while (relayed.size() < expected.size()) {
    REQUIRE(client.wait_readable(socklab::test::chat_patience));
    const auto n = socklab::net::value_or_throw(client.recv_some(buf));
    REQUIRE(n > 0);
    relayed.append(reinterpret_cast<const char*>(buf.data()), n);
  }
  CHECK(relayed == expected);
  // Without --capture the server claims nothing about segments: it did not see them.
  CHECK(server.events("glued").empty());
  REQUIRE(client.shutdown_write());
  REQUIRE(server.wait_for([](const json& e) { return e.value("kind", "") == "leave" && e["reason"] == "closed"; }));
  CHECK(server.stop() == 0);
}

TEST_CASE("demo-chat client --raw: each line in one send(), each recv() shown with its size; --raw refuses --prefix",
          "[demos][chat][raw]") {
  ChatServerProcess server({"--raw"});
  const auto r = run_chat_client({"--raw", "--port", std::to_string(server.endpoint().port()), "--json"},
                                 "hello\n  \nhai  \n");
  INFO(r.out << r.err);
  REQUIRE(r.exit_code == 0);
  std::vector<json> sent, received;
  for (const auto& line : r.out_lines()) {
    const auto e = json::parse(line);
    if (e["kind"] == "sent") sent.push_back(e);
    if (e["kind"] == "received") received.push_back(e);
  }
  REQUIRE(sent.size() == 2);  // the blank line is not sent; "hai  " is stripped, as the course's strip()
  CHECK(sent[0]["bytes"] == 5);
  CHECK(sent[1]["text"] == "hai");
  // What came back is what the server's recv() calls returned, each relayed as
  // one message: glued or not, as the run went.
  // The server logs its recv() calls before the leave (its log keeps their order).
  REQUIRE(server.wait_for([](const json& e) { return e.value("kind", "") == "leave"; }));
  std::string all, relayed, read;
  for (const auto& e : received) all += e["text"].get<std::string>();
  for (const auto& e : server.events("recv")) {
    read += e["text"].get<std::string>();
    relayed += "[" + e["peer"].get<std::string>() + "] " + e["text"].get<std::string>();
  }
  CHECK(read == "hellohai");
  CHECK(all == relayed);
  const auto bad = run_chat_client({"--raw", "--prefix", "i", "--port", "1"}, "");
  CHECK(bad.exit_code == 2);
  CHECK(bad.err.find("--raw") != std::string::npos);
  CHECK(server.stop() == 0);
}

TEST_CASE("demo-chat --lang zh: a flag CLI11 refuses is named in Chinese, as by every demo", "[demos][chat]") {
  const auto r = run_demo({DEMO_CHAT, "server", "--lang", "zh", "--bogus"});
  INFO(r.err);
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("命令行参数有误：--bogus") != std::string::npos);
  CHECK(r.err.find("demo-chat --help") != std::string::npos);
  CHECK(english_words(r.err, {"demo", "chat", "help", "bogus"}).empty());
}

TEST_CASE("demo-chat --lang zh: --help and the usage errors are Chinese (issue 10)", "[demos][chat]") {
  // Protocol tokens, programs, file names, short flags (-h, -p, -w) and the values given below.
  const std::vector<std::string> allowed{
      "demo", "chat", "zh", "en", "help", "struct", "pack", "Python", "i", "n", "I", "H", "Ctrl", "C", "D",
      "lessons", "md", "server", "client", "send", "recv", "pcap", "LANG", "JSON", "IPv6", "ulimit", "socklab",
      "root", "git", "USER", "CAP", "NET", "RAW", "h", "p", "w", "q", "x"};
  for (const std::vector<std::string>& help : {std::vector<std::string>{DEMO_CHAT, "--help", "--lang", "zh"},
                                              {DEMO_CHAT, "server", "--help", "--lang", "zh"},
                                              {DEMO_CHAT, "client", "--help", "--lang", "zh"}}) {
    const auto r = run_demo(help);
    INFO(r.out);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("用法") != std::string::npos);
    CHECK(english_words(r.out, allowed).empty());
  }
  const auto server_help = run_demo({DEMO_CHAT, "server", "--help", "--lang", "zh"});
  CHECK(server_help.out.find("--frame-timeout") != std::string::npos);
  CHECK(server_help.out.find("--capture") != std::string::npos);
  for (const std::vector<std::string>& wrong : {std::vector<std::string>{DEMO_CHAT, "--lang=zh"},
                                               {DEMO_CHAT, "client", "--lang", "zh"},
                                               {DEMO_CHAT, "server", "--prefix", "q", "--lang", "zh"},
                                               {DEMO_CHAT, "client", "--port", "5000", "--name", "", "--lang", "zh"},
                                               {DEMO_CHAT, "server", "--raw", "--prefix", "i", "--lang", "zh"}}) {
    const auto r = run_demo(wrong);
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("demo-chat --help") != std::string::npos);
    CHECK(english_words(r.err, allowed).empty());
  }
}

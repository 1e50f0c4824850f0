// The chat server against peers that break the rules: each gets a clear
// answer (a "bye" with the reason, or a refusal), and a well-behaved client
// connected all along keeps being served.
#include <catch2/catch.hpp>

#include <sys/resource.h>
#include <sys/socket.h>

#include <array>
#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "chat_runner.hpp"

using socklab::test::ChatServerProcess;
using socklab::test::RawChatClient;
using nlohmann::json;
namespace net = socklab::net;

namespace {

std::vector<std::byte> bytes(std::initializer_list<unsigned> values) {
  std::vector<std::byte> out;
  for (unsigned v : values) out.push_back(static_cast<std::byte>(v));
  return out;
}

bool is_leave(const json& e, std::string_view reason) {
  return e.value("kind", "") == "leave" && e.value("reason", "") == reason;
}

// The witness: a client that stays, says something, and must hear it back.
void still_served(RawChatClient& witness, const std::string& text) {
  witness.send_text(text);
  const auto echo = witness.frame_where([&](const json& f) { return f["type"] == "message" && f["text"] == text; });
  REQUIRE(echo);
  CHECK((*echo)["from"] == witness.name());
}

}  // namespace

TEST_CASE("hostile peers are answered and closed; the others are served", "[hardening][chat]") {
  ChatServerProcess server({"--max-message", "1000"});
  RawChatClient witness(server.endpoint(), "witness");

  SECTION("a reset (ECONNRESET, Python's ConnectionResetError)") {
    RawChatClient mallory(server.endpoint(), "mallory");
    net::value_or_throw(mallory.stream().set_linger(std::chrono::seconds(0)));
    (void)mallory.stream().close();
    const auto left = server.wait_for([](const json& e) { return is_leave(e, "reset"); });
    REQUIRE(left);
    CHECK((*left)["name"] == "mallory");
    const auto told = witness.frame_where([](const json& f) { return f["type"] == "leave"; });
    REQUIRE(told);
    CHECK((*told)["reason"] == "reset");
    still_served(witness, "after the reset");
  }

  SECTION("leaving in the middle of a frame: the half message is dropped, never relayed") {
    RawChatClient half(server.endpoint(), "half");
    half.send_bytes(bytes({0, 0, 0, 10, 'a', 'b', 'c'}));  // 3 of 10 announced bytes
    net::value_or_throw(half.stream().shutdown_write());    // FIN in the middle of the frame
    const auto left = server.wait_for([](const json& e) { return is_leave(e, "eof_in_frame"); });
    REQUIRE(left);
    CHECK((*left)["detail"].get<std::string>().find("after 3 of 10 payload bytes") != std::string::npos);
    CHECK(server.events("message").empty());
    still_served(witness, "after the half frame");
  }

  SECTION("a header claiming 2 GiB: bye with the reason, nothing allocated") {
    RawChatClient giant(server.endpoint(), "giant");
    giant.send_bytes(bytes({0x80, 0, 0, 0}));
    const auto frames = giant.frames_until_closed();
    REQUIRE_FALSE(frames.empty());
    const auto& bye = frames.back();
    CHECK(bye["type"] == "bye");
    CHECK(bye["reason"] == "frame_too_large");
    CHECK(bye["detail"] ==
          "length prefix '!I' [80 00 00 00]: announces 2147483648 bytes, more than the maximum frame of 1000 bytes");
    REQUIRE(server.wait_for([](const json& e) { return is_leave(e, "frame_too_large"); }));
    still_served(witness, "after 2 GiB");
  }

  SECTION("bytes that are not text: the message is refused, the sender stays") {
    RawChatClient texty(server.endpoint(), "texty");
    texty.send_text("\xff\xfe binary");
    const auto refused = texty.next_frame();
    REQUIRE(refused);
    CHECK(*refused == json{{"type", "refused"}, {"reason", "not_text"}, {"detail", "byte 0xff at byte 0 is not UTF-8"},
                           {"problem", "not_utf8"}, {"code", "0xff"}, {"at", 0}});
    texty.send_text("bell \x07");
    CHECK(texty.next_frame().value()["detail"] == "control character 0x07 at byte 5");
    texty.send_text("");
    CHECK(texty.next_frame().value()["reason"] == "empty");
    // What could rewrite another user's terminal or reorder what they read.
    texty.send_text("csi \xc2\x9b" "2J");  // 8-bit CSI: clear the screen
    CHECK(texty.next_frame().value()["detail"] ==
          "C1 control character U+009B at byte 4 (a terminal takes it as a command)");
    texty.send_text("\xc2\x85" "next line");  // NEL
    CHECK(texty.next_frame().value()["code"] == "U+0085");
    texty.send_text("abc \xe2\x80\xae" "fdp.exe");  // RIGHT-TO-LEFT OVERRIDE
    CHECK(texty.next_frame().value()["problem"] == "bidi");
    texty.send_text("\xe2\x81\xa6" "isolate");  // LEFT-TO-RIGHT ISOLATE
    CHECK(texty.next_frame().value()["code"] == "U+2066");
    texty.send_text("\xef\xbf\xbe");  // U+FFFE
    CHECK(texty.next_frame().value()["problem"] == "noncharacter");
    still_served(texty, "texty is still here");
    CHECK(server.wait_for_count("refused", 8));
    REQUIRE(server.wait_for_count("message", 1));
    CHECK(server.events("message").size() == 1);  // only the last line was relayed
  }

  SECTION("a first frame that is not a name") {
    RawChatClient nameless(server.endpoint());
    nameless.send_bytes(bytes({0, 0, 0, 2, 0xc3, 0x28}));  // an invalid UTF-8 pair
    const auto frames = nameless.frames_until_closed();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0]["reason"] == "bad_name");
    REQUIRE(server.wait_for([](const json& e) { return is_leave(e, "bad_name") && e["name"].is_null(); }));
  }

  SECTION("a header that never completes: timed out while the others are served") {
    ChatServerProcess quick({"--frame-timeout", "300"});
    RawChatClient patient(quick.endpoint(), "patient");
    RawChatClient slow(quick.endpoint(), "slow");
    const auto began = std::chrono::steady_clock::now();
    slow.send_bytes(bytes({0, 0}));  // 2 of the 4 header bytes, then silence
    still_served(patient, "served while slow stalls");
    const auto frames = slow.frames_until_closed();  // waits for the server's bye and close
    const auto waited = std::chrono::steady_clock::now() - began;
    REQUIRE_FALSE(frames.empty());
    CHECK(frames.back()["type"] == "bye");
    CHECK(frames.back()["reason"] == "frame_timeout");
    CHECK(waited >= std::chrono::milliseconds(300));
    REQUIRE(quick.wait_for([](const json& e) { return is_leave(e, "frame_timeout"); }));
    still_served(patient, "served after slow left");
  }

  SECTION("a silent client is closed after --idle-timeout") {
    ChatServerProcess strict({"--idle-timeout", "1"});
    RawChatClient silent(strict.endpoint(), "silent");
    const auto frames = silent.frames_until_closed();
    REQUIRE_FALSE(frames.empty());
    CHECK(frames.back()["reason"] == "idle_timeout");
  }

  SECTION("--max-clients: one more is told the server is full; a place frees when one leaves") {
    ChatServerProcess small({"--max-clients", "2"});
    RawChatClient one(small.endpoint(), "one");
    RawChatClient two(small.endpoint(), "two");
    RawChatClient three(small.endpoint());
    const auto frames = three.frames_until_closed();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0]["reason"] == "server_full");
    REQUIRE(small.wait_for([](const json& e) { return e.value("kind", "") == "turned_away"; }));
    (void)two.stream().shutdown_write();
    REQUIRE(small.wait_for([](const json& e) { return is_leave(e, "closed"); }));
    RawChatClient four(small.endpoint(), "four");
    still_served(four, "a place was free again");
  }

  SECTION("a client that never reads is closed once --max-queued bytes wait for it") {
    // The kernel's own buffers take a few MiB first (loopback autotunes the send
    // buffer up to net.ipv4.tcp_wmem's maximum); large messages get past them quickly.
    ChatServerProcess bounded({"--max-queued", "65536", "--max-message", "65536"});
    RawChatClient deaf(bounded.endpoint(), "deaf");
    net::value_or_throw(deaf.stream().set_recv_buffer(4096));  // fills quickly, never read
    RawChatClient talker(bounded.endpoint(), "talker");
    const std::string line(60000, 'x');
    std::optional<json> gone;
    for (int i = 0; i < 1000 && !gone; ++i) {
      talker.send_text(line);
      REQUIRE(talker.frame_where([](const json& f) { return f["type"] == "message"; }));
      const auto leaves = bounded.events("leave");
      if (!leaves.empty()) gone = leaves.front();
    }
    if (!gone) gone = bounded.wait_for([](const json& e) { return e.value("kind", "") == "leave"; });
    REQUIRE(gone);
    CHECK((*gone)["reason"] == "too_slow");
    CHECK((*gone)["name"] == "deaf");
    still_served(talker, "talker keeps talking");
  }

  still_served(witness, "the witness at the end");
  CHECK(server.stop() == 0);
}

TEST_CASE("--prefix i: the classic course's native int length, and a negative one", "[hardening][chat]") {
  ChatServerProcess server({"--prefix", "i"});
  CHECK(server.events("listening").at(0)["prefix"] == "<i");
  const auto native = net::LengthPrefix::native_int32();
  RawChatClient course(server.endpoint(), "course", native);
  course.send_text("struct.pack('i', n)");
  CHECK(course.frame_where([](const json& f) { return f["type"] == "message"; }).value()["text"] ==
        "struct.pack('i', n)");
  RawChatClient negative(server.endpoint(), "negative", native);
  negative.send_bytes(bytes({0xff, 0xff, 0xff, 0xff}));  // struct.pack('<i', -1)
  const auto frames = negative.frames_until_closed();
  REQUIRE_FALSE(frames.empty());
  CHECK(frames.back()["reason"] == "malformed_frame");
  CHECK(frames.back()["detail"].get<std::string>().find("announces -1 bytes: a length cannot be negative") !=
        std::string::npos);
  course.send_text("still here");
  CHECK(course.frame_where([](const json& f) { return f["type"] == "message"; }).value()["text"] == "still here");
}

TEST_CASE("silent connections never lock the others out", "[hardening][chat]") {
  SECTION("full of connections that never say their name: the oldest make room for a newcomer") {
    ChatServerProcess server({"--max-clients", "4", "--hello-timeout", "60000"});
    RawChatClient named(server.endpoint(), "named");
    std::vector<std::unique_ptr<RawChatClient>> silent;
    for (int i = 0; i < 12; ++i) silent.push_back(std::make_unique<RawChatClient>(server.endpoint()));
    RawChatClient newcomer(server.endpoint(), "newcomer");  // welcomed, or this throws
    CHECK(newcomer.name() == "newcomer");
    // The first silent connection was the first to go, told why.
    const auto frames = silent.front()->frames_until_closed();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0]["reason"] == "crowded_out");
    // Named clients are never the ones closed for room.
    still_served(named, "named is still here");
    CHECK(server.events("turned_away").empty());
    for (const auto& e : server.events("leave")) CHECK(e["reason"] == "crowded_out");
  }

  SECTION("a connection that does not say its name within --hello-timeout is closed") {
    ChatServerProcess server({"--hello-timeout", "300"});
    RawChatClient named(server.endpoint(), "named");
    RawChatClient silent(server.endpoint());
    const auto began = std::chrono::steady_clock::now();
    const auto frames = silent.frames_until_closed();
    CHECK(std::chrono::steady_clock::now() - began >= std::chrono::milliseconds(300) - std::chrono::milliseconds(5));
    REQUIRE(frames.size() == 1);
    CHECK(frames[0]["reason"] == "hello_timeout");
    CHECK(frames[0]["detail"] == "no name within 300 ms of connecting (--hello-timeout)");
    REQUIRE(server.wait_for([](const json& e) { return is_leave(e, "hello_timeout"); }));
    still_served(named, "named is not timed out");
  }

  SECTION("a burst of connect+RST does not turn good clients away") {
    ChatServerProcess server({"--max-clients", "6"});
    RawChatClient stays1(server.endpoint(), "stays1");
    RawChatClient stays2(server.endpoint(), "stays2");
    std::atomic<bool> done{false};
    std::atomic<int> resets{0};
    std::thread flood([&] {
      for (int i = 0; i < 3000 && !done; ++i) {
        auto s = net::TcpStream::connect(server.endpoint(), {.timeout = socklab::test::chat_patience});
        if (!s) continue;
        (void)s->set_linger(std::chrono::seconds(0));
        (void)s->close();  // RST
        ++resets;
      }
    });
    std::vector<std::string> turned_away;
    for (int i = 0; i < 40; ++i) {
      try {
        RawChatClient good(server.endpoint(), "good" + std::to_string(i));
        (void)good.stream().shutdown_write();
      } catch (const std::exception& e) {
        turned_away.push_back(e.what());
      }
    }
    done = true;
    flood.join();
    INFO(resets.load() << " connections reset meanwhile");
    CHECK(turned_away.empty());
    CHECK(server.events("turned_away").empty());
    still_served(stays1, "the stayers are served");
  }
}

namespace {

// The lowest descriptor number a process does not hold: with RLIMIT_NOFILE
// there, it can open nothing more (a new descriptor takes the lowest free number).
rlim_t lowest_free_descriptor(pid_t pid) {
  std::set<rlim_t> held;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd"))
    held.insert(std::stoul(e.path().filename().string()));
  rlim_t n = 0;
  while (held.contains(n)) ++n;
  return n;
}

// `demo-chat server ...` under `ulimit -n N` (soft and hard).
std::vector<std::string> under_descriptor_limit(int n) {
  return {"/bin/sh", "-c", "ulimit -n " + std::to_string(n) + " && exec \"$0\" \"$@\""};
}

}  // namespace

TEST_CASE("the descriptor limit: --max-clients must fit under it; out of descriptors, the server recovers",
          "[hardening][chat]") {
  SECTION("--max-clients above what ulimit -n allows is refused, saying why") {
    auto argv = under_descriptor_limit(64);
    argv.insert(argv.end(), {DEMO_CHAT, "server", "--max-clients", "1000"});
    const auto r = socklab::test::run_demo(argv);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--max-clients 1000 needs") && Catch::Contains("may open only 64") &&
                          Catch::Contains("ulimit -n"));
  }

  SECTION("the default is capped to what fits, and the server says so; one more is turned away") {
    ChatServerProcess server({}, DEMO_CHAT, under_descriptor_limit(40));
    const auto capped = server.events("max_clients_capped");
    REQUIRE(capped.size() == 1);
    const std::size_t fit = capped[0]["max_clients"].get<std::size_t>();
    CHECK(fit > 0);
    CHECK(fit < 40);
    CHECK(server.events("listening").at(0)["limits"]["max_clients"] == fit);
    std::vector<std::unique_ptr<RawChatClient>> clients;
    for (std::size_t i = 0; i < fit; ++i)
      clients.push_back(std::make_unique<RawChatClient>(server.endpoint(), "c" + std::to_string(i)));
    RawChatClient one_more(server.endpoint());
    const auto frames = one_more.frames_until_closed();
    REQUIRE(frames.size() == 1);
    CHECK(frames[0]["reason"] == "server_full");
    still_served(*clients.back(), "the last one in is served");
    CHECK(server.events("no_descriptors").empty());
  }

#if defined(__SANITIZE_ADDRESS__)
  // UBSan checks a virtual call by writing memory into a pipe; a process with
  // no descriptor left cannot open one, and UBSan reports a false error.
  WARN("out of descriptors at run time: not run under the sanitizers");
#else
  SECTION("out of descriptors (EMFILE) while running: one log line, answers, no spinning, and recovery") {
    ChatServerProcess server({"--max-clients", "100"});
    RawChatClient witness(server.endpoint(), "witness");
    // From now on the server may open nothing more: the soft limit is what it holds.
    rlimit before{};
    REQUIRE(::prlimit(server.pid(), RLIMIT_NOFILE, nullptr, &before) == 0);
    const rlimit tight{lowest_free_descriptor(server.pid()), before.rlim_max};
    REQUIRE(::prlimit(server.pid(), RLIMIT_NOFILE, &tight, nullptr) == 0);
    // (A descriptor freed meanwhile would take a client in: the loop allows for it.)
    std::vector<std::unique_ptr<RawChatClient>> in;
    int refusals = 0;
    for (int i = 0; i < 40 && refusals < 20; ++i) {
      RawChatClient next(server.endpoint());
      next.send_text("n" + std::to_string(i));
      const auto frames = next.frames_until_closed_or([](const json& f) { return f["type"] == "welcome"; });
      REQUIRE_FALSE(frames.empty());  // an answer, never a hang
      if (frames.back()["type"] == "welcome") {
        in.push_back(std::make_unique<RawChatClient>(std::move(next)));
        continue;
      }
      CHECK(frames.back()["reason"] == "server_full");
      CHECK(frames.back()["detail"] == "the server is out of file descriptors");
      ++refusals;
    }
    REQUIRE(refusals == 20);
    still_served(witness, "served while out of descriptors");
    REQUIRE(::prlimit(server.pid(), RLIMIT_NOFILE, &before, nullptr) == 0);
    RawChatClient later(server.endpoint(), "later");
    const auto back = server.wait_for([](const json& e) { return e.value("kind", "") == "descriptors_back"; });
    REQUIRE(back);
    CHECK((*back)["turned_away"] == 20);
    // The log is written from a queue, in order: once the episode's end is in, all of its lines are.
    const auto out_of = server.events("no_descriptors");
    REQUIRE(out_of.size() == 1);  // one line for the whole episode
    CHECK(out_of[0]["errno"] == "EMFILE");
    still_served(later, "a descriptor is free again");
  }
#endif
}

TEST_CASE("a log nobody reads never stops the serving: lines are dropped, counted and reported later",
          "[hardening][chat]") {
  socklab::test::HeldPipesChild server({DEMO_CHAT, "server", "--json", "--max-message", "60000"});
  // Only the first lines are read (up to where the server listens); then nobody reads its stdout.
  const auto listening_line = [](const std::string& out) -> std::optional<json> {
    const auto at = out.find("\"kind\":\"listening\"");
    if (at == std::string::npos || out.find('\n', at) == std::string::npos) return std::nullopt;
    const auto begin = out.rfind('\n', at);
    const auto from = begin == std::string::npos ? 0 : begin + 1;
    return json::parse(out.substr(from, out.find('\n', at) - from));
  };
  REQUIRE(server.read_stdout_until([&](const std::string& out) { return listening_line(out).has_value(); }));
  const auto listening = *listening_line(server.out());
  const auto endpoint = net::value_or_throw(net::Endpoint::parse(listening["endpoint"].get<std::string>()));

  RawChatClient talker(endpoint, "talker");
  // Each message is logged whole: 40 of 50 kB are 2 MB of log, 30 times what a pipe holds.
  const std::string line(50'000, 'x');
  for (int i = 0; i < 40; ++i) {
    const std::string text = line + std::to_string(i);
    talker.send_text(text);
    REQUIRE(talker.frame_where([&](const json& f) { return f["type"] == "message" && f["text"] == text; }));
  }
  RawChatClient newcomer(endpoint, "newcomer");  // welcomed while the log is still blocked
  CHECK(newcomer.name() == "newcomer");

  // Someone reads at last: the lost lines are reported where they were lost, and counted in the summary.
  server.process().signal(SIGTERM);
  REQUIRE(server.read_stdout_until(
      [](const std::string& out) { return out.find("\"kind\":\"summary\"") != std::string::npos; }));
  std::uint64_t reported = 0, messages = 0;
  json summary;
  std::size_t pos = 0;
  for (std::size_t eol; (eol = server.out().find('\n', pos)) != std::string::npos; pos = eol + 1) {
    const auto e = json::parse(server.out().substr(pos, eol - pos));
    if (e["kind"] == "log_dropped") reported += e["lines"].get<std::uint64_t>();
    if (e["kind"] == "message") ++messages;
    if (e["kind"] == "summary") summary = e;
  }
  CHECK(reported > 0);
  CHECK(messages < 40);
  CHECK(summary["log_dropped"] == reported);
  CHECK(summary["messages"] == 40);
  CHECK(server.process().finish().exit_code == 0);
}

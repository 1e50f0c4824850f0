// The chat server against peers that break the rules: each gets a clear
// answer (a "bye" with the reason, or a refusal), and a well-behaved client
// connected all along keeps being served.
#include <catch2/catch.hpp>

#include <sys/socket.h>

#include <array>
#include <chrono>
#include <string>
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
    CHECK(*refused == json{{"type", "refused"}, {"reason", "not_text"}, {"detail", "byte 0xff at byte 0 is not UTF-8"}});
    texty.send_text("bell \x07");
    CHECK(texty.next_frame().value()["detail"] == "control character 0x07 at byte 5");
    texty.send_text("");
    CHECK(texty.next_frame().value()["reason"] == "empty");
    still_served(texty, "texty is still here");
    CHECK(server.wait_for_count("refused", 3));
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

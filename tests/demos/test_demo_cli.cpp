// The common flags: bad usage, help, languages, the notes check.
#include <catch2/catch.hpp>

#include <csignal>
#include <string>
#include <vector>

#include "demo_runner.hpp"
#include "socklab/net.hpp"

using socklab::test::run_demo;

namespace {
const std::vector<std::string> kDemos{DEMO_HANDSHAKE, DEMO_TEARDOWN};

bool has_chinese(const std::string& s) {
  // UTF-8 of U+4E00..U+9FFF starts with 0xE4..0xE9.
  for (unsigned char c : s) {
    if (c >= 0xe4 && c <= 0xe9) return true;
  }
  return false;
}
}  // namespace

TEST_CASE("bad usage exits 2 with a message naming the flag", "[demos][cli]") {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  const std::vector<Case> cases{
      {{DEMO_HANDSHAKE, "--bogus"}, "--bogus"},
      {{DEMO_HANDSHAKE, "--lang", "fr"}, "--lang"},
      {{DEMO_HANDSHAKE, "--color", "sometimes"}, "--color"},
      {{DEMO_HANDSHAKE, "--role", "teacher"}, "--role"},
      {{DEMO_HANDSHAKE, "--port", "70000"}, "--port"},
      {{DEMO_HANDSHAKE, "--port", "http"}, "--port"},
      {{DEMO_HANDSHAKE, "--role", "client"}, "--role client needs --port"},
      {{DEMO_HANDSHAKE, "--role", "client", "--port", "5000", "--listen", "0.0.0.0"}, "--listen is for the server"},
      {{DEMO_HANDSHAKE, "--role", "server", "--host", "10.0.0.1"}, "--host is for the client"},
      {{DEMO_HANDSHAKE, "--host", "no such host.invalid"}, "--host"},
      {{DEMO_HANDSHAKE, "--role", "server", "--refused"}, "--refused has no server"},
      {{DEMO_TEARDOWN, "--merged", "--abort"}, "at most 1"},
  };
  for (const auto& c : cases) {
    INFO(c.args.back());
    const auto r = run_demo(c.args);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(c.says));
    CHECK_THAT(r.err, Catch::Contains("--help"));
    CHECK(r.out.empty());
  }
}

TEST_CASE("--help exits 0 and lists the common flags and exit codes", "[demos][cli]") {
  for (const auto& demo : kDemos) {
    const auto r = run_demo({demo, "--help"});
    CHECK(r.exit_code == 0);
    for (const char* flag : {"--capture", "--pcap", "--json", "--lang", "--role", "--listen", "--ascii", "--color",
                             "--no-lesson", "-6", "Exit codes"}) {
      CHECK_THAT(r.out, Catch::Contains(flag));
    }
  }
}

TEST_CASE("every note the code uses exists in both languages, and no other", "[demos][cli][lesson]") {
  for (const auto& demo : kDemos) {
    const auto r = run_demo({demo, "--check-notes"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK_THAT(r.out, Catch::Contains("notes ok"));
  }
}

TEST_CASE("the language comes from --lang, else LC_ALL, LC_MESSAGES, LANG", "[demos][cli]") {
  const std::vector<std::string> args{DEMO_HANDSHAKE, "--no-lesson"};
  auto with = [&](std::map<std::string, std::string> env, std::vector<std::string> extra = {}) {
    auto a = args;
    a.insert(a.end(), extra.begin(), extra.end());
    env.emplace("NO_COLOR", "");
    return run_demo(a, env);
  };
  const auto english = with({{"LANG", "C.UTF-8"}, {"LC_ALL", ""}, {"LC_MESSAGES", ""}});
  REQUIRE(english.exit_code == 0);
  CHECK_FALSE(has_chinese(english.out));
  CHECK_THAT(english.out, Catch::Contains("What happened"));

  const auto by_flag = with({{"LANG", "C.UTF-8"}, {"LC_ALL", ""}, {"LC_MESSAGES", ""}}, {"--lang", "zh"});
  REQUIRE(by_flag.exit_code == 0);
  CHECK(has_chinese(by_flag.out));
  CHECK_THAT(by_flag.out, Catch::Contains("发生了什么"));

  CHECK(has_chinese(with({{"LANG", "zh_CN.UTF-8"}, {"LC_ALL", ""}, {"LC_MESSAGES", ""}}).out));
  CHECK(has_chinese(with({{"LANG", "en_US.UTF-8"}, {"LC_ALL", "zh_TW.UTF-8"}, {"LC_MESSAGES", ""}}).out));
  CHECK(has_chinese(with({{"LANG", "en_US.UTF-8"}, {"LC_ALL", ""}, {"LC_MESSAGES", "zh_CN.UTF-8"}}).out));
  CHECK_FALSE(has_chinese(with({{"LANG", "zh_CN.UTF-8"}, {"LC_ALL", ""}, {"LC_MESSAGES", ""}}, {"--lang", "en"}).out));
}

TEST_CASE("a port in use gets a clear message with the remedy", "[demos][cli]") {
  auto busy = socklab::net::value_or_throw(socklab::net::TcpListener::bind(socklab::net::Endpoint::loopback_v4(0)));
  const std::string port = std::to_string(busy.endpoint().port());
  for (const auto& demo : kDemos) {
    const auto r = run_demo({demo, "--port", port});
    CHECK(r.exit_code == 1);
    CHECK_THAT(r.err, Catch::Contains("Port " + port + " is already in use") && Catch::Contains("--port"));
  }
  const auto zh = run_demo({DEMO_TEARDOWN, "--port", port, "--lang", "zh"});
  CHECK(zh.exit_code == 1);
  CHECK_THAT(zh.err, Catch::Contains("端口 " + port + " 已被占用"));
}

#if !SOCKLAB_HAVE_PCAP
TEST_CASE("a build without libpcap: --capture says so plainly and exits 4", "[demos][cli][nopcap]") {
  for (const auto& demo : kDemos) {
    INFO(demo);
    const auto r = run_demo({demo, "--capture", "--json"});
    CHECK(r.exit_code == 4);
    CHECK_THAT(r.err, Catch::Contains("no capture support") && Catch::Contains("without libpcap"));
    // The lesson still ran, without the wire.
    const auto lines = r.json();
    const auto capture = socklab::test::of_kind(lines, "capture");
    REQUIRE(capture.size() == 1);
    CHECK(capture[0].at("enabled") == false);
    CHECK(capture[0].at("not_permitted") == true);
    CHECK_FALSE(socklab::test::of_kind(lines, "call").empty());
  }
  // The chat server too: it serves, says why there is no wire, and exits 4 when stopped.
  auto server = socklab::test::start_demo({DEMO_CHAT, "server", "--capture", "--json"});
  // The log wraps to 80 columns, with continuation lines indented: compare the words.
  std::string said;
  for (char c : server.wait_for_stderr("no capture support")) {
    const bool space = c == ' ' || c == '\n';
    if (!space || (!said.empty() && said.back() != ' ')) said += space ? ' ' : c;
  }
  CHECK_THAT(said, Catch::Contains("without libpcap"));
  server.signal(SIGTERM);
  const auto r = server.finish();
  INFO(r.err);
  CHECK(r.exit_code == 4);
}
#endif

TEST_CASE("an address this machine does not have is explained", "[demos][cli]") {
  const auto r = run_demo({DEMO_HANDSHAKE, "--listen", "192.0.2.1"});  // TEST-NET-1: never local
  CHECK(r.exit_code == 1);
  CHECK_THAT(r.err, Catch::Contains("192.0.2.1") && Catch::Contains("0.0.0.0"));
}

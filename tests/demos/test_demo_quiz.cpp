// --quiz (demos/common/quiz.cpp): the questions of the lesson Markdown, answers
// from --answers, each graded against the value this very run observed (its own
// verdicts and facts in the same --json output), never against a fixed answer.
#include <catch2/catch.hpp>

#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "demo_checks.hpp"
#include "lesson.hpp"
#include "quiz.hpp"

using socklab::demo::Lesson;
using socklab::test::check_grade;
using socklab::test::fact_value;
using socklab::test::of_kind;
using socklab::test::run_demo;
using socklab::test::verdicts;
using nlohmann::json;
using Strings = std::vector<std::string>;

namespace {

// The quiz objects by question id.
std::map<std::string, json> quiz_of(const std::vector<json>& lines) {
  std::map<std::string, json> out;
  for (const auto& q : of_kind(lines, "quiz")) out[q.at("id").get<std::string>()] = q;
  return out;
}

}  // namespace

TEST_CASE("quiz: each answer graded against the run's own verdicts and facts", "[demos][quiz]") {
  SECTION("demo-handshake: without capture, the two questions the calls answer") {
    // 1000 connections in the accept queue: wrong in any run.
    const auto r = run_demo({DEMO_HANDSHAKE, "--json", "--answers", "SYN_SENT,1000"});
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    const auto q = quiz_of(lines);
    REQUIRE(q.size() == 2);  // "segments" needs the wire: not asked without --capture
    auto v = verdicts(lines);
    check_grade(q.at("client_state"), v.at("client_state_after_connect").at("observed"));
    check_grade(q.at("queued"), v.at("accept_queue").at("observed").at("before_accept"));
    CHECK(q.at("queued").at("ok") == false);
    CHECK(q.at("queued").at("answer") == 1000);
  }
  SECTION("demo-udp --loss: how many of 20 datagrams arrive, as this run counted them") {
    const auto r = run_demo({DEMO_UDP, "--loss", "--json", "--answers", "20,20000"});
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    const auto q = quiz_of(lines);
    REQUIRE(q.size() == 2);
    check_grade(q.at("arrived"), fact_value(lines, "arrived").size());
    check_grade(q.at("tcp_bytes"), verdicts(lines).at("tcp_whole").at("observed"));
  }
  SECTION("demo-sticky: recv() calls that returned data, from the three layers") {
    const auto r = run_demo({DEMO_STICKY, "--json", "--answers", "3"});
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    check_grade(quiz_of(lines).at("recv_calls"), fact_value(lines, "three_layers").at("recv").size());
  }
  SECTION("demo-backlog --backlog 1: the default variant's questions, graded by this backlog") {
    const auto r = run_demo({DEMO_BACKLOG, "--backlog", "1", "--clients", "3", "--json", "--answers", "3,0,3"});
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    const auto q = quiz_of(lines);
    auto v = verdicts(lines);
    check_grade(q.at("completed"), v.at("completed_before_accept").at("observed"));
    check_grade(q.at("syn_sent"), v.at("left_in_syn_sent").at("observed"));
    check_grade(q.at("all_in"), v.at("all_accepted").at("observed"));
  }
  SECTION("demo-unix: a yes/no question read from two measured figures") {
    const auto r = run_demo({DEMO_UNIX, "--json", "--answers", "no"});
    REQUIRE(r.exit_code == 0);
    const auto lines = r.json();
    const auto t = fact_value(lines, "throughput_mb_s");
    check_grade(quiz_of(lines).at("faster"), t.at("af_unix").get<double>() > t.at("af_inet").get<double>() ? "yes" : "no");
  }
}

TEST_CASE("quiz: the text report and Chinese", "[demos][quiz]") {
  const auto r = run_demo({DEMO_TEARDOWN, "--no-lesson", "--ascii", "--answers", "CLOSE_WAIT,CLOSED"});
  REQUIRE(r.exit_code == 0);
  CHECK_THAT(r.out, Catch::Contains("Your predictions against this run"));
  CHECK_THAT(r.out, Catch::Contains("You said CLOSED; this run observed"));
  CHECK_THAT(r.out, Catch::Contains("graded predictions matched this run."));

  const auto zh = run_demo({DEMO_UDP, "--lang", "zh", "--no-lesson", "--answers", "3"});
  REQUIRE(zh.exit_code == 0);
  CHECK_THAT(zh.out, Catch::Contains("你的预测与这次运行的对照"));
  CHECK_THAT(zh.out, Catch::Contains("你的回答：3"));  // the rest of the line may wrap
  CHECK_THAT(zh.out, Catch::Contains("评判的 1 个预测中有 1 个与这次运行相符。"));
  const auto yes = run_demo({DEMO_UNIX, "--lang", "zh", "--no-lesson", "--answers", "是"});
  REQUIRE(yes.exit_code == 0);
  CHECK_THAT(yes.out, Catch::Contains("你的回答：是"));
}

TEST_CASE("quiz: bad answers and a missing terminal are usage errors that name the input", "[demos][quiz]") {
  struct Case {
    Strings args;
    std::string message;
  };
  const std::vector<Case> cases{
      {{DEMO_UDP, "--quiz"}, "stdin is not one: give the answers with --answers, in order (for example --answers 3)"},
      {{DEMO_UDP, "--answers", "3,4"}, "--answers gives 2 answers, but the quiz asks 1 question in this run (recvfroms)"},
      {{DEMO_UDP, "--answers", "three"}, "--answers: \"three\" does not answer question 1 (recvfroms): give a whole number"},
      {{DEMO_HANDSHAKE, "--answers", "LISTEN,1"}, "give one of: SYN_SENT / ESTABLISHED"},
      {{DEMO_UDP, "--truncate", "--quiz"}, "demo-udp --truncate has no quiz questions; the lesson has some for: demo-udp, demo-udp --loss"},
      {{DEMO_HANDSHAKE, "--refused", "--quiz"}, "demo-handshake --refused has no quiz questions"},
  };
  for (const auto& c : cases) {
    const auto r = run_demo(c.args);
    INFO(c.args.back() << ": " << r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains(c.message));
    CHECK(r.out.empty());  // nothing ran
  }
  const auto zh = run_demo({DEMO_UDP, "--lang", "zh", "--quiz"});
  CHECK(zh.exit_code == 2);
  CHECK_THAT(zh.err, Catch::Contains("标准输入不是终端"));
}

TEST_CASE("quiz: on a terminal the questions are asked, a wrong form asked again", "[demos][quiz]") {
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::setenv("LANG", "C.UTF-8", 1);
    ::unsetenv("LC_ALL");
    ::execl(DEMO_UDP, DEMO_UDP, "--quiz", "--json", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  // Answers typed ahead: the terminal holds them until the program reads.
  const std::string typed = "three\n3\n";
  REQUIRE(::write(master, typed.data(), typed.size()) == static_cast<ssize_t>(typed.size()));
  std::string seen;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the program has exited and closed the terminal
    seen.append(buf, static_cast<std::size_t>(n));
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ::close(master);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK_THAT(seen, Catch::Contains("1. The client calls sendto() three times."));
  CHECK_THAT(seen, Catch::Contains("That does not answer the question: give a whole number."));
  CHECK_THAT(seen, Catch::Contains(R"("answer":3,"id":"recvfroms","kind":"quiz","observed":3,"ok":true)"));
}

TEST_CASE("quiz: the Markdown format's errors name the file and line", "[demos][quiz]") {
  auto parse = [](std::string_view quiz) {
    auto l = Lesson::parse("en/x.md", std::string("# T\n\ngoal\n\n## Quiz\n\nSome prose.\n\n") + std::string(quiz));
    REQUIRE(l);
    return socklab::demo::quiz::parse(*l);
  };
  auto ok = parse("- a [default --x; choice yes=是 no=否; capture; fact f value.y gt:p,q]: Is it?\n  More text.\n");
  REQUIRE(ok);
  REQUIRE(ok->size() == 1);
  CHECK(ok->front().text == "Is it? More text.");
  CHECK(ok->front().keeps == Strings{"--x"});
  CHECK(ok->front().choices[0].label == "是");
  CHECK(ok->front().spec == "default --x; choice yes no; capture; fact f value.y gt:p,q");
  CHECK_THAT(parse("- a: no bracket\n").error(), Catch::Contains("en/x.md:9: a question reads"));
  CHECK_THAT(parse("- a [default; number]: x\n").error(), Catch::Contains("no source"));
  CHECK_THAT(parse("- a [default; number; fact f observed]: x\n").error(), Catch::Contains("has no field \"observed\""));
  CHECK_THAT(parse("- a [default; number; verdict v observed sum]: x\n").error(), Catch::Contains("count or gt:a,b"));
  CHECK_THAT(parse("- a [loss; number; verdict v observed]: x\n").error(), Catch::Contains("says when"));
  CHECK_THAT(parse("- a [default; number; verdict v observed]: x\n- a [default; number; verdict w observed]: y\n").error(),
             Catch::Contains("appears twice"));
}

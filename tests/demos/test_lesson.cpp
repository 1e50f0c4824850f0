// The lesson text convention: title, goal, the Notes section, placeholders.
#include <catch2/catch.hpp>

#include <array>
#include <iterator>
#include <set>
#include <stdexcept>
#include <string>

#include "error_text.hpp"
#include "help_text.hpp"
#include "lesson.hpp"
#include "stage.hpp"
#include "note_key.hpp"
#include "render.hpp"
#include "socklab/cli/help_format.hpp"
#include "socklab_lessons.hpp"

using socklab::demo::Lang;
using socklab::demo::Lesson;

namespace {

constexpr std::array<std::string_view, 3> kTestKeys{"greeting", "two_lines", "absent"};
using TestNote = socklab::demo::Key<kTestKeys>;

constexpr std::string_view kGood = R"(# Lesson 9: A test

This is the goal,
written on two lines.

## Run it

```sh
- not: a note, inside code
```

## Notes

<!-- a comment
     on two lines -->
- greeting: Hello, {name}! Port {port}, `code` and **bold**.
- two_lines: The first half
  and the second half.
- braces: Literal {{braces}}.
)";

}  // namespace

TEST_CASE("a lesson gives its title, goal and notes", "[lesson]") {
  auto l = Lesson::parse("en/test.md", kGood);
  REQUIRE(l);
  CHECK(l->title() == "Lesson 9: A test");
  CHECK(l->goal() == "This is the goal, written on two lines.");
  CHECK(l->keys() == std::vector<std::string>{"braces", "greeting", "two_lines"});
  CHECK(l->note(TestNote{"greeting"}, {{"name", "Ada"}, {"port", "8080"}}) == "Hello, Ada! Port 8080, code and bold.");
  CHECK(l->note(TestNote{"two_lines"}) == "The first half and the second half.");
  CHECK(l->note("braces") == "Literal {braces}.");
  CHECK_FALSE(l->has("not"));
}

TEST_CASE("Chinese lines join without a space", "[lesson]") {
  auto l = Lesson::parse("zh/test.md", "# 标题\n\n第一行\n第二行。\n\n## 提示语（Notes）\n\n- a: 一\n  二\n");
  REQUIRE(l);
  CHECK(l->goal() == "第一行第二行。");
  CHECK(l->note("a") == "一二");
}

TEST_CASE("a missing note or value is an error, never a blank", "[lesson]") {
  auto l = Lesson::parse("en/test.md", kGood);
  REQUIRE(l);
  CHECK_THROWS_WITH(l->note(TestNote{"absent"}), Catch::Contains("no note \"absent\"") && Catch::Contains("en/test.md"));
  CHECK_THROWS_WITH(l->note(TestNote{"greeting"}, {{"name", "Ada"}}), Catch::Contains("no value for {port}"));
  CHECK_THROWS_AS(socklab::demo::fill("open {brace", {}, "test"), std::logic_error);
}

TEST_CASE("a malformed lesson names the file and line", "[lesson]") {
  CHECK(Lesson::parse("en/x.md", "no title\n").error() == "lessons/en/x.md:1: the lesson must start with a \"# Title\" line");
  CHECK_THAT(Lesson::parse("en/x.md", "# T\n\ngoal\n\n## Notes\n- Bad Key: x\n").error(),
             Catch::Contains("en/x.md:6") && Catch::Contains("\"Bad Key\""));
  CHECK_THAT(Lesson::parse("en/x.md", "# T\n\ngoal\n\n## Notes\n- a: x\n- a: y\n").error(),
             Catch::Contains("appears twice"));
  CHECK_THAT(Lesson::parse("en/x.md", "# T\n\ngoal\n\n## Notes\nfree text\n").error(),
             Catch::Contains("en/x.md:6") && Catch::Contains("- key: text"));
  CHECK_THAT(Lesson::parse("en/x.md", "# T\n\ngoal\n\n## Notes\n- a:\n").error(), Catch::Contains("has no text"));
  CHECK_THAT(Lesson::parse("en/x.md", "# T\n\n```\ncode\n").error(), Catch::Contains("not closed"));
  CHECK_THAT(Lesson::parse("en/x.md", "# T\n").error(), Catch::Contains("no goal"));
}

TEST_CASE("every embedded lesson parses, in every language", "[lesson]") {
  int parsed = 0;
  for (const auto& file : socklab::lessons::all()) {
    INFO(file.path);
    auto l = Lesson::parse(file.path, file.text);
    CHECK(l.has_value());
    if (l) {
      CHECK_FALSE(l->title().empty());
      CHECK_FALSE(l->keys().empty());
      ++parsed;
    }
  }
  // Each lesson exists in both languages.
  for (const auto& file : socklab::lessons::all()) {
    std::string other(file.path);
    other.replace(0, 2, other.starts_with("en") ? "zh" : "en");
    INFO(file.path);
    CHECK(socklab::lessons::find(other).has_value());
  }
  CHECK(parsed >= 6);  // common, handshake, teardown in en and zh
}

TEST_CASE("report helpers", "[lesson]") {
  using socklab::demo::duration_text;
  using socklab::demo::flags_text;
  using socklab::demo::render_value;
  CHECK(render_value(nlohmann::json::array({"S", "S.", "."})) == "S S. .");
  CHECK(render_value(nullptr) == "-");
  CHECK(render_value(42) == "42");
  CHECK(flags_text(nlohmann::json::array({"F.", "."})) == "[F.] [.]");
  CHECK(flags_text(nlohmann::json::array()) == "-");
  CHECK(duration_text(12'400) == "12 µs");
  CHECK(duration_text(41'230'000) == "41.2 ms");
  CHECK(duration_text(1'500'000'000) == "1.50 s");
  CHECK(socklab::demo::errno_name(ECONNREFUSED) == "ECONNREFUSED");
}

TEST_CASE("lib's errors in the lesson's language: strerror() is English whatever --lang says", "[lesson]") {
  using socklab::demo::error_text;
  using socklab::demo::Lang;
  namespace net = socklab::net;
  const auto en = socklab::demo::Lesson::load("common", Lang::en);
  const auto zh = socklab::demo::Lesson::load("common", Lang::zh);
  REQUIRE(en);
  REQUIRE(zh);
  const auto refused = net::system_error(ECONNREFUSED, "connect 127.0.0.1:1");
  CHECK(error_text(refused, *en, Lang::en) == "connect 127.0.0.1:1: Connection refused (ECONNREFUSED)");
  CHECK(error_text(refused, *zh, Lang::zh) == "connect 127.0.0.1:1：连接被拒绝（ECONNREFUSED）");
  CHECK(error_text(net::system_error(EPIPE, "send"), *zh, Lang::zh).starts_with("send：管道已断开（EPIPE"));
  // An errno no note names: glibc's words in English, its name in Chinese.
  CHECK(error_text(net::system_error(EXDEV, "rename"), *en, Lang::en) == "rename: Invalid cross-device link");
  CHECK(error_text(net::system_error(EXDEV, "rename"), *zh, Lang::zh) == "出错（EXDEV）");
  // lib's own conditions: its English detail in English; in Chinese the condition, and no English context.
  const auto late = net::make_error(net::errc::timed_out, "wait for 16 bytes", "no 16 bytes within 10 ms");
  CHECK(error_text(late, *en, Lang::en) == "wait for 16 bytes: no 16 bytes within 10 ms");
  CHECK(error_text(late, *zh, Lang::zh) == "超时");

  // A lesson's failure (failure_text): the lib error a DemoFailure carries, or its note.
  using socklab::demo::failure_text;
  const auto reset = net::system_error(ECONNRESET, "recv 127.0.0.1:5000");
  // must() keeps the error; what() stays lib's English message.
  const socklab::demo::DemoFailure from_must(reset);
  CHECK(std::string(from_must.what()) == reset.message());
  CHECK(failure_text(from_must, *zh, Lang::zh) == "recv 127.0.0.1:5000：连接被对方重置（ECONNRESET）");
  CHECK(failure_text(from_must, *en, Lang::en) == "recv 127.0.0.1:5000: Connection reset by peer (ECONNRESET)");
  // A lab's LabError (net::NetException) the same way.
  CHECK(failure_text(net::NetException(reset), *zh, Lang::zh) == "recv 127.0.0.1:5000：连接被对方重置（ECONNRESET）");
  // A note of the lesson's is in its language already.
  CHECK(failure_text(socklab::demo::DemoFailure("B 没有确认这条消息。"), *zh, Lang::zh) == "B 没有确认这条消息。");
}

TEST_CASE("--help in another language comes from help notes, which --check-notes matches to the flags", "[lesson]") {
  using socklab::demo::check_help_notes;
  CLI::App app{"demo-x: English", "demo-x"};
  socklab::cli::use_wrapping_help(app);  // as every demo's: it translates CLI11's own phrases
  bool merged = false, half_close = false, quiz = false;
  app.add_flag("--merged", merged, "The server closes at once");
  app.add_option_group("Variants", "Pick at most one")->add_flag("--half-close", half_close, "Half a close");
  app.add_flag("--quiz", quiz, "Predict, then reveal")->group("Output");
  const std::set<std::string> common_options{"--help", "--quiz"};
  const auto lesson = [](std::string_view notes) {
    return *Lesson::parse("zh/x.md", "# 第 9 课：测试\n\n目标。\n\n## Notes\n\n" + std::string(notes));
  };
  const auto zh = lesson("- help.merged: 服务器立刻关闭\n- help.half_close: 半关闭\n");
  const auto zh_common = *socklab::demo::Lesson::load("common", Lang::zh);
  socklab::demo::localize_help(app, zh, zh_common, common_options, "demo-x");
  const std::string help = app.help();
  for (const std::string_view text : {"demo-x：第 9 课：测试", "服务器立刻关闭", "半关闭", "打印这份帮助并退出", "[选项组：变体]",
                                      "先预测，再揭晓", "输出:"}) {
    INFO(help);
    CHECK(help.find(text) != std::string::npos);
  }
  std::vector<std::string> problems;
  check_help_notes(app, zh, Lang::zh, false, common_options, problems);
  CHECK(problems.empty());
  // A flag without its help, a help note without its flag, help in an English lesson file.
  check_help_notes(app, lesson("- help.merged: 服务器立刻关闭\n- help.abort: 中止\n"), Lang::zh, false, common_options, problems);
  check_help_notes(app, lesson("- help.merged: The server closes\n"), Lang::en, false, common_options, problems);
  REQUIRE(problems.size() == 3);
  CHECK_THAT(problems[0], Catch::Contains("\"help.half_close\" is missing"));
  CHECK_THAT(problems[1], Catch::Contains("\"help.abort\""));
  CHECK_THAT(problems[2], Catch::Contains("English help is written beside the flag"));
}

// Terminal text: display width, wrapping, cutting, and the colour decision.
#include <catch2/catch.hpp>

#include <clocale>
#include <cstdlib>
#include <cwchar>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "socklab/capture/terminal.hpp"

using namespace socklab::capture;

namespace {

// Sets an environment variable for one scope, restoring it after.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value != nullptr)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// glibc's opinion of a UTF-8 string's width, in the C.UTF-8 locale.
int glibc_width(const std::string& text) {
  const char* previous = std::setlocale(LC_CTYPE, nullptr);
  const std::string saved = previous ? previous : "C";
  REQUIRE(std::setlocale(LC_CTYPE, "C.UTF-8") != nullptr);
  std::wstring wide(text.size() + 1, L'\0');
  const std::size_t n = std::mbstowcs(wide.data(), text.c_str(), wide.size());
  REQUIRE(n != static_cast<std::size_t>(-1));
  const int w = ::wcswidth(wide.c_str(), n);
  std::setlocale(LC_CTYPE, saved.c_str());
  return w;
}

}  // namespace

TEST_CASE("display width counts Chinese characters as two columns", "[terminal]") {
  CHECK(display_width("hello") == 5);
  CHECK(display_width("握手") == 4);
  CHECK(display_width("三次握手：SYN") == 13);
  CHECK(display_width("│──▶") == 4);
  CHECK(display_width("e\xcc\x81") == 1);  // e + combining acute accent
  CHECK(display_width("\xff\xfe") == 2);   // invalid bytes: one column each, never a crash
  CHECK(display_width("\xe4\xb8") == 2);   // a character cut in the middle
}

TEST_CASE("display width agrees with glibc on the lessons' Chinese text", "[terminal]") {
  std::vector<std::string> samples = {
      "客户端发起连接：发送 SYN，携带它的初始序号，然后等待服务器的回应。",
      "四次挥手常常只有三个报文段：服务器立即关闭时，第二步和第三步合并。",
      "「粘包」不是 TCP 的错误（TCP 是字节流）；用长度头 struct.pack('!I', n) 划分消息。",
      "ＡＢＣ１２３，全角字符；半角ｶﾀｶﾅ",
  };
  const std::filesystem::path zh = std::filesystem::path(SOCKLAB_SOURCE_DIR) / "lessons" / "zh";
  if (std::filesystem::exists(zh)) {
    for (const auto& file : std::filesystem::directory_iterator(zh)) {
      std::ifstream in(file.path());
      for (std::string line; std::getline(in, line);) samples.push_back(line);
    }
  }
  for (const auto& s : samples) {
    const int expected = glibc_width(s);
    if (expected < 0) continue;  // control characters: glibc has no width for them
    INFO(s);
    CHECK(display_width(s) == static_cast<std::size_t>(expected));
  }
}

TEST_CASE("wrap breaks at spaces and between Chinese characters", "[terminal]") {
  CHECK(wrap("the quick brown fox jumps", 10) == std::vector<std::string>{"the quick", "brown fox", "jumps"});
  CHECK(wrap("", 10) == std::vector<std::string>{""});
  CHECK(wrap("abcdefghijkl", 5) == std::vector<std::string>{"abcde", "fghij", "kl"});
  // Chinese wraps anywhere between characters, but a closing mark stays with
  // the character before it, and "SYN" stays whole.
  CHECK(wrap("客户端发起连接：发送 SYN", 8) == std::vector<std::string>{"客户端发", "起连接：", "发送 SYN"});
  CHECK(wrap("握手，完成。", 4) == std::vector<std::string>{"握", "手，", "完", "成。"});
  for (const auto& line : wrap("TCP 是字节流：应用程序写入的消息边界在线路上并不存在。", 9))
    CHECK(display_width(line) <= 9);
}

TEST_CASE("fit cuts to the width with an ellipsis", "[terminal]") {
  CHECK(fit("hello", 5) == "hello");
  CHECK(fit("hello world", 8) == "hello w…");
  CHECK(fit("hello world", 8, false) == "hello w~");
  CHECK(fit("三次握手", 5) == "三次…");
  CHECK(display_width(fit("三次握手", 6)) <= 6);
  CHECK(fit("abc", 0).empty());
}

TEST_CASE("padding uses display width", "[terminal]") {
  CHECK(pad_right("握手", 6) == "握手  ");
  CHECK(pad_left("ab", 4) == "  ab");
  CHECK(pad_left("abcdef", 4) == "abcdef");
}

TEST_CASE("colour: NO_COLOR wins, always and never are obeyed, auto needs a terminal", "[terminal]") {
  int fds[2];
  REQUIRE(::pipe(fds) == 0);  // a pipe is not a terminal
  {
    ScopedEnv no_color("NO_COLOR", nullptr);
    CHECK(use_color(ColorMode::always, fds[1]));
    CHECK_FALSE(use_color(ColorMode::never, fds[1]));
    CHECK_FALSE(use_color(ColorMode::auto_detect, fds[1]));
  }
  {
    ScopedEnv no_color("NO_COLOR", "1");
    CHECK_FALSE(use_color(ColorMode::always, fds[1]));
    CHECK_FALSE(use_color(ColorMode::auto_detect, fds[1]));
  }
  {
    ScopedEnv no_color("NO_COLOR", "");  // empty counts as unset (no-color.org)
    CHECK(use_color(ColorMode::always, fds[1]));
  }
  ::close(fds[0]);
  ::close(fds[1]);
  CHECK(parse_color_mode("auto") == ColorMode::auto_detect);
  CHECK(parse_color_mode("always") == ColorMode::always);
  CHECK(parse_color_mode("never") == ColorMode::never);
  CHECK_FALSE(parse_color_mode("sometimes"));
}

TEST_CASE("the locale decides between box drawing and ASCII", "[terminal]") {
  ScopedEnv lc_all("LC_ALL", nullptr);
  ScopedEnv lc_ctype("LC_CTYPE", nullptr);
  {
    ScopedEnv lang("LANG", "zh_CN.UTF-8");
    CHECK(locale_is_utf8());
  }
  {
    ScopedEnv lang("LANG", "C");
    CHECK_FALSE(locale_is_utf8());
  }
  {
    ScopedEnv lang("LANG", "en_US.UTF-8");
    ScopedEnv all("LC_ALL", "POSIX");  // LC_ALL overrides LANG
    CHECK_FALSE(locale_is_utf8());
  }
  {
    ScopedEnv lang("LANG", nullptr);
    CHECK_FALSE(locale_is_utf8());
  }
}

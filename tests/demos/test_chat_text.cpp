// demo-chat relays text only: one check per class of code point that could
// take over a terminal or reorder what others read (chat_text.hpp).
#include <catch2/catch.hpp>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "chat_text.hpp"

using socklab::demo::chat::TextProblem;
using socklab::demo::chat::TextProblemKind;
using socklab::demo::chat::text_problem;

namespace {

std::optional<TextProblem> problem_of(std::string_view text) {
  return text_problem(std::as_bytes(std::span(text.data(), text.size())));
}

// UTF-8 of one code point.
std::string utf8(char32_t cp) {
  std::string out;
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
  return out;
}

void check_refused(char32_t cp, TextProblemKind kind, std::string_view code) {
  INFO("U+" << std::hex << static_cast<unsigned>(cp));
  const auto p = problem_of("ab" + utf8(cp) + "cd");
  REQUIRE(p);
  CHECK(p->kind == kind);
  CHECK(p->at == 2);
  CHECK(p->code() == code);
}

}  // namespace

TEST_CASE("chat text: ordinary text, Chinese, emoji and tabs pass", "[demos][chat]") {
  CHECK_FALSE(problem_of("hello\tworld"));
  CHECK_FALSE(problem_of("你好，世界"));
  CHECK_FALSE(problem_of(utf8(0x1f600)));             // an emoji
  CHECK_FALSE(problem_of(utf8(0xa0) + utf8(0x200e)));  // no-break space, left-to-right mark
  CHECK_FALSE(problem_of(utf8(0xfffd)));              // the replacement character
  CHECK_FALSE(problem_of(utf8(0x10fffd)));            // the last assigned private-use point
}

TEST_CASE("chat text: C0 controls and DEL are refused", "[demos][chat]") {
  const std::pair<char32_t, std::string_view> controls[] = {
      {0x00, "0x00"}, {0x07, "0x07"}, {0x0a, "0x0a"}, {0x0d, "0x0d"}, {0x1b, "0x1b"}, {0x1f, "0x1f"}, {0x7f, "0x7f"}};
  for (const auto& [cp, code] : controls) check_refused(cp, TextProblemKind::control, code);
}

TEST_CASE("chat text: C1 controls (8-bit CSI U+009B, NEL U+0085, ...) are refused", "[demos][chat]") {
  check_refused(0x80, TextProblemKind::c1_control, "U+0080");
  check_refused(0x85, TextProblemKind::c1_control, "U+0085");
  check_refused(0x9b, TextProblemKind::c1_control, "U+009B");
  check_refused(0x9f, TextProblemKind::c1_control, "U+009F");
  CHECK_FALSE(problem_of(utf8(0xa0)));  // the first code point after them is text
}

TEST_CASE("chat text: bidi embeddings, overrides and isolates are refused", "[demos][chat]") {
  const std::pair<char32_t, std::string_view> overrides[] = {
      {0x202a, "U+202A"}, {0x202b, "U+202B"}, {0x202c, "U+202C"}, {0x202d, "U+202D"}, {0x202e, "U+202E"}};
  for (const auto& [cp, code] : overrides) check_refused(cp, TextProblemKind::bidi, code);
  check_refused(0x2066, TextProblemKind::bidi, "U+2066");
  check_refused(0x2069, TextProblemKind::bidi, "U+2069");
  CHECK_FALSE(problem_of(utf8(0x2029) + utf8(0x202f) + utf8(0x2065) + utf8(0x206a)));  // the neighbours
}

TEST_CASE("chat text: noncharacters (U+FFFE, U+FFFF, U+FDD0..U+FDEF, each plane's last two)", "[demos][chat]") {
  check_refused(0xfffe, TextProblemKind::noncharacter, "U+FFFE");
  check_refused(0xffff, TextProblemKind::noncharacter, "U+FFFF");
  check_refused(0xfdd0, TextProblemKind::noncharacter, "U+FDD0");
  check_refused(0xfdef, TextProblemKind::noncharacter, "U+FDEF");
  check_refused(0x1fffe, TextProblemKind::noncharacter, "U+1FFFE");
  check_refused(0x10ffff, TextProblemKind::noncharacter, "U+10FFFF");
  CHECK_FALSE(problem_of(utf8(0xfdcf) + utf8(0xfdf0) + utf8(0xfffd)));
}

TEST_CASE("chat text: bytes that are not UTF-8, cut, overlong or surrogates", "[demos][chat]") {
  auto p = problem_of("ok\xff");
  REQUIRE(p);
  CHECK(p->kind == TextProblemKind::not_utf8);
  CHECK(p->code() == "0xff");
  CHECK(p->at == 2);
  p = problem_of("\xe4\xbd");  // the first two bytes of 你
  REQUIRE(p);
  CHECK(p->kind == TextProblemKind::cut);
  p = problem_of("\xc0\xaf");  // an overlong '/'
  REQUIRE(p);
  CHECK(p->kind == TextProblemKind::invalid);
  p = problem_of("\xed\xa0\x80");  // U+D800, a surrogate
  REQUIRE(p);
  CHECK(p->kind == TextProblemKind::invalid);
}

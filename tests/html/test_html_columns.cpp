// The HTML timeline's columns and words, from the markup render_html writes (no
// browser: test_html opens the same pages in Chromium). A lab lesson's page has
// one column per participant as the terminal ladder does; a two-participant
// lesson keeps client and server; a Chinese run's page says its marks in the
// words of the Chinese ladder.
#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <regex>
#include <string>
#include <vector>

#include "lab_page.hpp"
#include "page_text.hpp"
#include "common_notes.hpp"
#include "lesson.hpp"
#include "report.hpp"

using namespace socklab::capture;
namespace fx = socklab::test::ladder;
using socklab::test::html::count;
using socklab::test::html::details;
using socklab::test::html::lab_page;

namespace {

// The row of frame n, or of the first call named `call` (its markup up to the next row).
std::string row_of(const std::string& html, const std::string& marker) {
  const auto at = html.find(marker);
  REQUIRE(at != std::string::npos);
  const auto start = html.rfind("<div class=\"row ", at);
  return html.substr(start, html.find("</div>\n", at) - start);
}

struct Shaft {
  double x1, x2;
};
std::vector<Shaft> shafts(const std::string& row) {
  std::vector<Shaft> out;
  const std::regex re(R"re(<line class="shaft" x1="([0-9.]+)%" x2="([0-9.]+)%")re");
  for (std::sregex_iterator it(row.begin(), row.end(), re), end; it != end; ++it)
    out.push_back({std::stod((*it)[1].str()), std::stod((*it)[2].str())});
  return out;
}

}  // namespace

TEST_CASE("a lab lesson's page has one column per participant, each packet between its columns", "[html][columns]") {
  for (const int hosts : {2, 3, 4}) {  // 3, 4 and 5 columns with the switch
    const auto lab = lab_page(hosts);
    const std::size_t n = lab.columns.size();
    DYNAMIC_SECTION(n << " columns") {
      const std::string html = render_html(lab.timeline, lab.page);
      const auto x = [n](std::size_t i) { return 1.0 + 98.0 * static_cast<double>(i) / static_cast<double>(n - 1); };
      CHECK(html.find("<div class=\"ladder cols\"") != std::string::npos);
      // The titles, in the lesson's order, each above its lifeline.
      const std::regex title(R"re(<text class="ttl" x="([0-9.]+)%" y="20">([^<]*)</text>)re");
      std::vector<std::string> names;
      for (std::sregex_iterator it(html.begin(), html.end(), title), end; it != end; ++it) {
        CHECK(std::stod((*it)[1].str()) == Approx(x(names.size())).margin(0.01));
        names.push_back((*it)[2].str());
      }
      CHECK(names == lab.columns);
      CHECK(html.find(">client") == std::string::npos);
      CHECK(html.find(">server") == std::string::npos);
      // A's SYN to the last host, and the answer back: one arrow each, edge to edge.
      for (const auto& [frame, from, to] : {std::tuple{1, 0UL, n - 1}, std::tuple{2, n - 1, 0UL}, std::tuple{4, 0UL, n - 1}}) {
        INFO("frame " << frame);
        const auto s = shafts(row_of(html, fmt::format("data-frame=\"{}\"", frame)));
        REQUIRE(s.size() == 1);
        CHECK(s[0].x1 == Approx(x(from)).margin(0.01));
        CHECK(s[0].x2 == Approx(x(to)).margin(0.01));
      }
      // B's broadcast reaches everyone: from B's lifeline (column 2) to both edges,
      // labelled once (on the longer side), as the terminal ladder draws it.
      const std::string broadcast = row_of(html, "data-frame=\"3\"");
      const auto b = shafts(broadcast);
      REQUIRE(b.size() == (2 + 1 < n ? 2U : 1U));
      for (const auto& s : b) CHECK(s.x1 == Approx(x(2)).margin(0.01));
      CHECK(b.back().x2 == Approx(x(0)).margin(0.01));
      if (b.size() == 2) CHECK(b.front().x2 == Approx(x(n - 1)).margin(0.01));
      CHECK(count(broadcast, "<text class=\"lbl\"") == 1);
      // A frame from no column's address: no arrow, its label in words.
      const std::string stray = row_of(html, "data-frame=\"5\"");
      CHECK(shafts(stray).empty());
      CHECK(stray.find("<span class=\"nolbl\">R seq 1</span>") != std::string::npos);
      // Calls beside their participant's lifeline: A's left of the first; B's right of
      // its own, inside the picture when B is a middle column, in the right lane when
      // it is the last; a participant with no column, in the note with its name.
      CHECK(row_of(html, "data-call=\"connect\"").find("<span class=\"lane l\"><details><summary>connect") != std::string::npos);
      const std::string recv = row_of(html, "data-call=\"recvfrom\"");
      if (2 + 1 < n) {
        CHECK(recv.find(fmt::format("<span class=\"mcall\" style=\"margin-left:calc({:.2f}% + 8px);max-width:calc({:.2f}% - 16px)\"><details><summary>recvfrom",
                                    x(2), x(1) - x(0))) != std::string::npos);
      } else {
        CHECK(recv.find("<span class=\"lane r\"><details><summary>recvfrom") != std::string::npos);
      }
      CHECK(row_of(html, "data-call=\"close\"").find("<span class=\"note\">X: <details><summary>close") != std::string::npos);
      CHECK(html.find("data-packets','5'") != std::string::npos);
      CHECK(count(html, "class=\"row call ") == 3);
    }
  }
}

TEST_CASE("a two-participant page keeps its client and server columns", "[html][columns]") {
  const auto timeline = merge_timeline(fx::conversation_calls(), fx::conversation_packets());
  const std::string html = render_html(timeline, HtmlPage{});
  CHECK(html.find("<div class=\"ladder\" role=\"list\">") != std::string::npos);
  CHECK(html.find(R"(<text class="ttl" x="1.00%" y="20">client :51514</text>)") != std::string::npos);
  CHECK(html.find(R"(<text class="ttl" x="99.00%" y="20">server :8080</text>)") != std::string::npos);
  const auto syn = shafts(row_of(html, "data-frame=\"1\""));
  REQUIRE(syn.size() == 1);
  CHECK(syn[0].x1 == Approx(1.0));
  CHECK(syn[0].x2 == Approx(99.0));
  CHECK(row_of(html, "data-call=\"listen\"").find("<span class=\"lane r\"><details>") != std::string::npos);
}

TEST_CASE("a Chinese page says its analysis marks and phases in the Chinese ladder's words", "[html][zh]") {
  // The words come from where the terminal ladder takes them (common.md through
  // demo::ladder_words), not from a table of the page's own.
  const auto zh = socklab::demo::Lesson::load("common", socklab::demo::Lang::zh);
  REQUIRE(zh);
  auto packets = fx::conversation_packets();
  packets.at(3).analysis = retransmission;
  packets.at(4).malformed = true;
  packets.at(4).malformed_reason = "short";
  const auto timeline = merge_timeline(fx::conversation_calls(), packets);
  HtmlPage page;
  page.lang = HtmlLang::zh;
  page.view = socklab::demo::ladder_words(*zh, socklab::demo::Lang::zh);
  const std::string html = render_html(timeline, page);
  const std::string retransmitted = zh->note(socklab::demo::CommonNote{"mark_retransmission"});
  REQUIRE(retransmitted == "重传");
  // Beside the arrow, and in its details.
  CHECK(row_of(html, "data-frame=\"4\"").find("<span class=\"note\">[重传]") != std::string::npos);
  const auto d = details(html).at("packets");
  CHECK(d.at("4").at("analysis") == "重传");
  CHECK(d.at("5").at("analysis") == zh->note(socklab::demo::CommonNote{"mark_malformed"}) + ": short");
  CHECK(d.at("1").at("phase") == "握手 1/3");
  CHECK(html.find("retransmission") == std::string::npos);
  CHECK(html.find("malformed") == std::string::npos);
  CHECK(html.find("handshake") == std::string::npos);
  CHECK(html.find(">客户端 :51514<") != std::string::npos);
}

TEST_CASE("a call's error is named as everywhere else (net::errno_name)", "[html]") {
  auto calls = fx::conversation_calls();
  calls.at(1).result = -1;
  calls.at(1).err = ECONNREFUSED;
  calls.at(3).result = -1;
  calls.at(3).err = 4242;  // no name in glibc
  const std::string html = render_html(merge_timeline(calls, {}), HtmlPage{});
  CHECK(html.find("<dt>error</dt><dd>ECONNREFUSED</dd>") != std::string::npos);
  CHECK(html.find("<dt>error</dt><dd>errno 4242</dd>") != std::string::npos);
}

// The HTML timeline (--html on the demos, `socklab-capture read --html`) opened
// in a real browser: headless Chromium loads each page from disk, and the test
// reads the DOM it rendered and the console it logged. Each page is compared
// with the same run's --json lines: one arrow per packet, one row per call,
// every verdict. A screenshot at 1280x800 of each goes to the log directory.
#include <unistd.h>

#include <catch2/catch.hpp>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "../capture/builder.hpp"
#include "../capture/temp_dir.hpp"
#include "../demos/demo_runner.hpp"
#include "lab_page.hpp"
#include "page_text.hpp"
#include "process.hpp"
#include "required_program.hpp"
#include "socklab/capture/capture_file.hpp"
#include "socklab/capture/html.hpp"
#include "socklab/capture/pcap_writer.hpp"

namespace fs = std::filesystem;
using socklab::test::run;
using socklab::test::run_demo;
using socklab::test::html::count;
using socklab::test::html::details;

namespace {

// Without Chromium these tests are skipped (77), except where CI requires them.
// Headless Chromium, or a skip (a failure in CI).
void need_chromium() { socklab::test::need_program(SOCKLAB_CHROMIUM, "chromium"); }

std::string slurp(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string escaped(const std::string& text) {
  std::string out;
  for (char ch : text) {
    switch (ch) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += ch;
    }
  }
  return out;
}

struct Rendered {
  std::string dom;      // the document after its script ran (--dump-dom)
  std::string console;  // every console message the page produced
};

// One short Chromium run: load the page from disk, print the DOM, take the
// screenshot. Name resolution is mapped to nothing so that even the
// browser's own background requests leave no trace outside this machine.
Rendered open_in_chromium(const fs::path& page, const fs::path& screenshot) {
  TempDir profile;
  std::vector<std::string> argv{SOCKLAB_CHROMIUM, "--headless", "--disable-gpu", "--no-first-run",
                                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                                "--disable-extensions", "--no-proxy-server", "--host-resolver-rules=MAP * ~NOTFOUND",
                                "--user-data-dir=" + profile.path.string(), "--enable-logging=stderr", "--v=0",
                                "--window-size=1280,800", "--screenshot=" + screenshot.string(), "--dump-dom",
                                "file://" + fs::absolute(page).string()};
  if (::geteuid() == 0) argv.insert(argv.begin() + 1, "--no-sandbox");  // Chromium refuses root otherwise
  const auto r = run(argv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  Rendered out{r.out, {}};
  for (const auto& line : [&] {
         std::vector<std::string> lines;
         std::size_t pos = 0;
         while (pos < r.err.size()) {
           const auto eol = std::min(r.err.find('\n', pos), r.err.size());
           lines.push_back(r.err.substr(pos, eol - pos));
           pos = eol + 1;
         }
         return lines;
       }()) {
    if (line.find(":CONSOLE") != std::string::npos) out.console += line + "\n";
  }
  REQUIRE(fs::exists(screenshot));
  return out;
}

std::string attribute(const std::string& dom, const std::string& name) {
  const std::regex re(name + "=\"([^\"]*)\"");
  std::smatch m;
  return std::regex_search(dom, m, re) ? m[1].str() : std::string("(absent)");
}

// Nothing outside the file: no URL in any src/href/action, no CSS url(), the
// Content-Security-Policy that forbids fetching in place, no console message at all
// (a blocked request, a script error, a warning would each log one).
void check_self_contained(const Rendered& r) {
  INFO(r.console);
  CHECK(r.console.empty());
  CHECK(r.dom.find("default-src 'none'") != std::string::npos);
  CHECK_FALSE(std::regex_search(r.dom, std::regex(R"((src|href|action|xlink:href)\s*=)", std::regex::icase)));
  CHECK(r.dom.find("url(") == std::string::npos);
  CHECK(r.dom.find("@import") == std::string::npos);
}

fs::path log_dir() {
  fs::path dir = SOCKLAB_HTML_LOG_DIR;
  fs::create_directories(dir);
  return dir;
}

}  // namespace

TEST_CASE("the harness sees a script error and a blocked request", "[html]") {
  need_chromium();
  TempDir dir;
  const auto page = dir.path / "bad.html";
  std::ofstream(page) << "<!DOCTYPE html><html><head><meta http-equiv=\"Content-Security-Policy\" "
                         "content=\"default-src 'none'; script-src 'unsafe-inline'\"></head><body>"
                         "<p>bad page</p><img src=\"http://example.invalid/x.png\"><script>nosuchfunction();</script>"
                         "</body></html>";
  const auto r = open_in_chromium(page, dir.path / "bad.png");
  CHECK(r.console.find("nosuchfunction") != std::string::npos);
  CHECK(r.console.find("example.invalid") != std::string::npos);
}

TEST_CASE("every demo's page, opened in Chromium, shows its run", "[html]") {
  need_chromium();
  TempDir dir;
  for (const std::string demo : {DEMO_HANDSHAKE, DEMO_TEARDOWN, DEMO_STICKY, DEMO_UDP, DEMO_BACKLOG}) {
    const std::string name = fs::path(demo).filename().string();
    DYNAMIC_SECTION(name) {
      const auto page = dir.path / (name + ".html");
      const auto r = run_demo({demo, "--capture", "--json", "--html", page.string()});
      INFO(r.err);
      REQUIRE(r.exit_code == 0);
      const auto lines = r.json();
      const auto packets = socklab::test::of_kind(lines, "packet");
      const auto calls = socklab::test::of_kind(lines, "call");
      const auto verdicts = socklab::test::of_kind(lines, "verdict");
      REQUIRE(!packets.empty());
      REQUIRE(!verdicts.empty());

      const auto shot = log_dir() / (name + ".png");
      const auto shown = open_in_chromium(page, shot);
      CHECK(fs::file_size(shot) > 20'000);  // a blank 1280x800 PNG takes a few kB
      check_self_contained(shown);
      const std::string& dom = shown.dom;
      CHECK(count(dom, "class=\"row pkt ") == packets.size());
      CHECK(count(dom, "<line class=\"shaft\"") == packets.size());
      // Measured by the page's script from the rendered layout: arrows with a length.
      CHECK(attribute(dom, "data-drawn-arrows") == std::to_string(packets.size()));
      CHECK(count(dom, "class=\"row call ") == calls.size());
      for (const auto& p : packets) CHECK(dom.find("data-frame=\"" + std::to_string(p.at("n").get<int>()) + "\"") != std::string::npos);
      for (const auto& v : verdicts) {
        INFO(v.dump());
        const std::string cls = v.at("ok").get<bool>() ? "ok" : "failed";
        const std::string mark = v.at("ok").get<bool>() ? "✓" : "✗";
        CHECK(dom.find("<li class=\"" + cls + "\"><span class=\"mark\">" + mark + "</span>" +
                       escaped(v.at("text").get<std::string>())) != std::string::npos);
      }
      CHECK(dom.find("<html lang=\"en\"") != std::string::npos);
    }
  }
}

TEST_CASE("the keyboard reaches an arrow's details and a call's arguments", "[html]") {
  need_chromium();
  TempDir dir;
  const auto page = dir.path / "handshake.html";
  const auto r = run_demo({DEMO_HANDSHAKE, "--capture", "--html", page.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  // What a user does with Tab and Enter, done by a script added to a copy of
  // the page: focus the second arrow (the SYN-ACK), open the first call.
  std::string html = slurp(page);
  const auto body_end = html.rfind("</body>");
  REQUIRE(body_end != std::string::npos);
  html.insert(body_end,
              "<script>document.querySelectorAll('.pkt')[1].focus();"
              "document.querySelector('.call summary').click();</script>");
  const auto probe = dir.path / "probe.html";
  std::ofstream(probe) << html;
  const auto shown = open_in_chromium(probe, log_dir() / "demo-handshake-focus.png");
  INFO(shown.console);
  CHECK(shown.console.empty());
  const std::string& dom = shown.dom;
  const auto tip = dom.find("<div id=\"tip\" class=\"tip\" role=\"tooltip\"><code>frame ");
  REQUIRE(tip != std::string::npos);
  CHECK(dom.find("Flags [S.]", tip) != std::string::npos);  // the SYN-ACK's full line
  CHECK(dom.find("<dt>transport</dt>", tip) != std::string::npos);
  CHECK(dom.find("<details open=\"\"><summary>") != std::string::npos);
  CHECK(dom.find("<dt>arguments</dt>") != std::string::npos);
}

TEST_CASE("a Chinese run's page is in Chinese", "[html]") {
  need_chromium();
  TempDir dir;
  const auto page = dir.path / "zh.html";
  const auto r = run_demo({DEMO_HANDSHAKE, "--capture", "--lang", "zh", "--html", page.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find(page.string()) != std::string::npos);  // the report says where the page is
  const std::string html = slurp(page);
  CHECK(html.find("<html lang=\"zh-CN\"") != std::string::npos);
  CHECK(html.find("客户端") != std::string::npos);
  CHECK(html.find("服务器") != std::string::npos);
  CHECK(html.find("Hover") == std::string::npos);
  CHECK(html.find(">client") == std::string::npos);
}

TEST_CASE("a Chinese run's analysis marks and phases are in Chinese, as on its ladder", "[html][zh]") {
  // demo-backlog's waiting clients have their SYNs retransmitted: marked on the page.
  TempDir dir;
  const auto page = dir.path / "backlog-zh.html";
  const auto r = run_demo({DEMO_BACKLOG, "--capture", "--lang", "zh", "--html", page.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const std::string html = slurp(page);
  bool marked = false;
  const auto data = details(html);
  for (const auto& [frame, p] : data.at("packets").items()) {
    INFO("frame " << frame << ": " << p.dump());
    marked = marked || p.at("analysis") == "重传";
    CHECK_FALSE(std::regex_search(p.at("phase").get<std::string>(), std::regex("[a-z]{3,}")));
  }
  CHECK(marked);
  CHECK(html.find("retransmission") == std::string::npos);
}

namespace {

// What a projector shows of a page in Chromium at 1280x800, measured by a script
// added to a copy of it: the font sizes of titles, labels and calls, and every
// overlap (titles with each other, a label beyond its arrow, a call across a
// lifeline or out of its row, text running out of its cell).
struct Layout {
  Rendered shown;       // the probe page as rendered (the page and the measuring script)
  nlohmann::json data;  // {"problems": [...], "title_px", "label_px", "call_px", "columns", "spacing_px"}
};
Layout measure_layout(const fs::path& page, const fs::path& dir, const std::string& name) {
  std::string html = slurp(page);
  const auto body_end = html.rfind("</body>");
  REQUIRE(body_end != std::string::npos);
  html.insert(body_end, R"js(<script>(function(){
var problems=[];function r(e){return e.getBoundingClientRect();}
function px(sel){var e=document.querySelector(sel);return e?parseFloat(getComputedStyle(e).fontSize):0;}
function cross(a,b){return a.left<b.right-0.5&&b.left<a.right-0.5&&a.top<b.bottom-0.5&&b.top<a.bottom-0.5;}
var mid=r(document.querySelector('.head-row .mid'));
var titles=[].slice.call(document.querySelectorAll('.head-row text.ttl'));
var lines=titles.map(function(t){return mid.left+parseFloat(t.getAttribute('x'))/100*mid.width;});
for(var i=0;i<titles.length;i++)for(var j=i+1;j<titles.length;j++)if(cross(r(titles[i]),r(titles[j])))problems.push('titles '+titles[i].textContent+' and '+titles[j].textContent);
document.querySelectorAll('text.lbl').forEach(function(t){var row=t.closest('.row'),b=r(t),c=(b.left+b.right)/2;
 var s=[].slice.call(row.querySelectorAll('line.shaft')).map(r).filter(function(l){return l.left<=c&&c<=l.right;})[0];
 if(!s||b.left<s.left-1||b.right>s.right+1)problems.push('label '+t.textContent+' beyond its arrow');
 if(b.top<r(row).top-1)problems.push('label '+t.textContent+' above its row');});
document.querySelectorAll('.mcall').forEach(function(m){var b=r(m),ok=false;
 for(var k=0;k+1<lines.length;k++)if(b.left>=lines[k]&&b.right<=lines[k+1])ok=true;
 if(!ok)problems.push('call '+m.textContent+' across a lifeline');
 var row=r(m.closest('.row'));if(b.bottom>row.bottom+1)problems.push('call '+m.textContent+' out of its row');});
document.querySelectorAll('.row>span').forEach(function(e){if(e.scrollWidth>e.clientWidth+1&&!e.classList.contains('mid'))problems.push('text out of its cell: '+e.textContent);});
var out=document.createElement('pre');out.id='layout';
out.textContent=JSON.stringify({problems:problems,title_px:px('text.ttl'),label_px:px('text.lbl'),call_px:px('.call summary'),columns:lines.length,
 spacing_px:lines.length>1?lines[1]-lines[0]:0});document.body.appendChild(out);})();</script>)js");
  const auto probe = dir / (name + "-probe.html");
  std::ofstream(probe) << html;
  auto shown = open_in_chromium(probe, log_dir() / (name + ".png"));
  const auto from = shown.dom.find("<pre id=\"layout\">");
  REQUIRE(from != std::string::npos);
  const auto start = from + std::string("<pre id=\"layout\">").size();
  std::string text = shown.dom.substr(start, shown.dom.find("</pre>", start) - start);
  for (const auto& [entity, ch] : {std::pair{"&lt;", "<"}, std::pair{"&gt;", ">"}, std::pair{"&amp;", "&"}}) {
    for (auto at = text.find(entity); at != std::string::npos; at = text.find(entity, at + 1)) text.replace(at, std::strlen(entity), ch);
  }
  return {std::move(shown), nlohmann::json::parse(text)};
}

}  // namespace

TEST_CASE("a lab page of 4 and 5 columns reads from the back of a room: nothing overlaps", "[html][columns]") {
  need_chromium();
  TempDir dir;
  for (const int hosts : {3, 4}) {  // 3 columns: test_html_columns
    const auto lab = socklab::test::html::lab_page(hosts);
    const std::string name = fmt::format("lab-{}-columns", lab.columns.size());
    DYNAMIC_SECTION(name) {
      const auto page = dir.path / (name + ".html");
      std::ofstream(page) << socklab::capture::render_html(lab.timeline, lab.page);
      const auto [shown, layout] = measure_layout(page, dir.path, name);
      INFO(shown.console);
      CHECK(shown.console.empty());
      INFO(layout.dump());
      CHECK(layout.at("problems").empty());
      CHECK(layout.at("columns") == lab.columns.size());
      CHECK(layout.at("title_px").get<double>() >= 14);
      CHECK(layout.at("label_px").get<double>() >= 13);
      CHECK(layout.at("call_px").get<double>() >= 14);
      // Two neighbouring lifelines hold "P. 1:1449 len 1448" (18 characters of 13 px
      // monospace, under 8 px each) with its arrow's ends free.
      CHECK(layout.at("spacing_px").get<double>() >= 18 * 8 + 10);
    }
  }
}

TEST_CASE("demo-layers' page has a column per host, each frame between them", "[html][columns]") {
  need_chromium();
  TempDir dir;
  const auto page = dir.path / "layers.html";
  const auto r = run_demo({DEMO_LAYERS, "--capture", "--json", "--html", page.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  const auto packets = socklab::test::of_kind(lines, "packet");
  const auto calls = socklab::test::of_kind(lines, "call");
  REQUIRE(!packets.empty());
  const std::string html = slurp(page);
  CHECK(html.find(R"(<text class="ttl" x="1.00%" y="20">A</text><text class="ttl" x="99.00%" y="20">B</text>)") !=
        std::string::npos);
  CHECK(html.find(">client") == std::string::npos);
  CHECK(html.find(">server") == std::string::npos);
  CHECK(html.find("one column per participant") != std::string::npos);
  // Each frame, seen at A's and at B's end of the cable, is one arrow from the host
  // that sent it to the other.
  for (const auto& p : packets) {
    INFO(p.dump());
    CHECK(p.at("seen").size() == 2);
    const bool from_a = p.at("src").get<std::string>().starts_with("10.0.0.1:");
    const auto frame = html.find(fmt::format("data-frame=\"{}\"", p.at("n").get<int>()));
    REQUIRE(frame != std::string::npos);
    const auto shaft = html.find("<line class=\"shaft\"", frame);
    REQUIRE(shaft != std::string::npos);
    const std::string arrow = from_a ? R"(<line class="shaft" x1="1.00%" x2="99.00%")"
                                     : R"(<line class="shaft" x1="99.00%" x2="1.00%")";
    CHECK(html.compare(shaft, arrow.size(), arrow) == 0);
  }
  CHECK(count(html, "class=\"row call ") == calls.size());
  const auto [shown, layout] = measure_layout(page, dir.path, "demo-layers");
  check_self_contained(shown);
  CHECK(attribute(shown.dom, "data-drawn-arrows") == std::to_string(packets.size()));
  INFO(layout.dump());
  CHECK(layout.at("problems").empty());
}

TEST_CASE("read --html draws a capture file with each packet's layers", "[html]") {
  need_chromium();
  TempDir dir;
  const auto page = dir.path / "handshake.html";
  const std::string capture = std::string(SOCKLAB_TESTDATA_DIR) + "/captures/handshake.pcap";
  const auto r = run({SOCKLAB_CAPTURE_TOOL, "read", capture, "--html", page.string(), "--lang", "en"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto json = run({SOCKLAB_CAPTURE_TOOL, "read", "--json", capture});
  const auto packets = json.json().size();
  REQUIRE(packets > 0);
  const auto shown = open_in_chromium(page, log_dir() / "read-handshake.png");
  check_self_contained(shown);
  CHECK(count(shown.dom, "class=\"row pkt ") == packets);
  CHECK(attribute(shown.dom, "data-drawn-arrows") == std::to_string(packets));
  CHECK(count(shown.dom, "class=\"row call ") == 0);
  // The tooltips' data: each packet's full tcpdump line and its layered view
  // from the bytes, link layer included, as --layers prints it.
  CHECK(count(shown.dom, "\"layers\":[[") == packets);
  CHECK(count(shown.dom, "Ethernet") >= packets);
  CHECK(shown.dom.find("Flags [S]") != std::string::npos);
  CHECK(shown.dom.find("<div id=\"tip\" class=\"tip\" role=\"tooltip\" hidden=\"\"></div>") != std::string::npos);
}

TEST_CASE("read --html of a capture too big to draw says what it left out", "[html]") {
  // No browser needed: the page's rows are counted in the file.
  TempDir dir;
  const auto file = dir.path / "big.pcap";
  {
    auto writer = socklab::capture::PcapWriter::create(file, socklab::capture::LinkType::ethernet);
    REQUIRE(writer);
    const builder::Pair pair;
    std::int64_t t = 1'700'000'000'000'000'000;
    std::uint32_t seq = 1;
    auto put = [&](const builder::Segment& s) {
      const auto frame = pair.tcp(s);
      REQUIRE(writer->write(t += 1000, frame, static_cast<std::uint32_t>(frame.size())));
    };
    put({.from_client = true, .seq = 0, .ack = 0, .flags = builder::S});
    put({.from_client = false, .seq = 0, .ack = 1, .flags = builder::S | builder::A});
    put({.from_client = true, .seq = 1, .ack = 1, .flags = builder::A});
    for (int i = 0; i < 5000; ++i) {
      put({.from_client = true, .seq = seq, .ack = 1, .flags = builder::P | builder::A, .len = 10});
      seq += 10;
    }
    REQUIRE(writer->commit());
  }
  const auto page = dir.path / "big.html";
  const auto r = run({SOCKLAB_CAPTURE_TOOL, "read", file.string(), "--html", page.string(), "--lang", "en"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("3 more are left out") != std::string::npos);
  const std::string html = slurp(page);
  CHECK(count(html, "class=\"row pkt ") == 5000);
  CHECK(html.find("the other 3 (frames 5001 to 5003) are left out") != std::string::npos);

  // -c below the limit draws exactly that many, and leaves nothing out it must mention.
  const auto few = run({SOCKLAB_CAPTURE_TOOL, "read", file.string(), "-c", "10", "--html", page.string()});
  REQUIRE(few.exit_code == 0);
  const std::string small = slurp(page);
  CHECK(count(small, "class=\"row pkt ") == 10);
  CHECK(small.find("left out") == std::string::npos);
}

TEST_CASE("the page follows -w's rules: whole, regular files only, symlinks followed", "[html]") {
  // The same code as a capture file (capture_file.hpp): a temporary file, fsync, rename.
  TempDir dir;
  using socklab::capture::write_output_file;
  const auto target = dir.path / "page.html";
  REQUIRE(write_output_file(target, "first", "HTML page"));
  REQUIRE(write_output_file(target, "second", "HTML page"));
  CHECK(slurp(target) == "second");
  CHECK((fs::status(target).permissions() & fs::perms::others_read) != fs::perms::none);
  // Only the page is left in the directory: no temporary file.
  CHECK(std::distance(fs::directory_iterator(dir.path), fs::directory_iterator()) == 1);

  const auto problem = write_output_file(dir.path, "x", "HTML page");
  REQUIRE_FALSE(problem);
  CHECK(problem.error().message().find("HTML page " + dir.path.string() + ": is a directory") != std::string::npos);

  // A symbolic link is followed, as -w does: the page it names is replaced, the link stays.
  const auto link = dir.path / "link.html";
  fs::create_symlink("page.html", link);
  REQUIRE(write_output_file(link, "through the link", "HTML page"));
  CHECK(fs::is_symlink(link));
  CHECK(slurp(target) == "through the link");
  // A link to something that is not a regular file is refused like that thing.
  const auto to_dir = dir.path / "dir.html";
  fs::create_directory_symlink(dir.path, to_dir);
  const auto refused = write_output_file(to_dir, "x", "HTML page");
  REQUIRE_FALSE(refused);
  CHECK(refused.error().message().find("is a directory (the link points to") != std::string::npos);

  const auto missing = write_output_file(dir.path / "no" / "such" / "dir.html", "x", "HTML page");
  REQUIRE_FALSE(missing);
  CHECK(missing.error().message().find("no/such") != std::string::npos);
  CHECK(missing.error().message().find("does not exist") != std::string::npos);
}

TEST_CASE("a bad --html is refused before the lesson runs or the capture is read", "[html]") {
  TempDir dir;
  // A demo: bad usage (2), naming the path and what it is, and no lesson printed.
  const auto r = run_demo({DEMO_HANDSHAKE, "--html", dir.path.string()});
  CHECK(r.exit_code == 2);
  CHECK(r.err.find("--html HTML page " + dir.path.string() + ": is a directory") != std::string::npos);
  CHECK(r.out.empty());
  const auto empty = run_demo({DEMO_HANDSHAKE, "--html", ""});
  CHECK(empty.exit_code == 2);
  CHECK(empty.err.find("a file name is needed") != std::string::npos);
  CHECK(empty.out.empty());

  // read: refused before the file is opened (no "reading from file" line).
  const std::string capture = std::string(SOCKLAB_TESTDATA_DIR) + "/captures/handshake.pcap";
  const auto read = run({SOCKLAB_CAPTURE_TOOL, "read", capture, "--html", dir.path.string()});
  CHECK(read.exit_code == 1);
  CHECK(read.err.find("--html HTML page " + dir.path.string() + ": is a directory") != std::string::npos);
  CHECK(read.err.find("reading from file") == std::string::npos);
  const auto read_empty = run({SOCKLAB_CAPTURE_TOOL, "read", capture, "--html", ""});
  CHECK(read_empty.exit_code == 2);
  CHECK(read_empty.out.empty());
}

TEST_CASE("a demo's page shows each packet's layers from its bytes, as read --html does", "[html]") {
  // No browser needed: the tooltips' data block is compared, packet by packet,
  // with the page read --html makes of the same run's capture file.
  TempDir dir;
  const auto page = dir.path / "demo.html", file = dir.path / "run.pcap", read_page = dir.path / "read.html";
  const auto r = run_demo({DEMO_HANDSHAKE, "--html", page.string(), "-w", file.string()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto read = run({SOCKLAB_CAPTURE_TOOL, "read", file.string(), "--html", read_page.string()});
  REQUIRE(read.exit_code == 0);
  const auto demo_packets = details(slurp(page)).at("packets"), read_packets = details(slurp(read_page)).at("packets");
  REQUIRE(demo_packets.size() >= 3);
  CHECK(demo_packets.size() == read_packets.size());
  for (const auto& [frame, p] : demo_packets.items()) {
    INFO("frame " << frame);
    REQUIRE(read_packets.contains(frame));
    const auto& layers = p.at("layers");
    REQUIRE(layers.size() >= 4);  // link, network, transport, payload (and notes)
    CHECK(layers[0][0] == "link");
    CHECK(layers[0][1].get<std::string>().find("Ethernet") != std::string::npos);  // from the bytes, not "not kept"
    CHECK(layers == read_packets.at(frame).at("layers"));
  }
}

TEST_CASE("text from the wire or the program cannot change the page", "[html]") {
  // No browser needed: what matters is the markup the renderer writes.
  using namespace socklab::capture;
  socklab::net::CallEvent send{.t_ns = 1'000'000, .dur_ns = 10, .side = socklab::net::Side::client, .call = "send",
                               .args = "30", .result = 30, .err = 0,
                               .preview = "</script><!--<script>alert(1)</script><b>x", .local = "127.0.0.1:40000",
                               .peer = "127.0.0.1:8080"};
  PacketRecord p;
  p.n = 1;
  p.ts_ns = 2'000'000'000;  // 2 s later: a compressed gap
  p.src = "127.0.0.1:40000";
  p.dst = "127.0.0.1:8080";
  p.sport = 40000;
  p.dport = 8080;
  p.proto = Proto::tcp;
  p.is_tcp = true;
  p.flags = "P.";
  p.len = 30;
  p.preview = "</script><img src=x onerror=alert(1)>";
  p.line = "IP 127.0.0.1.40000 > 127.0.0.1.8080: Flags [P.], length 30 </script>";
  std::vector<socklab::net::CallEvent> calls{send};
  std::vector<PacketRecord> packets{p};
  auto timeline = merge_timeline(calls, packets);
  timeline.back().note = "<b>bold?</b> & more";
  HtmlPage page;
  page.lang = HtmlLang::zh;
  page.title = "<title> & \"quotes\"";
  page.summary.push_back({HtmlSummaryLine::Kind::failed, "<i>verdict</i>", "why <u>"});
  const std::string html = render_html(timeline, page);
  CHECK(count(html, "</script>") == 2);  // the data block and the script: nothing else closes one
  CHECK(count(html, "<script") == 2);
  CHECK(html.find("<b>") == std::string::npos);
  CHECK(html.find("<i>") == std::string::npos);
  CHECK(html.find("<img") == std::string::npos);
  CHECK(html.find("&lt;b&gt;bold?&lt;/b&gt; &amp; more") != std::string::npos);
  CHECK(html.find("<li class=\"failed\"><span class=\"mark\">✗</span>&lt;i&gt;verdict&lt;/i&gt;") != std::string::npos);
  // The 2 s pause is drawn compressed, with its real length, in Chinese.
  CHECK(html.find("空闲 2.00 s（已压缩）") != std::string::npos);
  CHECK(html.find("<html lang=\"zh-CN\"") != std::string::npos);
}

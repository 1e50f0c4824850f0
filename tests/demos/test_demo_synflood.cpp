// demo-synflood run as a user runs it (root: a lab of three namespaces, and the capture).
// The verdicts are checked against the run's own packets and facts, decoded here: the
// forged SYNs only ever go to the lab's server, the half-open count plus the drops is
// the flood, L's SYN is sent again unanswered before cookies and answered after. Bad
// input and any attempt to aim the flood elsewhere are refused before a lab exists.
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "demo_checks.hpp"
#include "demo_runner.hpp"
#include "lab_checks.hpp"
#include "socklab/lab/lab.hpp"

namespace {

using namespace socklab::test;
using Strings = std::vector<std::string>;

const Strings kVerdicts{"syn_queue_filled",       "synack_retransmitted",  "legit_client_blocked_without_cookies",
                        "counters_without_cookies", "cookies_sent",        "no_state_for_cookies",
                        "legit_client_served_with_cookies", "counters_with_cookies"};

std::string address_of(const std::string& endpoint) { return endpoint.substr(0, endpoint.rfind(':')); }

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// The verdicts' names, in order (check_verdicts() gives them by name).
Strings names_of(const std::map<std::string, nlohmann::json>& v) {
  Strings out;
  for (const auto& [name, verdict] : v) out.push_back(name);
  return out;
}

}  // namespace

TEST_CASE("demo-synflood --capture --json: the verdicts hold, and agree with the run's own packets", "[synflood]") {
  const auto before = socklab::lab::socklab_namespaces();
  const int syns = 200;
  const auto r = run_demo({DEMO_SYNFLOOD, "--capture", "--json", "--syns", std::to_string(syns)});
  Strings want = kVerdicts;
  want.insert(want.end(), {"synack_retransmissions_on_wire"});
  std::sort(want.begin(), want.end());
  const auto v = check_verdicts(r, want);
  CHECK(names_of(v) == want);  // these, each ok, and no other
  const auto lines = r.json();

  nlohmann::json sources;
  for (const auto& f : of_kind(lines, "fact"))
    if (f.at("name") == "forged_sources") sources = f.at("value");
  REQUIRE(sources.is_array());
  const std::set<std::string> forged(sources.begin(), sources.end());
  for (const auto& a : {"10.0.0.1", "10.0.0.2", "10.0.0.3"}) CHECK_FALSE(forged.contains(a));

  // Every forged SYN went to the lab's server and nowhere else: both floods, each SYN once.
  int forged_syns = 0, half_open_answers = 0, cookies = 0;
  std::set<std::string> answered;
  int legit_syns_unanswered = 0;
  bool legit_connected = false;
  for (const auto& p : of_kind(lines, "packet")) {
    const std::string src = p.value("src", ""), dst = p.value("dst", ""), flags = p.value("flags", "");
    if (flags == "S" && forged.contains(address_of(src))) {
      ++forged_syns;
      CHECK(dst == "10.0.0.1:8080");
      CHECK(p.at("eth_src") == "02:00:00:00:00:0b");  // sent by X, whatever the source address says
    }
    if (flags == "S." && forged.contains(address_of(dst))) {
      CHECK(p.at("eth_dst") == "02:00:00:00:00:ee");  // the MAC nobody holds
      if (std::stoi(dst.substr(dst.rfind(':') + 1)) < 30000) {  // the first flood's ports: 20000 on
        if (answered.insert(dst).second) ++half_open_answers;
      } else {
        ++cookies;
      }
    }
    if (flags == "S" && address_of(src) == "10.0.0.3" && !legit_connected) ++legit_syns_unanswered;
    if (flags == "S." && address_of(dst) == "10.0.0.3") legit_connected = true;
  }
  CHECK(forged_syns == 2 * syns);
  // The ladder draws each flood short; the JSON keeps every packet, the last one's note says so.
  int folded_notes = 0;
  for (const auto& p : of_kind(lines, "packet"))
    if (p.value("note", "").find("the " + std::to_string(syns - 4) + " before it are not drawn") != std::string::npos) ++folded_notes;
  CHECK(folded_notes == 3);  // both floods' last SYN, and the last cookie
  const auto& filled = v.at("syn_queue_filled").at("observed");
  CHECK(filled.at("half_open").get<int>() + filled.at("dropped").get<int>() == syns);
  CHECK(half_open_answers == filled.at("half_open").get<int>());  // a SYN-ACK for each half-open, none for the dropped
  CHECK(cookies == syns);                                       // every SYN of the second flood
  CHECK(v.at("cookies_sent").at("observed") == syns + 1);       // and L's
  CHECK(legit_syns_unanswered == 3);  // L's SYN and its retransmission without cookies, then its SYN with them
  CHECK(legit_connected);
  CHECK(leftovers(before).empty());
}

TEST_CASE("demo-synflood without --capture: the kernel's side of every verdict, no wire verdict", "[synflood]") {
  const auto r = run_demo({DEMO_SYNFLOOD, "--json", "--syns", "50"});
  Strings want = kVerdicts;
  std::sort(want.begin(), want.end());
  const auto v = check_verdicts(r, want);
  CHECK(names_of(v) == want);  // these, each ok, and no other
  CHECK(v.at("syn_queue_filled").at("observed").at("dropped").get<int>() > 0);
}

TEST_CASE("demo-synflood's text, in English and Chinese: the verdicts hold, the flood is drawn short", "[synflood]") {
  for (const char* lang : {"en", "zh"}) {
    const auto r = run_demo({DEMO_SYNFLOOD, "--capture", "--lang", lang});
    INFO(lang << "\n" << r.out << r.err);
    REQUIRE(r.exit_code == 0);
    CHECK_THAT(r.out, !Catch::Contains("✗"));
    CHECK(count_of(r.out, "✓") == kVerdicts.size() + 1);
    CHECK_THAT(r.out, Catch::Contains("┬ X") && Catch::Contains("┬ S") && Catch::Contains("┬ L"));
    // 1000 forged SYNs and 500 cookies, yet only the first three and the last of each flood are
    // drawn, beside L's three SYNs (without cookies, again, with cookies).
    CHECK(count_of(r.out, "─ S seq 0 ─") == 2 * 4 + 3);
    CHECK_THAT(r.out, Catch::Contains(std::string(lang) == "en" ? "forged SYN" : "伪造的 SYN"));
  }
}

TEST_CASE("demo-synflood refuses a bad --syns, naming it, before any lab exists", "[synflood]") {
  const auto before = socklab::lab::socklab_namespaces();
  for (const char* bad : {"0", "9", "5001", "abc", "-1"}) {
    for (const char* lang : {"en", "zh"}) {
      const auto r = run_demo({DEMO_SYNFLOOD, "--lang", lang, "--syns", bad});
      INFO(bad << " " << lang << ": " << r.err);
      CHECK(r.exit_code == 2);
      CHECK_THAT(r.err, Catch::Contains("--syns"));
      CHECK_THAT(r.err, Catch::Contains(bad));
      CHECK(r.out.empty());
    }
  }
  CHECK(leftovers(before).empty());
}

TEST_CASE("demo-synflood cannot be aimed anywhere but the lab's own server", "[synflood]") {
  const auto before = socklab::lab::socklab_namespaces();
  const std::vector<Strings> aims{{"--host", "8.8.8.8"}, {"--host", "127.0.0.1"}, {"--listen", "0.0.0.0"},
                                  {"--port", "80"},      {"-6"}};
  for (const auto& aim : aims) {
    Strings cmd{DEMO_SYNFLOOD, "--capture"};
    cmd.insert(cmd.end(), aim.begin(), aim.end());
    const auto r = run_demo(cmd);
    INFO(aim.front() << ": " << r.err);
    CHECK(r.exit_code == 2);  // refused before a lab exists, let alone a SYN
    CHECK_THAT(r.err, Catch::Contains("only to the lab's own server"));
  }
  for (const char* role : {"server", "client"}) {
    const auto r = run_demo({DEMO_SYNFLOOD, "--role", role, "--port", "8080"});
    INFO(r.err);
    CHECK(r.exit_code == 2);
    CHECK_THAT(r.err, Catch::Contains("--role"));
  }
  CHECK(leftovers(before).empty());
}

TEST_CASE("demo-synflood --check-notes: both languages define exactly the notes the program prints", "[synflood]") {
  const auto r = run_demo({DEMO_SYNFLOOD, "--check-notes"});
  INFO(r.out << r.err);
  CHECK(r.exit_code == 0);
}

TEST_CASE("demo-synflood without the lab's privileges says which, and exits 5", "[synflood]") {
  const auto before = socklab::lab::socklab_namespaces();
  const auto r = run_demo({SOCKLAB_SETPRIV, "--bounding-set=-all", "--inh-caps=-all", "--", DEMO_SYNFLOOD, "--capture"});
  CHECK(r.exit_code == 5);
  CHECK_THAT(r.err, Catch::Contains("CAP_NET_ADMIN") && Catch::Contains("CAP_SYS_ADMIN"));
  CHECK(leftovers(before).empty());
}

TEST_CASE("demo-synflood --quiz: the answers graded against the run's own counts", "[synflood]") {
  const auto r = run_demo({DEMO_SYNFLOOD, "--json", "--answers", "5,5,501"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  const auto lines = r.json();
  const auto quiz = of_kind(lines, "quiz");
  REQUIRE(quiz.size() == 3);
  const auto v = verdicts(lines);
  CHECK(quiz[0].at("observed") == v.at("syn_queue_filled").at("observed").at("half_open"));
  CHECK(quiz[1].at("observed") == v.at("synack_retransmitted").at("observed"));
  CHECK(quiz[2].at("observed") == v.at("cookies_sent").at("observed"));
  for (const auto& q : quiz) CHECK(q.at("ok") == (q.at("answer") == q.at("observed")));
}

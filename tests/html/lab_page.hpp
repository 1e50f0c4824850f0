// A lab lesson's timeline on named columns, written out by hand: hosts A, B, ...
// with a switch "sw" second (as demo-lan shows it), calls by hosts in the first, a
// middle and the last column, a broadcast, and what no column claims. For the page's
// column tests at 3 to 5 columns, in the markup and in Chromium.
#pragma once

#include <string>
#include <vector>

#include "../capture_live/ladder_fixtures.hpp"
#include "socklab/capture/html.hpp"

namespace socklab::test::html {

namespace fx = socklab::test::ladder;

struct LabPage {
  std::vector<std::string> columns;  // A, sw, B, ...
  std::vector<capture::TimelineEntry> timeline;
  capture::HtmlPage page;
};

inline net::CallEvent host_call(std::int64_t t, std::string host, std::string call, std::string args, std::int64_t result,
                                std::string preview = {}) {
  net::CallEvent c;
  c.t_ns = fx::t0 + t;
  c.dur_ns = 5 * fx::us;
  c.participant = std::move(host);
  c.call = std::move(call);
  c.args = std::move(args);
  c.result = result;
  c.preview = std::move(preview);
  return c;
}

// `hosts` hosts (2 to 8): host 1 "A" talks to the last; host 2 "B" broadcasts;
// frame 5 comes from host 9, in no column.
inline LabPage lab_page(int hosts) {
  LabPage lab;
  std::vector<std::string> names{"A", "sw"};
  for (int i = 2; i <= hosts; ++i) names.emplace_back(1, static_cast<char>('A' + i - 1));
  lab.columns = names;
  lab.page.title = "lab";
  lab.page.view = fx::columns_of(names);
  const std::string last = names.back();
  auto packet = [&](std::uint64_t n, std::int64_t t, int from, int to, std::string flags, std::uint32_t seq,
                    std::uint32_t ack, std::uint32_t len) {
    auto p = fx::lab_frame(n, t, from, to, std::move(flags));
    p.seq = seq;
    p.ack = ack;
    p.len = len;
    return capture::TimelineEntry{p.ts_ns, p, ""};
  };
  auto call = [&](capture::TimelineEntry e) { lab.timeline.push_back(std::move(e)); };
  const auto connect = host_call(0, "A", "connect", fmt::format("10.0.0.{}:5000", hosts), 0);
  call({connect.t_ns, connect, "A connects to " + last});
  call(packet(1, 10 * fx::us, 1, hosts, "S", 0, 0, 0));
  call(packet(2, 20 * fx::us, hosts, 1, "S.", 0, 1, 0));
  call(packet(3, 30 * fx::us, 2, 0, ".", 0, 0, 0));
  call(packet(4, 40 * fx::us, 1, hosts, "P.", 1, 1, 1448));  // "P. 1:1449 len 1448": a long label
  const auto recv = host_call(50 * fx::us, "B", "recvfrom", "64", 5, "hello");
  call({recv.t_ns, recv, ""});
  const auto stray = host_call(60 * fx::us, "X", "close", "", 0);
  call({stray.t_ns, stray, ""});
  call(packet(5, 70 * fx::us, 9, 1, "R", 1, 0, 0));
  return lab;
}

}  // namespace socklab::test::html

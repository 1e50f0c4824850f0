// Helpers for the golden tests: the committed captures and the views of tshark
// and tcpdump saved beside them (tests/data/tshark_view.py, make_captures.py).
#pragma once

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "socklab/capture/analyzer.hpp"
#include "socklab/capture/format.hpp"
#include "socklab/capture/pcap_reader.hpp"
#include "socklab/capture/record.hpp"

namespace golden {

namespace fs = std::filesystem;

inline fs::path data_dir() { return fs::path(SOCKLAB_TESTDATA_DIR); }

// Every capture under tests/data/<sub>, sorted by name.
inline std::vector<fs::path> captures(const std::string& sub) {
  std::vector<fs::path> out;
  for (const auto& e : fs::directory_iterator(data_dir() / sub)) {
    const auto ext = e.path().extension();
    if (ext == ".pcap" || ext == ".pcapng") out.push_back(e.path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

inline std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p);
  std::vector<std::string> out;
  for (std::string line; std::getline(in, line);) out.push_back(line);
  return out;
}

inline std::vector<std::string> split(const std::string& s, char sep) {
  std::vector<std::string> out;
  std::string cur;
  for (const char c : s) {
    if (c == sep) {
      out.push_back(cur);
      cur.clear();
    } else {
      cur.push_back(c);
    }
  }
  out.push_back(cur);
  return out;
}

// One row of NAME.tshark.tsv.
struct TsharkRow {
  std::uint64_t n = 0;
  std::string proto, stream, seq, ack, len, win, flags, ulen, analysis;
};

inline std::vector<TsharkRow> tshark_view(const fs::path& capture) {
  std::vector<TsharkRow> rows;
  bool header = true;
  for (const auto& line : read_lines(capture.string() + ".tshark.tsv")) {
    if (line.empty() || line[0] == '#') continue;
    if (header) {
      header = false;
      continue;
    }
    auto f = split(line, '\t');
    f.resize(10);
    rows.push_back({std::stoull(f[0]), f[1], f[2], f[3], f[4], f[5], f[6], f[7], f[8], f[9]});
  }
  return rows;
}

// socklab's view of a capture: one analysed packet per frame, as records and lines.
struct Frame {
  socklab::capture::PacketRecord record;
  std::string line;     // the tcpdump-style line
  std::string json;     // the fast JSON path
  std::string notes;
};

inline std::vector<Frame> socklab_view(const fs::path& capture, bool absolute = false) {
  using namespace socklab::capture;
  auto reader = PcapReader::open(capture.string());
  if (!reader) throw std::runtime_error(reader.error());
  PacketAnalyzer an(reader->link(), {.absolute_seq = absolute});
  std::vector<Frame> out;
  TextBuffer b;
  while (auto p = reader->next()) {
    const AnalyzedPacket& a = an.next(p->ts_ns, p->bytes, p->wire_len);
    Frame f;
    f.record = make_record(a);
    b.clear();
    append_json(b, a);
    f.json = fmt::to_string(b);
    b.clear();
    append_notes(b, a);
    f.notes = fmt::to_string(b);
    f.line = f.record.line;
    out.push_back(std::move(f));
  }
  if (reader->damaged()) throw std::runtime_error(reader->damage());
  return out;
}

}  // namespace golden

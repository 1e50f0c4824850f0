// The fuzz targets' checks (fuzz/*_oracle.cpp) in the ordinary test suite: on
// every committed capture and on frames of every codec setting, and on each
// input a fuzzer ever found failing (kept here as bytes, one section each).
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "framing_oracle.hpp"
#include "fuzz_input.hpp"
#include "packet_oracle.hpp"
#if SOCKLAB_HAVE_PCAP  // the committed captures are read with libpcap
#include "socklab/capture/pcap_reader.hpp"
#endif

namespace fuzz = socklab::fuzz;

namespace {

#if SOCKLAB_HAVE_PCAP
std::vector<std::filesystem::path> capture_files() {
  std::vector<std::filesystem::path> out;
  for (const char* sub : {"captures", "corpus"}) {
    for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(SOCKLAB_TESTDATA_DIR) / sub)) {
      const auto ext = e.path().extension();
      if (ext == ".pcap" || ext == ".pcapng") out.push_back(e.path());
    }
  }
  std::sort(out.begin(), out.end());
  return out;
}
#endif

std::span<const std::byte> bytes_of(std::string_view s) { return std::as_bytes(std::span(s.data(), s.size())); }

}  // namespace

#if SOCKLAB_HAVE_PCAP
TEST_CASE("the packet checks hold on every committed capture", "[hardening][fuzz]") {
  const auto files = capture_files();
  REQUIRE(files.size() > 40);
  for (const auto& file : files) {
    INFO(file.string());
    auto reader = socklab::capture::PcapReader::open(file.string());
    REQUIRE(reader);
    std::vector<std::uint8_t> input{fuzz::link_type_byte(reader->link())};
    while (auto p = reader->next()) fuzz::append_packet_frame(input, p->bytes, p->wire_len, 1);
    fuzz::check_packets(input);  // aborts (fails the test) on a broken rule
    // The same frames under every other link type: garbage to those decoders.
    for (std::uint8_t other = 0; other < fuzz::link_types().size(); ++other) {
      input[0] = other;
      fuzz::check_packets(input);
    }
  }
}

#endif

TEST_CASE("the framing checks hold for every codec setting and several cuts", "[hardening][fuzz]") {
  const std::vector<std::string> lines{"hello", "", "你好，服务器", std::string(300, 'x'), "aab", "END\r\n", "last"};
  const std::vector<std::vector<std::uint8_t>> cuts{{}, {6}, {0, 2, 200}, {255}};
  for (unsigned settings = 0; settings < 256; ++settings) {
    const auto s = static_cast<std::uint8_t>(settings);
    INFO("settings " << settings);
    std::vector<std::byte> length_prefixed, delimited, fixed, files;
    for (const auto& line : lines) {
      (void)fuzz::length_prefix_codec(s).encode(line, length_prefixed);
      (void)fuzz::delimiter_codec(s).encode(line, delimited);
      (void)fuzz::fixed_length_codec(s).encode(line, fixed);
      (void)fuzz::header_body_codec(s).encode({{"file_name", "x"}}, bytes_of(line), files);
    }
    for (const auto& cut : cuts) {
      fuzz::check_length_prefix(fuzz::make_framing_input(s, cut, length_prefixed));
      fuzz::check_delimiter(fuzz::make_framing_input(s, cut, delimited));
      fuzz::check_fixed_length(fuzz::make_framing_input(s, cut, fixed));
      fuzz::check_header_body(fuzz::make_framing_input(s, cut, files));
      // Cut short: every stream ends inside a frame somewhere.
      const auto half = [](const std::vector<std::byte>& v) { return std::span(v).first(v.size() / 2); };
      fuzz::check_length_prefix(fuzz::make_framing_input(s, cut, half(length_prefixed)));
      fuzz::check_delimiter(fuzz::make_framing_input(s, cut, half(delimited)));
      fuzz::check_header_body(fuzz::make_framing_input(s, cut, half(files)));
    }
  }
}

TEST_CASE("absurd frame headers are errors for every prefix shape, however they arrive", "[hardening][fuzz]") {
  const std::vector<std::vector<std::uint8_t>> headers{
      {0x80, 0x00, 0x00, 0x00},  // 2 GiB big-endian, or a tiny little-endian length
      {0x00, 0x00, 0x00, 0x80},  // the same, the other way round
      {0xff, 0xff, 0xff, 0xff},  // -1 signed, 4 GiB - 1 unsigned
      {0x7f, 0xff, 0xff, 0xff},  // 2 GiB - 1
      {0x00, 0x00},              // a header that never completes (at EOF)
  };
  for (unsigned settings = 0; settings < 32; ++settings) {
    for (const auto& h : headers) {
      const auto stream = std::as_bytes(std::span(h));
      for (const std::vector<std::uint8_t>& cut : {std::vector<std::uint8_t>{}, std::vector<std::uint8_t>{255}}) {
        const auto input = fuzz::make_framing_input(static_cast<std::uint8_t>(settings), cut, stream);
        fuzz::check_length_prefix(input);
        fuzz::check_header_body(input);
      }
    }
  }
}

// Inputs the fuzzers found failing, with the fix each led to. Each is also in
// the CI's fuzz corpus, so the fuzzer starts from it. (None so far: the fuzz
// stage in .ci/stages/30-fuzz adds its crashes here, as bytes.)
TEST_CASE("fuzzer findings stay fixed", "[hardening][fuzz]") {
  SECTION("the empty input and one byte reach every target") {
    for (const std::vector<std::uint8_t>& input : {std::vector<std::uint8_t>{}, std::vector<std::uint8_t>{0}}) {
      fuzz::check_packets(input);
      fuzz::check_length_prefix(input);
      fuzz::check_delimiter(input);
      fuzz::check_fixed_length(input);
      fuzz::check_header_body(input);
    }
  }
}

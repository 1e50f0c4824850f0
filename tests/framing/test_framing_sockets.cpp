// The codecs over real loopback TCP connections (port 0).
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "alloc_probe.hpp"
#include "framing_test_support.hpp"
#include "net_helpers.hpp"
#include "socklab/net/framing.hpp"

using namespace socklab::net;
using namespace socklab::test;
using namespace std::chrono_literals;

namespace {

DelimiterCodec lines_codec() {
  auto codec = DelimiterCodec::create("\n", 1024);
  REQUIRE(codec);
  return std::move(*codec);
}

// Bytes a "file" of n bytes holds in the interop tests: bytes(range(256)) repeated.
std::vector<std::byte> pattern(std::size_t n) {
  std::vector<std::byte> out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(i % 256);
  return out;
}

}  // namespace

TEST_CASE("write_frame and read_frame carry frames of every size, then see a clean EOF", "[framing][sockets]") {
  auto pair = tcp_pair();
  const LengthPrefixCodec codec(LengthPrefix::network_uint32());
  const std::vector<std::size_t> sizes = {0, 1, 5, 1000, 200 * 1024, 3};
  // A thread sends: 200 KiB may not fit the socket buffers before the reader reads.
  std::vector<std::string> send_errors;
  std::jthread sender([&] {
    for (const std::size_t n : sizes)
      if (auto r = write_frame(pair.client, codec, pattern(n)); !r) send_errors.push_back(r.error().message());
    if (auto r = pair.client.shutdown_write(); !r) send_errors.push_back(r.error().message());
  });
  for (const std::size_t n : sizes) {
    auto frame = read_frame(pair.server, codec);
    REQUIRE(frame);
    REQUIRE(frame->has_value());
    CHECK(**frame == pattern(n));
  }
  auto eof = read_frame(pair.server, codec);
  REQUIRE(eof);
  CHECK_FALSE(eof->has_value());
  sender.join();
  CHECK(send_errors.empty());
}

TEST_CASE("read_frame: a peer that closes mid-frame gives eof_in_frame", "[framing][sockets]") {
  const LengthPrefixCodec codec(LengthPrefix::native_int32());
  SECTION("inside the prefix") {
    auto pair = tcp_pair();
    REQUIRE(pair.client.send_all(from_hex("0a 00")));
    REQUIRE(pair.client.shutdown_write());
    auto r = read_frame(pair.server, codec);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::eof_in_frame);
    CHECK_THAT(r.error().message(), Catch::Contains("2 of 4 length-prefix bytes"));
  }
  SECTION("inside the payload") {
    auto pair = tcp_pair();
    REQUIRE(pair.client.send_all(from_hex("0a 00 00 00 61 62 63")));
    REQUIRE(pair.client.shutdown_write());
    auto r = read_frame(pair.server, codec);
    REQUIRE_FALSE(r);
    CHECK(r.error().code == errc::eof_in_frame);
    CHECK_THAT(r.error().message(), Catch::Contains("3 of 10 payload bytes"));
  }
}

TEST_CASE("read_frame: a 2 GiB prefix from the peer is refused before allocating", "[framing][sockets]") {
  auto pair = tcp_pair();
  const LengthPrefixCodec codec(LengthPrefix::network_uint32(), 64 * 1024);
  REQUIRE(pair.client.send_all(from_hex("80 00 00 00 ff ff")));
  AllocationProbe probe;
  auto r = read_frame(pair.server, codec);
  const auto stats = probe.stats();
  REQUIRE_FALSE(r);
  CHECK(r.error().code == errc::frame_too_large);
  CHECK_THAT(r.error().message(), Catch::Contains("2147483648") && Catch::Contains("65536"));
  CHECK(stats.largest < 1024);
}

TEST_CASE("FrameReader hands out lines one at a time, however they were sent", "[framing][sockets]") {
  auto pair = tcp_pair();
  REQUIRE(pair.client.set_nodelay(true));
  const std::vector<std::string> lines = {"hello", "", "sticky", "packets", std::string(1000, 'L')};
  const auto codec = lines_codec();
  std::vector<std::byte> wire;
  for (const auto& l : lines) REQUIRE(codec.encode(l, wire));

  std::vector<std::string> send_errors;
  std::jthread sender([&] {
    // First copy a byte per send(), then the whole stream in one send().
    for (const std::byte b : wire)
      if (auto r = pair.client.send_all(std::span(&b, 1)); !r) send_errors.push_back(r.error().message());
    if (auto r = pair.client.send_all(wire); !r) send_errors.push_back(r.error().message());
    if (auto r = pair.client.shutdown_write(); !r) send_errors.push_back(r.error().message());
  });
  FrameReader reader(codec, 256);  // smaller than the long line: it spans several recv() calls
  std::vector<std::string> got;
  for (;;) {
    auto frame = reader.next(pair.server);
    REQUIRE(frame);
    if (!frame->has_value()) break;
    got.emplace_back((*frame)->text());
  }
  sender.join();
  CHECK(send_errors.empty());
  std::vector<std::string> twice = lines;
  twice.insert(twice.end(), lines.begin(), lines.end());
  CHECK(got == twice);
}

TEST_CASE("FrameReader: a header that never completes times out, the reader stays usable",
          "[framing][sockets]") {
  auto pair = tcp_pair();
  FrameReader reader(LengthPrefixCodec(LengthPrefix::network_uint32()));
  REQUIRE(pair.client.send_all(from_hex("00 00")));
  // The two bytes are in the server's receive queue before the reader waits.
  REQUIRE(pair.server.wait_for_bytes(2, 5s));
  auto slow = reader.next(pair.server, 100ms);
  REQUIRE_FALSE(slow);
  CHECK(slow.error().code == errc::timed_out);
  CHECK_THAT(slow.error().message(), Catch::Contains("100 ms"));
  CHECK(reader.codec().in_frame());

  REQUIRE(pair.client.send_all(from_hex("00 02 6f 6b")));
  auto frame = reader.next(pair.server, 5s);
  REQUIRE(frame);
  REQUIRE(frame->has_value());
  CHECK((*frame)->text() == "ok");

  REQUIRE(pair.client.send_all(from_hex("00 00 00 09 61")));
  REQUIRE(pair.client.shutdown_write());
  auto cut = reader.next(pair.server, 5s);
  REQUIRE_FALSE(cut);
  CHECK(cut.error().code == errc::eof_in_frame);
}

TEST_CASE("header+body: a file from Python's classic client, received in streamed pieces",
          "[framing][sockets][python]") {
  auto listener = value_or_throw(TcpListener::bind(Endpoint::loopback_v4(0)));
  const std::string port = std::to_string(listener.endpoint().port());
  // The classic course's client: struct.pack('i', len(header)), the JSON header, the file in pieces.
  const std::string script = R"(import json, socket, struct, sys
body = bytes(range(256)) * 1000
header = json.dumps({"file_name": "video.mp4", "file_size": len(body)}).encode("utf-8")
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
s.sendall(struct.pack("i", len(header)))
s.sendall(header)
for i in range(0, len(body), 4096):
    s.sendall(body[i:i + 4096])
s.close())";
  std::string command = "python3 -c '" + script + "' " + port;
  FILE* client = ::popen(command.c_str(), "r");
  REQUIRE(client != nullptr);

  auto accepted = listener.accept(10s);
  REQUIRE(accepted);
  FrameReader reader(HeaderBodyCodec{});
  std::vector<std::byte> body;
  int headers = 0;
  int ends = 0;
  for (;;) {
    auto part = reader.next(accepted->stream, 10s);
    REQUIRE(part);
    if (!part->has_value()) break;
    const auto& p = **part;
    if (p.kind == HeaderBodyCodec::Part::Kind::header) ++headers;
    if (p.kind == HeaderBodyCodec::Part::Kind::body) body.insert(body.end(), p.data.begin(), p.data.end());
    if (p.kind == HeaderBodyCodec::Part::Kind::end) ++ends;
  }
  CHECK(::pclose(client) == 0);
  CHECK(headers == 1);
  CHECK(ends == 1);
  CHECK(reader.codec().header().at("file_name") == "video.mp4");
  CHECK(body == pattern(256000));
}

TEST_CASE("header+body: Python's classic server reads a file socklab sends", "[framing][sockets][python]") {
  // The server prints its port, then what it received.
  const std::string script = R"(import json, socket, struct
srv = socket.socket()
srv.bind(("127.0.0.1", 0))
srv.listen(1)
print(srv.getsockname()[1], flush=True)
conn, _ = srv.accept()
def recv_exact(n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise SystemExit("closed early")
        data += chunk
    return data
header_len = struct.unpack("i", recv_exact(4))[0]
header = json.loads(recv_exact(header_len).decode("utf-8"))
body = recv_exact(header["file_size"])
print(header["file_name"], len(body), body == bytes(range(256)) * 300))";
  std::string command = "python3 -c '" + script + "'";
  FILE* server = ::popen(command.c_str(), "r");
  REQUIRE(server != nullptr);
  char line[256] = {};
  REQUIRE(std::fgets(line, sizeof line, server) != nullptr);
  const auto port = static_cast<std::uint16_t>(std::stoi(line));

  auto stream = value_or_throw(TcpStream::connect(Endpoint::loopback_v4(port)));
  const HeaderBodyCodec codec;
  const auto body = pattern(76800);
  std::vector<std::byte> header;
  REQUIRE(codec.encode_header({{"file_name", "report.pdf"}}, body.size(), header));
  REQUIRE(stream.send_all(header));
  for (std::size_t i = 0; i < body.size(); i += 10000)  // the body streamed in pieces
    REQUIRE(stream.send_all(std::span(body).subspan(i, std::min<std::size_t>(10000, body.size() - i))));
  REQUIRE(stream.close());

  std::string result;
  while (std::fgets(line, sizeof line, server) != nullptr) result += line;
  CHECK(::pclose(server) == 0);
  CHECK(result == "report.pdf 76800 True\n");
}

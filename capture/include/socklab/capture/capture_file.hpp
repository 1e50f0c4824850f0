// Where a capture file may be written, and in which format: the rules every
// `-w FILE` follows (socklab-capture record and every demo), written once.
//
// - The file appears whole: it is written under a temporary name beside the
//   target (".NAME.PID-N-M.part") and renamed into place at the end.
// - Only a regular file is ever replaced. A target that exists and is a
//   directory, a device, a FIFO or a socket is refused, naming what it is.
// - A symbolic link is followed, as the shell's `>` and `tcpdump -w` do: the
//   file it points to is written (and replaced), the link stays a link. A link
//   that points to a directory, a device... is refused like that thing itself.
// - Temporary files of processes that no longer exist (a recorder killed with
//   SIGKILL) are removed when the next capture file is written beside them;
//   those of live processes are never touched.
#pragma once

#include <filesystem>

#include "socklab/net/error.hpp"

namespace socklab::capture {

enum class CaptureFormat { pcap, pcapng };

// pcapng when the name ends in ".pcapng" (any case), else classic pcap.
CaptureFormat capture_format_for(const std::filesystem::path& path) noexcept;

// The file that writing a capture to `path` will create or replace (the
// symlink's target when `path` is a link), after checking that it can: the
// name is not empty, nothing but a regular file is there, the directory exists
// and this process may create files in it. Call it before capturing, so a bad
// -w is reported before the first packet.
net::Result<std::filesystem::path> capture_file_target(const std::filesystem::path& path);

}  // namespace socklab::capture

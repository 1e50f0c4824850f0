// Where a file socklab writes may go, and in which format: the rules every
// `-w FILE` (socklab-capture record and every demo) and every `--html FILE`
// (the demos, socklab-capture read) follow, written once.
//
// - The file appears whole: it is written under a temporary name beside the
//   target (".NAME.PID-N-M.part") and renamed into place at the end.
// - Only a regular file is ever replaced. A target that exists and is a
//   directory, a device, a FIFO or a socket is refused, naming what it is.
// - A symbolic link is followed, as the shell's `>` and `tcpdump -w` do: the
//   file it points to is written (and replaced), the link stays a link. A link
//   that points to a directory, a device... is refused like that thing itself.
// - It is flushed to the disk (fsync) before the rename, so after a crash the
//   name holds the old file or the new one, whole.
// - Temporary files of processes that no longer exist (a recorder killed with
//   SIGKILL) are removed when the next capture file is written beside them;
//   those of live processes are never touched.
#pragma once

#include <filesystem>
#include <string_view>

#include "socklab/net/error.hpp"

namespace socklab::capture {

enum class CaptureFormat { pcap, pcapng };

// pcapng when the name ends in ".pcapng" (any case), else classic pcap.
CaptureFormat capture_format_for(const std::filesystem::path& path) noexcept;

// The file that writing to `path` will create or replace (the symlink's
// target when `path` is a link), after checking that it can: the name is not
// empty, nothing but a regular file is there, the directory exists and this
// process may create files in it. `what` names the file in messages ("capture
// file", "HTML page"). Call it before capturing or running a lesson, so a bad
// -w or --html is reported before any work is done.
net::Result<std::filesystem::path> output_file_target(const std::filesystem::path& path, std::string_view what);

// Writes `content` to `path` by these rules (the same temporary file, fsync and
// rename as a capture file): whole, or not at all and the error says why.
net::Result<void> write_output_file(const std::filesystem::path& path, std::string_view content, std::string_view what);

}  // namespace socklab::capture

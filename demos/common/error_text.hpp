// A lib error (net::Error: "connect 127.0.0.1:5000: Connection refused") in the
// lesson's language. glibc's strerror() texts are English whatever --lang says;
// the texts here come from lessons/<lang>/common.md ("errno.*" notes).
#pragma once

#include <exception>
#include <string>

#include "lesson.hpp"
#include "socklab/net/error.hpp"

namespace socklab::demo {

// The reason alone: "Connection refused", in Chinese "连接被拒绝".
std::string errno_text(int err, const Lesson& common, Lang lang);
// "call context: reason". The context stays when it names a call and its
// address ("connect 127.0.0.1:5000"); in Chinese an English context (lib's
// "read frame") or detail ("no connection within 10000 ms") is left out
// rather than shown untranslated.
std::string error_text(const net::Error& e, const Lesson& common, Lang lang);
// What a lesson that stopped with `e` prints after "the lesson stopped:": a lib
// error it carries (DemoFailure from must(), a lab's LabError) through
// error_text; any other exception's text as it is (the lesson's own notes are
// in its language already).
std::string failure_text(const std::exception& e, const Lesson& common, Lang lang);

}  // namespace socklab::demo

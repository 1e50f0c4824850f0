// The notes the shared plumbing prints, from lessons/<lang>/common.md.
#pragma once

#include <array>
#include <string_view>

#include "note_key.hpp"

namespace socklab::demo {

inline constexpr std::array<std::string_view, 165> kCommonNoteKeys{
    "server_only_hint",
    "address_not_here", "port_privileged",
    "port_in_use",      "server_waiting",  "server_failed",   "this_machine_address",
    "no_capture_support", "see_wire",      "capture_stats",   "capture_problem",
    "summary_heading",  "timeline_heading", "verdict_differs", "why",
    "failed",           "kernel_drops",    "pcap_written",    "client_only_hint",
    "no_packets",       "capture_armed",
    "capture_armed_first", "html_written", "html_failed",
    // the ladder's [analysis] marks, explained below it (report.cpp: kAnalysisNotes)
    "analysis_heading", "analysis_retransmission", "analysis_fast_retransmission", "analysis_spurious_retransmission", "analysis_out_of_order", "analysis_lost_segment", "analysis_ack_lost_segment", "analysis_dup_ack", "analysis_zero_window", "analysis_zero_window_probe", "analysis_zero_window_probe_ack", "analysis_window_full", "analysis_window_update", "analysis_keep_alive", "analysis_keep_alive_ack",
    "mark_retransmission", "mark_fast_retransmission", "mark_spurious_retransmission", "mark_out_of_order", "mark_lost_segment", "mark_ack_lost_segment", "mark_dup_ack", "mark_zero_window", "mark_zero_window_probe", "mark_zero_window_probe_ack", "mark_window_full", "mark_window_update", "mark_keep_alive", "mark_keep_alive_ack", "mark_malformed",
    // the comments of a pcapng file (Session::write_capture_file)
    "pcapng_section", "pcapng_phase", "pcapng_analysis", "pcapng_calls", "pcapng_client", "pcapng_server",
    "pcapng_participant", "timeline_heading_columns",
    "capture_not_permitted", "lab_missing_privilege",
    "server_loopback_only", "server_addresses", "server_no_address", "capture_row", "accept_queue_row",
    // the ladder's own words in the run's language (report.cpp: ladder_words)
    "ladder_client", "ladder_server", "phase_handshake", "phase_syn_retransmission", "phase_data", "phase_ack",
    "phase_teardown", "phase_reset", "phase_refused", "phase_datagram", "phase_unreachable", "phase_fragment",
    // --quiz (quiz.cpp)
    "quiz_intro", "quiz_expect_number", "quiz_expect_choice", "quiz_again", "quiz_heading", "quiz_line",
    "quiz_unobserved", "quiz_score", "quiz_no_terminal", "quiz_count", "quiz_bad_answer", "quiz_none", "quiz_no_answer",
    "no_server",  // a lone client's connect() refused (demo.cpp)
    // a server that serves a class (classroom.cpp)
    "class_serving", "class_student", "class_summary", "class_summary_so_far", "class_nobody", "class_point",
    "class_differed", "class_differed_why", "serve_needs_server", "class_failed", "class_capture", "class_one_client", "class_no_file",
    // a UDP class (classroom.cpp, session.cpp)
    "class_ended_datagram", "class_no_connection_from_port",
    // a class whose students make two connections (classroom.cpp, session.cpp)
    "class_ended", "second_bind", "second_announce", "second_announced", "second_no_announcement", "second_ports_differ",
    "second_port_taken", "second_not_come",
    // a class that gives each student's run a socket of its own: the plan its client reads (session.cpp)
    "class_plan_silent", "class_plan_left", "class_plan_message",
    "packet_unreachable", "packet_fragment", "packet_fragment_more", "usage_hint", "bad_arguments",
    // lib's errors in the lesson's language (error_text.cpp)
    "error_in_call", "error_other", "errno.econnrefused", "errno.econnreset", "errno.epipe", "errno.etimedout",
    "errno.ehostunreach", "errno.enetunreach", "errno.econnaborted", "errno.eaddrinuse", "errno.eaddrnotavail",
    "errno.eacces", "errno.eperm", "errno.emfile", "errno.enfile", "errno.enobufs", "errno.enomem",
    "errc.invalid_endpoint", "errc.frame_too_large", "errc.malformed_frame", "errc.eof_in_frame", "errc.timed_out",
    "errc.not_supported",
    // the flags' own checks (options.cpp: finish), in the run's language
    "file_capture", "file_html", "file_is_directory", "file_not_regular", "file_not_writable", "file_no_directory", "file_not_in_directory", "file_link_loop", "file_unwritable", "pcapng_needs_file", "client_needs_port", "listen_for_server", "host_for_client", "address_wrong_family", "address_unknown",
    "log_dropped",  // a program's log that had to drop lines (live_log.cpp)
};
using CommonNote = Key<kCommonNoteKeys>;

}  // namespace socklab::demo

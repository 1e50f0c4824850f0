// socklab-capture: record loopback traffic into pcap files and read captures
// back as tcpdump-style lines, JSON lines, a layered view or a ladder diagram.
#include <CLI/CLI.hpp>

#include "commands.hpp"
#include "socklab/cli/docs.hpp"
#include "socklab/cli/version.hpp"
#include "socklab/cli/help_format.hpp"

int main(int argc, char** argv) {
  CLI::App app{
      "socklab-capture: record the traffic of socket programs and read captures back,\n"
      "with each TCP segment's role (handshake, data, teardown...) and Wireshark's analysis."};
  app.name("socklab-capture");  // the man page and completion are for this name, whatever argv[0] is
  socklab::cli::use_wrapping_help(app);  // before the subcommands, which inherit it
  app.require_subcommand(1);
  app.footer("Run `socklab-capture read --help` or `socklab-capture record --help` for examples.");
  int exit_code = 0;
  add_read_command(app, exit_code);
#ifdef SOCKLAB_HAVE_RECORD_COMMAND
  add_record_command(app, exit_code);
#endif
  socklab::cli::add_version_flag(app);
  socklab::cli::add_doc_flags(app, [] {
    return socklab::cli::ManPageInfo{.see_also = {"demo-handshake(1)", "tcpdump(8)", "tshark(1)", "pcap-filter(7)"}};
  });
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help exits 0; every usage error exits 2, whatever CLI11's own code is.
    return app.exit(e) == 0 ? 0 : 2;
  }
  return exit_code;
}

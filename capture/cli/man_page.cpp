// The man page of a CLI::App, in man(7) macros. Text is escaped for roff: a
// backslash, a leading '.' or '\'', and every character outside ASCII (written as
// \[uXXXX], so groff needs no preconv and no locale to render Chinese or a dash).
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "app_view.hpp"
#include "socklab/cli/docs.hpp"
#include "socklab/cli/version.hpp"

namespace socklab::cli {

namespace {

using detail::OptionView;

// Decodes one UTF-8 sequence at s[i]; advances i. Invalid bytes come out as U+FFFD.
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
  const auto b0 = static_cast<unsigned char>(s[i++]);
  if (b0 < 0x80) return b0;
  int extra = b0 >= 0xf0 ? 3 : b0 >= 0xe0 ? 2 : b0 >= 0xc0 ? 1 : -1;
  if (extra < 0) return 0xfffd;
  std::uint32_t cp = b0 & (0x3fu >> extra);
  for (; extra > 0; --extra) {
    if (i >= s.size() || (static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) return 0xfffd;
    cp = (cp << 6) | (static_cast<unsigned char>(s[i++]) & 0x3fu);
  }
  return cp;
}

// Escapes text for a roff text line or macro argument. `code`: every '-' is a
// minus sign (\-), as in flags and commands a reader may copy.
std::string roff(std::string_view text, bool code = false) {
  std::string out;
  for (std::size_t i = 0; i < text.size();) {
    const std::uint32_t cp = next_code_point(text, i);
    if (cp == '\\') {
      out += "\\e";
    } else if (cp == '-' && code) {
      out += "\\-";
    } else if (cp == '"') {
      out += "\\(dq";
    } else if (cp == '\t') {
      out += ' ';
    } else if (cp < 0x20) {
      continue;  // control characters have no place in a page
    } else if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else {
      out += fmt::format("\\[u{:04X}]", cp);
    }
  }
  // A text line beginning with '.' or '\'' would be read as a request.
  if (!out.empty() && (out.front() == '.' || out.front() == '\'')) out.insert(0, "\\&");
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> lines_of(std::string_view text) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= text.size()) {
    const std::size_t end = text.find('\n', start);
    out.emplace_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return out;
}

// Free text as --help shows it (a description, a footer): lines that begin with a
// space keep their layout (examples, tables of exit codes); the others are filled
// into paragraphs, a blank line ending one.
void prose(std::string& out, std::string_view text) {
  std::string paragraph;
  std::vector<std::string> verbatim;
  const auto flush = [&] {
    if (!paragraph.empty()) out += ".PP\n" + roff(paragraph) + "\n";
    paragraph.clear();
    if (!verbatim.empty()) {
      out += ".RS\n.nf\n";
      for (const auto& v : verbatim) out += roff(v, true) + "\n";
      out += ".fi\n.RE\n";
    }
    verbatim.clear();
  };
  for (const auto& line : lines_of(text)) {
    const std::string t = trim(line);
    if (t.empty()) {
      flush();
    } else if (std::isspace(static_cast<unsigned char>(line.front()))) {
      if (!paragraph.empty()) {
        out += ".PP\n" + roff(paragraph) + "\n";
        paragraph.clear();
      }
      verbatim.push_back(t);
    } else {
      if (!verbatim.empty()) flush();
      paragraph += (paragraph.empty() ? "" : " ") + t;
    }
  }
  flush();
}

void option_entry(std::string& out, const OptionView& o) {
  std::string tag;
  for (const auto& n : o.names) tag += (tag.empty() ? "" : ", ") + fmt::format("\\fB{}\\fR", roff(n, true));
  if (o.positional) tag = fmt::format("\\fI{}\\fR", roff(o.names.front(), true));
  else if (o.takes_value) tag += fmt::format(" \\fI{}\\fR", roff(o.value_name, true));
  out += ".TP\n" + tag + "\n" + roff(trim(o.description)) + "\n";
}

// The options of `app`, under a subheading per group when there is more than one.
void options(std::string& out, const CLI::App& app, bool group_headings) {
  const auto all = detail::visible_options(app);
  std::vector<std::string> groups;
  for (const auto& o : all) {
    if (std::find(groups.begin(), groups.end(), o.group) == groups.end()) groups.push_back(o.group);
  }
  for (const auto& g : groups) {
    if (group_headings && groups.size() > 1) out += fmt::format(".SS \"{}\"\n", roff(g));
    for (const auto& o : all) {
      if (o.group == g) option_entry(out, o);
    }
  }
}

std::string synopsis_words(const CLI::App& app) {
  std::string s;
  for (const auto& o : detail::visible_options(app)) {
    if (o.positional) s += fmt::format(" \\fI{}\\fR", roff(o.names.front(), true));
  }
  return s;
}

// "Lesson 1, the handshake" from "demo-handshake: Lesson 1, the handshake": the
// description's first paragraph, on one line, without the program's name.
std::string summary(const CLI::App& app) {
  std::string d;
  for (const auto& line : lines_of(app.get_description())) {
    const std::string t = trim(line);
    if (t.empty()) break;
    d += (d.empty() ? "" : " ") + t;
  }
  const std::string prefix = app.get_name() + ": ";
  if (d.starts_with(prefix)) d.erase(0, prefix.size());
  return d;
}

std::string upper(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

std::string man_page(const CLI::App& app, const ManPageInfo& info) {
  const std::string name = app.get_name();
  const auto subs = detail::visible_subcommands(app);
  std::string out;
  out += fmt::format(".\\\" Generated by `{} --man-page` from its command-line definition; do not edit.\n", name);
  out += fmt::format(".TH \"{}\" \"1\" \"\" \"socklab {}\" \"socklab manual\"\n", roff(upper(name), true),
                     roff(project_version()));
  out += ".nh\n";  // no hyphenation: flags, paths and commands are copied as printed
  out += ".SH NAME\n" + roff(name, true) + " \\- " + roff(summary(app)) + "\n";

  out += ".SH SYNOPSIS\n";
  if (subs.empty()) {
    out += fmt::format("\\fB{}\\fR [\\fIOPTIONS\\fR]{}\n", roff(name, true), synopsis_words(app));
  } else {
    for (const CLI::App* sub : subs) {
      out += fmt::format(".br\n\\fB{} {}\\fR [\\fIOPTIONS\\fR]{}\n", roff(name, true), roff(sub->get_name(), true),
                         synopsis_words(*sub));
    }
  }

  out += ".SH DESCRIPTION\n";
  prose(out, info.description.empty() ? app.get_description() : info.description);

  if (!detail::visible_options(app).empty()) {
    out += ".SH OPTIONS\n";
    options(out, app, true);
  }
  if (!subs.empty()) {
    out += ".SH COMMANDS\n";
    for (const CLI::App* sub : subs) {
      out += fmt::format(".SS \"{} {}\"\n", roff(name, true), roff(sub->get_name(), true));
      prose(out, sub->get_description());
      options(out, *sub, false);
      if (!sub->get_footer().empty()) prose(out, sub->get_footer());
    }
  }
  if (!info.examples.empty()) {
    out += ".SH EXAMPLES\n";
    for (const auto& example : info.examples) {
      const auto hash = example.find(" #");
      const std::string command = trim(example.substr(0, hash));
      const std::string comment = hash == std::string::npos ? "" : trim(example.substr(hash + 2));
      out += fmt::format(".TP\n\\fB{}\\fR\n{}\n", roff(command, true), comment.empty() ? "\\&" : roff(comment));
    }
  }
  if (!app.get_footer().empty()) {
    out += ".SH NOTES\n";
    prose(out, app.get_footer());
  }
  if (!info.files.empty()) {
    out += ".SH FILES\n";
    for (const auto& f : info.files) {
      const auto colon = f.find(": ");
      out += fmt::format(".TP\n\\fI{}\\fR\n{}\n", roff(f.substr(0, colon), true),
                         colon == std::string::npos ? "\\&" : roff(f.substr(colon + 2)));
    }
  }
  if (!info.see_also.empty()) {
    out += ".SH SEE ALSO\n";
    std::string refs;
    for (const auto& ref : info.see_also) {
      const auto paren = ref.find('(');
      refs += (refs.empty() ? "" : ",\n") + fmt::format("\\fB{}\\fR{}", roff(ref.substr(0, paren), true),
                                                         paren == std::string::npos ? "" : roff(ref.substr(paren)));
    }
    out += refs + "\n";
  }
  return out;
}

}  // namespace socklab::cli

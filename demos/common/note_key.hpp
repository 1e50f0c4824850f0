// Note keys: the names of the short texts a demo prints, checked at compile time.
//
// Every demo declares the keys it uses in one list; the lesson files of every
// language must define exactly those keys (`demo-X --check-notes` and the tests
// check that). A key spelled wrong in the code does not compile:
//
//   constexpr std::array<std::string_view, 2> kNoteKeys{"syn", "syn_ack"};
//   using Note = socklab::demo::Key<kNoteKeys>;
//   session.explain(Side::client, "connect", Note{"syn"});   // Note{"sin"}: compile error
#pragma once

#include <string_view>

namespace socklab::demo {

// A key known to be declared; only Key<> makes them.
class NoteKey {
 public:
  [[nodiscard]] constexpr std::string_view name() const noexcept { return name_; }

 protected:
  constexpr explicit NoteKey(std::string_view name) noexcept : name_(name) {}

 private:
  std::string_view name_;
};

template <const auto& Declared>
class Key : public NoteKey {
 public:
  // consteval: an undeclared key stops the compilation here.
  consteval Key(const char* name) : NoteKey(checked(name)) {}  // NOLINT: implicit on purpose

 private:
  static consteval std::string_view checked(std::string_view name) {
    for (std::string_view d : Declared) {
      if (d == name) return name;
    }
    throw "note key not in the demo's declared list";  // a compile error in a consteval call
  }
};

}  // namespace socklab::demo

// Appends a message head's text to a std::string through a plain cursor: a head is written per
// request in some thirty pieces, and a library append per piece (a call, its checks, a memcpy
// call) cost more than the rest of writing it. Room is made once, for the size the caller
// expects; a piece that does not fit grows it, so the expectation is a hint, never a limit.
#pragma once

#include <algorithm>
#include <cstring>
#include <string>
#include <string_view>

namespace waygate::http {

class HeadWriter {
 public:
  HeadWriter(std::string& out, size_t expected) : out_(out), at_(out.size()) {
    out_.resize(at_ + expected);
  }
  // The string ends where the writing did.
  ~HeadWriter() { out_.resize(at_); }
  HeadWriter(const HeadWriter&) = delete;
  HeadWriter& operator=(const HeadWriter&) = delete;

  // `text` must not point into the string written to (making room may move it).
  void put(std::string_view text) {
    if (text.empty()) return;  // a default string_view's data() is null: no memcpy from it
    if (out_.size() - at_ < text.size()) grow(text.size());
    std::memcpy(out_.data() + at_, text.data(), text.size());
    at_ += text.size();
  }
  void put(char c) {
    if (out_.size() == at_) grow(1);
    out_[at_++] = c;
  }
  // "name: value\r\n"
  void header(std::string_view name, std::string_view value) {
    put(name);
    put(": ");
    put(value);
    put("\r\n");
  }
  // Bytes written so far, counted from the string's start.
  size_t size() const { return at_; }
  // The bytes from `from` on, written already, in place (HTTP/2 names are lowercase).
  void lowercase_from(size_t from) {
    for (char* c = out_.data() + from; c != out_.data() + at_; ++c) {
      if (*c >= 'A' && *c <= 'Z') *c = static_cast<char>(*c + ('a' - 'A'));
    }
  }

 private:
  [[gnu::noinline]] void grow(size_t more) {
    out_.resize(std::max(out_.size() * 2, at_ + more + 256));
  }

  std::string& out_;
  size_t at_;
};

}  // namespace waygate::http

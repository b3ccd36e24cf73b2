// Appends a message head's text to a std::string through a plain cursor: a head is written per
// request in some thirty pieces, and a library append per piece (a call, its checks, a memcpy
// call) cost more than the rest of writing it. Room is made once, for the size the caller
// expects; a piece that does not fit grows it, so the expectation is a hint, never a limit.
#pragma once

#include <algorithm>
#include <cstdint>
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
  // `text` with its letters lowercase (HTTP/2 field names): eight bytes a step, since it runs for
  // every field of every response (SWAR: a byte's top bit marks it an uppercase ASCII letter, and
  // moved to 0x20 that bit makes it lowercase).
  void put_lowercase(std::string_view text) {
    if (out_.size() - at_ < text.size()) grow(text.size());
    char* to = out_.data() + at_;
    const char* from = text.data();
    const char* end = from + text.size();
    constexpr uint64_t kOnes = 0x0101010101010101;
    constexpr uint64_t kTopBits = 0x8080808080808080;
    for (; end - from >= 8; from += 8, to += 8) {
      uint64_t word;
      std::memcpy(&word, from, 8);
      uint64_t low = word & ~kTopBits;
      uint64_t from_a = low + kOnes * (0x80 - 'A');      // top bit set from 'A' up
      uint64_t past_z = low + kOnes * (0x80 - 'Z' - 1);  // and from just past 'Z' up
      uint64_t upper = (from_a ^ past_z) & ~word & kTopBits;
      word |= upper >> 2;
      std::memcpy(to, &word, 8);
    }
    for (; from != end; ++from, ++to)
      *to = (*from >= 'A' && *from <= 'Z') ? static_cast<char>(*from + ('a' - 'A')) : *from;
    at_ += text.size();
  }

 private:
  [[gnu::noinline]] void grow(size_t more) {
    out_.resize(std::max(out_.size() * 2, at_ + more + 256));
  }

  std::string& out_;
  size_t at_;
};

}  // namespace waygate::http

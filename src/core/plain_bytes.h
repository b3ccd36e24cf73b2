// Printable ASCII other than the quote and the backslash: the bytes a JSON string and a quoted
// text field in a log line hold as they are. Writers copy runs of them whole and escape the rest.
#pragma once

#include <array>
#include <cstddef>
#include <string_view>

namespace waygate {

// A table, as the test runs for every byte of every logged field. DEL, which JSON allows as it
// is, is not plain: these bytes end up in logs that people read in terminals.
inline constexpr std::array<bool, 256> kPlainBytes = [] {
  std::array<bool, 256> plain{};
  for (int byte = 0x20; byte < 0x7f; ++byte)
    plain[static_cast<size_t>(byte)] = byte != '"' && byte != '\\';
  return plain;
}();

inline bool is_plain_byte(unsigned char byte) {
  return kPlainBytes[byte];
}

// How many bytes at the start of `text` are plain. Tests eight bytes at a time: request targets
// and names are long runs of them.
size_t plain_prefix_length(std::string_view text);

// Splits `text` into runs of plain bytes, each handed to `copy_run`, and what lies between them:
// `escape` gets the rest of the text from a byte that is not plain, writes what stands for the
// start of it and returns how many bytes that took (at least one).
template <typename CopyRun, typename Escape>
void split_plain_runs(std::string_view text, CopyRun copy_run, Escape escape) {
  size_t i = 0;
  while (i < text.size()) {
    size_t run = plain_prefix_length(text.substr(i));
    copy_run(text.substr(i, run));
    i += run;
    if (i == text.size()) [[likely]]
      return;
    i += escape(text.substr(i));
  }
}

}  // namespace waygate

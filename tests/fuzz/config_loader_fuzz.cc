// Fuzzes the config loader and validator (routing/config_loader, routing/yaml) from bytes, as
// `waygate --check` or a reload reads an edited file: any text is loaded or refused with every
// error at its FILE:LINE:COL, never a crash or an escaped exception, and a config accepted builds
// a snapshot. waygate's own YAML reader and yaml-cpp agree on what a document holds when both read
// it.
//
// Input: the text of a config file.
#include <memory>
#include <string>

#include "fuzz_check.h"
#include "routing/config_loader.h"
#include "routing/snapshot.h"
#include "routing/yaml/parser.h"

namespace waygate::fuzz {
namespace {

constexpr std::string_view kSource = "/nonexistent-fuzz-dir/waygate.yaml";

// The same tree: kinds, scalars and sizes (marks may differ in where a node is said to start).
bool same_tree(const yaml::Node& a, const yaml::Node& b, int depth = 0) {
  if (depth > 64) return true;
  if (a.IsDefined() != b.IsDefined()) return false;
  if (!a.IsDefined()) return true;
  if (a.IsNull() != b.IsNull() || a.IsScalar() != b.IsScalar() ||
      a.IsSequence() != b.IsSequence() || a.IsMap() != b.IsMap()) {
    return false;
  }
  if (a.IsScalar()) return a.Scalar() == b.Scalar();
  if (a.IsNull()) return true;
  if (a.size() != b.size()) return false;
  auto left = a.begin();
  auto right = b.begin();
  for (; left != a.end() && right != b.end(); ++left, ++right) {
    if (a.IsMap()) {
      if (!same_tree(left->first, right->first, depth + 1)) return false;
      if (!same_tree(left->second, right->second, depth + 1)) return false;
    } else if (!same_tree(*left, *right, depth + 1)) {
      return false;
    }
  }
  return true;
}

}  // namespace
}  // namespace waygate::fuzz

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace waygate;
  std::string text(fuzz::as_text(data, size));
  // The loader reads files a config names (TLS keys, tokens); keep it off devices that never end.
  for (std::string_view device : {"/dev", "/proc", "/sys"}) {
    if (text.find(device) != std::string::npos) return 0;
  }

  routing::ConfigResult result = routing::load_config_text(text, std::string(fuzz::kSource));
  for (const std::string& error : result.errors) {
    FUZZ_CHECK(error.starts_with(std::string(fuzz::kSource) + ":"));
    FUZZ_CHECK(error.find('\n') == std::string::npos);
  }
  if (result.ok()) {
    FUZZ_CHECK(!result.config.listeners.empty());
    std::shared_ptr<const routing::Snapshot> snapshot = routing::build_snapshot(result.config);
    FUZZ_CHECK(snapshot != nullptr);
  }

  // The readers are compared on plain ASCII text only: yaml-cpp takes a leading FE FF as a UTF-16
  // byte order mark, and YAML allows no control bytes, so on other input both are right to differ.
  // Escapes and folded scalars are left out too: there yaml-cpp strays from YAML on purpose-known
  // points (tests/unit/yaml_parser_test.cc lists them).
  for (char c : text) {
    if ((c < 0x20 && c != '\n' && c != '\t') || c >= 0x7f || c == '\\' || c == '>') return 0;
  }
  yaml::FastReadResult fast = yaml::read_fast(text);
  // Only a mapping can be a config; yaml-cpp reads a top-level block scalar whose lines start at
  // column 0 as empty, where YAML (and waygate's reader) keeps them.
  if (fast.document && fast.document->root().IsMap()) {
    yaml::ParseResult reference = yaml::read_with_yaml_cpp(text);
    if (!reference.error)
      FUZZ_CHECK(fuzz::same_tree(fast.document->root(), reference.document.root()));
  }
  return 0;
}

// The fallback: yaml-cpp reads what waygate's reader leaves to it, and its tree is copied into a
// yaml::Document with the same marks.
#include <yaml-cpp/yaml.h>

#include "routing/yaml/parser.h"

namespace waygate::yaml {
namespace {

// Aliases can make a small text expand into a huge tree (or a cycle): both are refused.
constexpr int kMaxDepth = 256;
constexpr size_t kMaxNodes = size_t{1} << 26;

struct TooLarge {
  Mark mark;
};

class Converter {
 public:
  explicit Converter(Builder& builder) : builder_(builder) {}

  uint32_t convert(const YAML::Node& node, int depth) {
    Mark mark{node.Mark().line, node.Mark().column};
    if (depth > kMaxDepth || ++count_ > kMaxNodes) throw TooLarge{mark};
    switch (node.Type()) {
      case YAML::NodeType::Scalar:
        return builder_.add_decoded_scalar(node.Scalar(), mark);
      case YAML::NodeType::Sequence: {
        uint32_t index = builder_.open(Kind::kSequence, mark);
        for (const YAML::Node& item : node)
          builder_.add_child(convert(item, depth + 1));
        builder_.close();
        return index;
      }
      case YAML::NodeType::Map: {
        uint32_t index = builder_.open(Kind::kMap, mark);
        for (auto it = node.begin(); it != node.end(); ++it) {
          builder_.add_child(convert(it->first, depth + 1));
          builder_.add_child(convert(it->second, depth + 1));
        }
        builder_.close();
        return index;
      }
      default:
        return builder_.add_null(mark);
    }
  }

 private:
  Builder& builder_;
  size_t count_ = 0;
};

// yaml-cpp quotes the offending byte raw ("unknown escape character: " and a line feed); shown
// as \xNN it cannot break or forge a line of `waygate --check` output or of the log.
std::string printable(const std::string& message) {
  constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : message) {
    auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte > 0x7e) {
      out.append("\\x").push_back(kHex[byte >> 4]);
      out.push_back(kHex[byte & 0xf]);
    } else {
      out.push_back(c);
    }
  }
  return out;
}

}  // namespace

ParseResult read_with_yaml_cpp(std::string_view text) {
  ParseResult result;
  result.used_yaml_cpp = true;
  try {
    YAML::Node root = YAML::Load(std::string(text));
    Builder builder(text);
    uint32_t index = Converter(builder).convert(root, 0);
    result.document = builder.finish(index);
  } catch (const YAML::Exception& e) {
    result.error = ParseError{Mark{e.mark.line, e.mark.column}, printable(e.msg)};
  } catch (const TooLarge& e) {
    result.error = ParseError{e.mark,
                              "the document nests too deep or expands to too many nodes "
                              "(through aliases?)"};
  }
  return result;
}

}  // namespace waygate::yaml

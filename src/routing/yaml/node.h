// A parsed YAML document in a compact form: every node in one array, scalars as views into the
// source text (or into an arena when they had to be decoded), children as ranges of indices. The
// accessors mirror the part of YAML::Node the config loaders use, so a loader reads either alike.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace waygate::yaml {

// A position in the source, 0-based like YAML::Mark; -1 when a node has no place (undefined, or
// the root of an empty document).
struct Mark {
  int line = 0;
  int column = 0;
};

enum class Kind : uint8_t { kNull, kScalar, kSequence, kMap };

// One node. A scalar's text is `length` bytes at `offset` in the source, or in the arena when
// kInArena is set in offset; a collection's children are `count` indices from `offset` in the
// child list (a map's are key, value, key, value...; `count` is the number of pairs).
struct NodeData {
  uint32_t line;
  uint32_t column;
  uint32_t offset;
  uint32_t count;
  Kind kind;
};

inline constexpr uint32_t kInArena = 1u << 31;

// What a Document's nodes point into; it stays at one address while the Document moves, so nodes
// handed out earlier stay valid.
struct Storage {
  std::string_view source;
  std::string arena;
  std::vector<NodeData> nodes;
  std::vector<uint32_t> children;
};

class Iterator;

// A handle on one node of a Document (or an undefined node: what a missing key gives). Cheap to
// copy; valid while its Document lives. The names follow YAML::Node so loaders switch mechanically.
class Node {
 public:
  Node() = default;
  Node(const Storage* storage, uint32_t index) : storage_(storage), index_(index) {}

  bool IsDefined() const { return storage_ != nullptr; }
  explicit operator bool() const { return IsDefined(); }
  bool IsNull() const { return IsDefined() && data().kind == Kind::kNull; }
  bool IsScalar() const { return IsDefined() && data().kind == Kind::kScalar; }
  bool IsSequence() const { return IsDefined() && data().kind == Kind::kSequence; }
  bool IsMap() const { return IsDefined() && data().kind == Kind::kMap; }

  // The text of a scalar; empty for any other node.
  std::string_view Scalar() const;
  yaml::Mark Mark() const;
  // Items of a sequence, pairs of a map, 0 otherwise.
  size_t size() const;
  // The value under `key` in a map (the first, when a key repeats); undefined when absent or when
  // this is not a map. A linear scan: config maps are small.
  Node operator[](std::string_view key) const;

  // Over a sequence: each item. Over a map: each pair, as ->first and ->second.
  Iterator begin() const;
  Iterator end() const;

 private:
  const NodeData& data() const { return storage_->nodes[index_]; }

  const Storage* storage_ = nullptr;
  uint32_t index_ = 0;
};

// What an iterator yields: the item itself (a sequence), or a pair in first and second (a map).
struct Entry : Node {
  Node first;
  Node second;
};

class Iterator {
 public:
  Iterator(const Storage* storage, const uint32_t* child, bool pairs)
      : storage_(storage), child_(child), pairs_(pairs) {}

  Entry operator*() const;
  struct Arrow {
    Entry entry;
    const Entry* operator->() const { return &entry; }
  };
  Arrow operator->() const { return Arrow{**this}; }
  Iterator& operator++() {
    child_ += pairs_ ? 2 : 1;
    return *this;
  }
  bool operator==(const Iterator& other) const { return child_ == other.child_; }
  bool operator!=(const Iterator& other) const { return child_ != other.child_; }

 private:
  const Storage* storage_;
  const uint32_t* child_;
  bool pairs_;
};

// A whole document: owns the nodes, borrows the source text (which must outlive it).
class Document {
 public:
  Document() = default;
  Document(std::unique_ptr<Storage> storage, uint32_t root)
      : storage_(std::move(storage)), root_(root) {}

  // The root node; undefined for a default-constructed Document.
  Node root() const { return storage_ ? Node(storage_.get(), root_) : Node(); }
  size_t node_count() const { return storage_ ? storage_->nodes.size() : 0; }

 private:
  std::unique_ptr<Storage> storage_;
  uint32_t root_ = 0;
};

// Builds a Document node by node: scalars and nulls as they come, collections opened, filled with
// add_child, and closed. Used by the parser and by the yaml-cpp fallback.
class Builder {
 public:
  explicit Builder(std::string_view source);

  uint32_t add_null(Mark mark);
  // A scalar that is a slice of the source as written.
  uint32_t add_source_scalar(size_t offset, size_t length, Mark mark);
  // A scalar decoded into the arena.
  uint32_t add_decoded_scalar(std::string_view text, Mark mark);
  uint32_t open(Kind kind, Mark mark);
  void add_child(uint32_t index) { pending_.push_back(index); }
  void close();
  Document finish(uint32_t root);

 private:
  uint32_t add(Kind kind, Mark mark, uint32_t offset, uint32_t count);

  std::unique_ptr<Storage> storage_;
  struct Frame {
    uint32_t node;
    size_t first_pending;
  };
  std::vector<Frame> open_;
  std::vector<uint32_t> pending_;
};

}  // namespace waygate::yaml

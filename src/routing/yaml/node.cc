// The node accessors and the builder behind yaml::Document.
#include "routing/yaml/node.h"

#include <cstring>

namespace waygate::yaml {

std::string_view Node::Scalar() const {
  if (!IsScalar()) return {};
  const NodeData& node = data();
  if (node.offset & kInArena) {
    return std::string_view(storage_->arena).substr(node.offset & ~kInArena, node.count);
  }
  return storage_->source.substr(node.offset, node.count);
}

Mark Node::Mark() const {
  if (!IsDefined()) return yaml::Mark{-1, -1};
  const NodeData& node = data();
  return yaml::Mark{static_cast<int>(node.line), static_cast<int>(node.column)};
}

size_t Node::size() const {
  if (!IsSequence() && !IsMap()) return 0;
  return data().count;
}

Node Node::operator[](std::string_view key) const {
  if (!IsMap()) return Node();
  const NodeData& map = data();
  const uint32_t* child = storage_->children.data() + map.offset;
  // Loaders look up many keys a map does not hold: the length rules most out before any compare.
  for (uint32_t i = 0; i < map.count; ++i, child += 2) {
    const NodeData& candidate = storage_->nodes[child[0]];
    if (candidate.kind != Kind::kScalar || candidate.count != key.size()) continue;
    const char* text = candidate.offset & kInArena
                           ? storage_->arena.data() + (candidate.offset & ~kInArena)
                           : storage_->source.data() + candidate.offset;
    if (std::memcmp(text, key.data(), key.size()) == 0) return Node(storage_, child[1]);
  }
  return Node();
}

Iterator Node::begin() const {
  if (!IsSequence() && !IsMap()) return Iterator(nullptr, nullptr, false);
  return Iterator(storage_, storage_->children.data() + data().offset, IsMap());
}

Iterator Node::end() const {
  if (!IsSequence() && !IsMap()) return Iterator(nullptr, nullptr, false);
  const NodeData& node = data();
  bool pairs = node.kind == Kind::kMap;
  return Iterator(storage_, storage_->children.data() + node.offset + node.count * (pairs ? 2 : 1),
                  pairs);
}

Entry Iterator::operator*() const {
  Entry entry;
  if (pairs_) {
    entry.first = Node(storage_, child_[0]);
    entry.second = Node(storage_, child_[1]);
  } else {
    static_cast<Node&>(entry) = Node(storage_, child_[0]);
  }
  return entry;
}

Builder::Builder(std::string_view source) : storage_(std::make_unique<Storage>()) {
  storage_->source = source;
  // Config text runs 7 to 9 bytes to a node. Sized for 6 at once, the lists are not copied
  // as they grow: a config of 100,000 hosts has 2.5 million nodes, and each doubling held the
  // old list and the new one together.
  storage_->nodes.reserve(source.size() / 6);
  storage_->children.reserve(source.size() / 6);
}

uint32_t Builder::add(Kind kind, Mark mark, uint32_t offset, uint32_t count) {
  storage_->nodes.push_back(NodeData{static_cast<uint32_t>(mark.line),
                                     static_cast<uint32_t>(mark.column), offset, count, kind});
  return static_cast<uint32_t>(storage_->nodes.size() - 1);
}

uint32_t Builder::add_null(Mark mark) {
  return add(Kind::kNull, mark, 0, 0);
}

uint32_t Builder::add_source_scalar(size_t offset, size_t length, Mark mark) {
  return add(Kind::kScalar, mark, static_cast<uint32_t>(offset), static_cast<uint32_t>(length));
}

uint32_t Builder::add_decoded_scalar(std::string_view text, Mark mark) {
  auto offset = static_cast<uint32_t>(storage_->arena.size());
  storage_->arena.append(text);
  return add(Kind::kScalar, mark, offset | kInArena, static_cast<uint32_t>(text.size()));
}

uint32_t Builder::open(Kind kind, Mark mark) {
  uint32_t index = add(kind, mark, 0, 0);
  open_.push_back(Frame{index, pending_.size()});
  return index;
}

void Builder::close() {
  Frame frame = open_.back();
  open_.pop_back();
  NodeData& node = storage_->nodes[frame.node];
  node.offset = static_cast<uint32_t>(storage_->children.size());
  size_t count = pending_.size() - frame.first_pending;
  node.count = static_cast<uint32_t>(node.kind == Kind::kMap ? count / 2 : count);
  storage_->children.insert(storage_->children.end(),
                            pending_.begin() + static_cast<std::ptrdiff_t>(frame.first_pending),
                            pending_.end());
  pending_.resize(frame.first_pending);
}

Document Builder::finish(uint32_t root) {
  return Document(std::move(storage_), root);
}

}  // namespace waygate::yaml

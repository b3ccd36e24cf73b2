// waygate's YAML reader: one pass over the text, building a yaml::Document with marks that match
// yaml-cpp's (scalars and collections at their first character, an empty value at the token that
// follows it), so errors keep the FILE:LINE:COL they had.
#include "routing/yaml/parser.h"

#include <cstring>
#include <string>

namespace waygate::yaml {
namespace {

constexpr int kMaxDepth = 256;

struct SyntaxError {
  Mark mark;
  std::string message;
};

// The text uses a construct this reader leaves to yaml-cpp.
struct Unsupported {
  std::string what;
};

bool is_blank(char c) {
  return c == ' ' || c == '\t';
}

bool is_flow_indicator(char c) {
  return c == ',' || c == '[' || c == ']' || c == '{' || c == '}';
}

std::string describe(Mark mark) {
  return std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

void append_utf8(std::string& out, uint32_t code) {
  if (code < 0x80) {
    out += static_cast<char>(code);
  } else if (code < 0x800) {
    out += static_cast<char>(0xc0 | (code >> 6));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else if (code < 0x10000) {
    out += static_cast<char>(0xe0 | (code >> 12));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (code >> 18));
    out += static_cast<char>(0x80 | ((code >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((code >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (code & 0x3f));
  }
}

class TextReader {
 public:
  explicit TextReader(std::string_view text) : s_(text), builder_(text) {}

  Document read();

 private:
  // -- position --------------------------------------------------------------------------------
  // The text holds no NUL (checked first), so '\0' from char_at() means the end.
  char char_at(size_t p) const { return p < s_.size() ? s_[p] : '\0'; }
  char cur() const { return char_at(pos_); }
  bool eof() const { return pos_ >= s_.size(); }
  bool break_at(size_t p) const {
    return char_at(p) == '\n' || (char_at(p) == '\r' && char_at(p + 1) == '\n');
  }
  // Blank, line break or the end: what must follow an indicator such as "- " or ": ".
  bool space_end_at(size_t p) const { return p >= s_.size() || is_blank(s_[p]) || break_at(p); }
  int column() const { return static_cast<int>(pos_ - line_start_); }
  Mark mark() const { return Mark{static_cast<int>(line_), column()}; }
  // Where yaml-cpp places a node that is missing at the end: the last line, column 0.
  Mark token_mark() const { return eof() ? Mark{static_cast<int>(line_), 0} : mark(); }
  void consume_break() {
    pos_ += s_[pos_] == '\r' ? 2 : 1;
    ++line_;
    line_start_ = pos_;
  }
  bool comment_at(size_t p) const {
    return char_at(p) == '#' && (p == 0 || is_blank(s_[p - 1]) || s_[p - 1] == '\n');
  }
  void skip_blanks() {
    while (is_blank(char_at(pos_)))
      ++pos_;
  }
  void skip_to_break() {
    while (!eof() && !break_at(pos_))
      ++pos_;
  }
  bool entry_indicator() const { return cur() == '-' && space_end_at(pos_ + 1); }
  bool document_marker() const {
    return column() == 0 && s_.size() - pos_ >= 3 &&
           (s_.compare(pos_, 3, "---") == 0 || s_.compare(pos_, 3, "...") == 0) &&
           space_end_at(pos_ + 3);
  }

  [[noreturn]] void fail(Mark at, std::string message) const {
    throw SyntaxError{at, std::move(message)};
  }

  // Block context: blanks, comments and line breaks up to the next token. A tab where a line's
  // indentation is counted is an error, as YAML says (it could mean any width).
  void skip_space_block() {
    for (;;) {
      if (pos_ == line_start_) {
        while (char_at(pos_) == ' ')
          ++pos_;
        if (char_at(pos_) == '\t') {
          fail(mark(), "a tab indents this line: YAML indents with spaces only");
        }
      } else {
        skip_blanks();
      }
      if (comment_at(pos_)) skip_to_break();
      if (eof() || !break_at(pos_)) return;
      consume_break();
    }
  }

  // Inside [ ] and { }: blanks (tabs too), comments and line breaks.
  void skip_space_flow() {
    for (;;) {
      skip_blanks();
      if (comment_at(pos_)) skip_to_break();
      if (eof() || !break_at(pos_)) return;
      consume_break();
    }
  }

  // After a value that ended on its line: only blanks or a comment may follow it there.
  void end_value_line() {
    skip_blanks();
    if (!eof() && !break_at(pos_) && !comment_at(pos_)) {
      if (cur() == ':' && space_end_at(pos_ + 1)) {
        fail(mark(),
             "a value cannot be followed by ':' on its line (a second key on one line?); "
             "quote the value if the colon belongs to it");
      }
      fail(mark(), std::string("unexpected '") + cur() + "' after the value on this line");
    }
    skip_space_block();
  }

  struct DepthGuard {
    explicit DepthGuard(TextReader& reader) : reader_(reader) {
      if (++reader_.depth_ > kMaxDepth) {
        reader_.fail(reader_.mark(),
                     "the document nests deeper than " + std::to_string(kMaxDepth) + " levels");
      }
    }
    ~DepthGuard() { --reader_.depth_; }
    TextReader& reader_;
  };

  void refuse_unsupported_start() const {
    char c = cur();
    if (c == '&') throw Unsupported{"an anchor"};
    if (c == '*') throw Unsupported{"an alias"};
    if (c == '!') throw Unsupported{"a tag"};
    if (c == '%') throw Unsupported{"a directive"};
    if (c == '@' || c == '`') throw Unsupported{"a reserved indicator"};
    if ((c == '?' || c == ':') && space_end_at(pos_ + 1)) throw Unsupported{"a complex key"};
  }

  // -- scalars ----------------------------------------------------------------------------------
  uint32_t plain_scalar(size_t start, size_t end, Mark at) {
    std::string_view text = s_.substr(start, end - start);
    if (text == "~" || text == "null" || text == "Null" || text == "NULL") {
      return builder_.add_null(at);
    }
    return builder_.add_source_scalar(start, end - start, at);
  }

  // Folds the line break at pos_ and the empty lines after it (YAML's line folding): one break
  // becomes a space, n empty lines become n newlines. Leaves pos_ at the next line's first
  // non-blank character.
  void fold_break(std::string& out) {
    consume_break();
    size_t empty = 0;
    for (;;) {
      skip_blanks();
      if (eof() || !break_at(pos_)) break;
      consume_break();
      ++empty;
    }
    if (empty == 0) {
      out += ' ';
    } else {
      out.append(empty, '\n');
    }
  }

  static void trim_blanks(std::string& out, size_t keep) {
    while (out.size() > keep && is_blank(out.back()))
      out.pop_back();
  }

  uint32_t hex_escape(std::string& out, size_t digits, Mark at) {
    uint32_t code = 0;
    for (size_t i = 0; i < digits; ++i) {
      char c = char_at(pos_ + 2 + i);
      int value = c >= '0' && c <= '9'   ? c - '0'
                  : c >= 'a' && c <= 'f' ? c - 'a' + 10
                  : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                         : -1;
      if (value < 0) {
        fail(at, "escape \\" + std::string(1, s_[pos_ + 1]) + " needs " + std::to_string(digits) +
                     " hex digits");
      }
      code = code * 16 + static_cast<uint32_t>(value);
    }
    if ((code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) {
      fail(at, "escape " + std::string(s_.substr(pos_, 2 + digits)) +
                   " is not a Unicode character (a surrogate half or beyond U+10FFFF)");
    }
    append_utf8(out, code);
    return static_cast<uint32_t>(2 + digits);
  }

  // One escape at pos_ (the backslash) appended to out; returns its length in the text.
  size_t escape(std::string& out) {
    Mark at = mark();
    char c = char_at(pos_ + 1);
    switch (c) {
      case '0':
        out += '\0';
        return 2;
      case 'a':
        out += '\a';
        return 2;
      case 'b':
        out += '\b';
        return 2;
      case 't':
      case '\t':
        out += '\t';
        return 2;
      case 'n':
        out += '\n';
        return 2;
      case 'v':
        out += '\v';
        return 2;
      case 'f':
        out += '\f';
        return 2;
      case 'r':
        out += '\r';
        return 2;
      case 'e':
        out += '\x1b';
        return 2;
      case ' ':
        out += ' ';
        return 2;
      case '"':
        out += '"';
        return 2;
      case '\'':
        out += '\'';
        return 2;
      case '/':
        out += '/';
        return 2;
      case '\\':
        out += '\\';
        return 2;
      case 'N':
        append_utf8(out, 0x85);
        return 2;
      case '_':
        append_utf8(out, 0xa0);
        return 2;
      case 'L':
        append_utf8(out, 0x2028);
        return 2;
      case 'P':
        append_utf8(out, 0x2029);
        return 2;
      case 'x':
        return hex_escape(out, 2, at);
      case 'u':
        return hex_escape(out, 4, at);
      case 'U':
        return hex_escape(out, 8, at);
      default:
        break;
    }
    std::string shown = c == '\0' ? std::string("end of text") : std::string(1, c);
    fail(at,
         "unknown escape '\\" + shown + "' in a double-quoted string (write \\\\ for a backslash)");
  }

  // A quoted scalar at pos_; `spans_lines` tells whether it continued past its first line.
  uint32_t quoted_scalar(bool& spans_lines) {
    Mark at = mark();
    uint32_t first_line = line_;
    char quote = cur();
    bool double_quoted = quote == '"';
    ++pos_;
    size_t start = pos_;
    // Most quoted scalars hold no escape and no line break: a view of the text.
    while (!eof() && cur() != quote && cur() != '\n' && cur() != '\r' &&
           !(double_quoted && cur() == '\\')) {
      ++pos_;
    }
    if (cur() == quote && (double_quoted || char_at(pos_ + 1) != '\'')) {
      ++pos_;
      spans_lines = false;
      return builder_.add_source_scalar(start, pos_ - 1 - start, at);
    }
    std::string& out = scratch_;
    out.assign(s_.substr(start, pos_ - start));
    size_t keep = 0;  // trailing blanks before this index were escaped: a fold keeps them
    for (;;) {
      if (eof()) {
        fail(token_mark(), std::string(double_quoted ? "the double" : "the single") +
                               "-quoted string opened at " + describe(at) + " is not closed");
      }
      char c = cur();
      if (c == quote) {
        if (!double_quoted && char_at(pos_ + 1) == '\'') {
          out += '\'';
          pos_ += 2;
          keep = out.size();
          continue;
        }
        ++pos_;
        break;
      }
      if (break_at(pos_)) {
        trim_blanks(out, keep);
        fold_break(out);
        keep = out.size();
        continue;
      }
      if (double_quoted && c == '\\') {
        if (break_at(pos_ + 1)) {  // an escaped line break joins the lines without a space
          ++pos_;
          consume_break();
          for (;;) {
            skip_blanks();
            if (eof() || !break_at(pos_)) break;
            consume_break();
            out += '\n';
          }
        } else {
          pos_ += escape(out);
        }
        keep = out.size();
        continue;
      }
      out += c;
      if (!is_blank(c)) keep = out.size();
      ++pos_;
    }
    spans_lines = line_ != first_line;
    return builder_.add_decoded_scalar(out, at);
  }

  // The first line of a plain scalar in block context, from pos_: its content ends before a
  // ": " (then it is a key, and pos_ stays on the colon), a " #" comment or the line's end.
  struct PlainLine {
    size_t start;
    size_t end;
    bool key;
  };
  PlainLine plain_line() {
    PlainLine line{pos_, pos_, false};
    for (;;) {
      char c = cur();
      if (c == '\0' || c == '\n' || (c == '\r' && char_at(pos_ + 1) == '\n')) break;
      if (c == ':' && space_end_at(pos_ + 1)) {
        line.key = true;
        break;
      }
      if (c == '#' && pos_ > line.start && is_blank(s_[pos_ - 1])) break;
      ++pos_;
      if (!is_blank(c)) line.end = pos_;
    }
    return line;
  }

  // A plain scalar in block context whose first line is read: it continues on the lines after
  // that are indented more than `parent`. Leaves pos_ at the next token.
  uint32_t finish_plain(PlainLine first, int parent, Mark at) {
    if (comment_at(pos_) || eof()) {
      end_value_line();
      return plain_scalar(first.start, first.end, at);
    }
    std::string* out = nullptr;
    for (;;) {
      // pos_ is at a line break; look at the lines after it.
      size_t save_pos = pos_, save_start = line_start_;
      uint32_t save_line = line_;
      consume_break();
      size_t empty = 0;
      for (;;) {
        while (char_at(pos_) == ' ')
          ++pos_;
        size_t p = pos_;
        while (is_blank(char_at(p)))
          ++p;
        if (p < s_.size() && break_at(p)) {
          pos_ = p;
          consume_break();
          ++empty;
          continue;
        }
        break;
      }
      bool continues =
          !eof() && cur() != '\t' && column() > parent && !comment_at(pos_) && !document_marker();
      if (!continues) {
        pos_ = save_pos;
        line_start_ = save_start;
        line_ = save_line;
        break;
      }
      PlainLine more = plain_line();
      if (more.key) {
        fail(mark(),
             "a plain value continues on this line with a ': ' in it; quote the value, "
             "or indent this key under one that has no value");
      }
      if (!out) {
        out = &scratch_;
        out->assign(s_.substr(first.start, first.end - first.start));
      }
      if (empty == 0) {
        *out += ' ';
      } else {
        out->append(empty, '\n');
      }
      out->append(s_.substr(more.start, more.end - more.start));
      if (eof() || comment_at(pos_)) break;
    }
    end_value_line();
    if (!out) return plain_scalar(first.start, first.end, at);
    return builder_.add_decoded_scalar(*out, at);
  }

  // A plain scalar inside [ ] or { }: it ends at a flow indicator, at ": " and the like, at a
  // comment or at the line's end (one spanning lines is left to yaml-cpp).
  uint32_t flow_plain_scalar() {
    Mark at = mark();
    size_t start = pos_, end = pos_;
    for (;;) {
      char c = cur();
      if (c == '\0' || break_at(pos_) || is_flow_indicator(c)) break;
      if (c == ':' && (space_end_at(pos_ + 1) || is_flow_indicator(char_at(pos_ + 1)))) break;
      if (c == '#' && is_blank(s_[pos_ - 1])) break;
      ++pos_;
      if (!is_blank(c)) end = pos_;
    }
    if (break_at(pos_)) {
      size_t p = pos_;
      for (;;) {
        while (is_blank(char_at(p)))
          ++p;
        if (p < s_.size() && break_at(p)) {
          p += s_[p] == '\r' ? 2 : 1;
          continue;
        }
        break;
      }
      char next = char_at(p);
      bool ends = next == '\0' || is_flow_indicator(next) || next == '#' ||
                  (next == ':' && (space_end_at(p + 1) || is_flow_indicator(char_at(p + 1))));
      if (!ends) throw Unsupported{"a plain scalar spanning lines inside [ ] or { }"};
    }
    return plain_scalar(start, end, at);
  }

  // A block scalar (| or >) at pos_, its lines indented more than `parent`. Leaves pos_ at the
  // next token.
  uint32_t block_scalar(int parent) {
    Mark at = mark();
    bool literal = cur() == '|';
    ++pos_;
    char chomp = 0;
    for (int i = 0; i < 2; ++i) {
      char c = cur();
      if ((c == '-' || c == '+') && chomp == 0) {
        chomp = c;
        ++pos_;
      } else if (c >= '1' && c <= '9') {
        throw Unsupported{"a block scalar with an indentation indicator"};
      }
    }
    skip_blanks();
    if (comment_at(pos_)) skip_to_break();
    if (!eof() && !break_at(pos_)) {
      fail(mark(), std::string("unexpected '") + cur() + "' after the block scalar indicator " +
                       (literal ? "|" : ">") + " (its text starts on the next line)");
    }
    if (!eof()) consume_break();
    // The first line with text sets the indentation of them all.
    int indent = -1;
    for (size_t p = pos_;;) {
      size_t q = p;
      while (char_at(q) == ' ')
        ++q;
      if (q < s_.size() && break_at(q)) {
        p = q + (s_[q] == '\r' ? 2 : 1);
        continue;
      }
      if (q < s_.size()) indent = static_cast<int>(q - p);
      break;
    }
    std::string& out = scratch_;
    out.clear();
    size_t empty = 0;
    // last_broke: a line break ended the last line with text (clipping keeps that one).
    bool have_text = false, previous_more_indented = false, last_broke = false;
    if (indent > parent) {
      for (;;) {
        size_t p = pos_;
        while (char_at(p) == ' ' && static_cast<int>(p - pos_) < indent)
          ++p;
        if (static_cast<int>(p - pos_) < indent) {
          size_t q = p;
          while (char_at(q) == ' ')
            ++q;
          if (q < s_.size() && break_at(q)) {  // an empty line
            pos_ = q;
            consume_break();
            ++empty;
            continue;
          }
          if (q >= s_.size()) pos_ = q;
          break;  // less indented text (or the end): the scalar is over
        }
        size_t e = p;
        while (e < s_.size() && !break_at(e))
          ++e;
        std::string_view text = s_.substr(p, e - p);
        if (text.empty()) {
          ++empty;
        } else {
          bool more_indented = is_blank(text.front());
          if (have_text && (literal || more_indented || previous_more_indented)) {
            out.append(1 + empty, '\n');
          } else if (have_text && empty == 0) {
            out += ' ';
          } else {
            out.append(empty, '\n');  // before the first line too
          }
          out.append(text);
          have_text = true;
          previous_more_indented = more_indented;
          empty = 0;
          last_broke = e < s_.size();
        }
        pos_ = e;
        if (eof()) break;
        consume_break();
      }
    } else if (chomp == '+') {
      throw Unsupported{"a kept block scalar without text"};
    }
    if (have_text && chomp != '-' && last_broke) out += '\n';
    if (have_text && chomp == '+') out.append(empty, '\n');
    uint32_t node = builder_.add_decoded_scalar(out, at);
    skip_space_block();
    return node;
  }

  // -- flow collections -------------------------------------------------------------------------
  uint32_t flow_node() {
    char c = cur();
    if (c == '[') return flow_sequence();
    if (c == '{') return flow_map();
    if (c == '"' || c == '\'') {
      bool spans_lines = false;
      return quoted_scalar(spans_lines);
    }
    refuse_unsupported_start();
    if (c == '|' || c == '>') throw Unsupported{"a block scalar inside [ ] or { }"};
    if (c == ',' || c == ']' || c == '}')
      fail(mark(), std::string("expected a value before '") + c + "'");
    if (c == '#') fail(mark(), "a comment needs a blank before its '#'");
    if (c == '-' && space_end_at(pos_ + 1)) {
      fail(mark(), "a block list entry '- ' cannot appear inside [ ] or { }");
    }
    return flow_plain_scalar();
  }

  uint32_t flow_sequence() {
    DepthGuard guard(*this);
    Mark at = mark();
    ++pos_;
    uint32_t node = builder_.open(Kind::kSequence, at);
    for (;;) {
      skip_space_flow();
      if (eof()) fail(token_mark(), "the list '[' opened at " + describe(at) + " is not closed");
      if (cur() == ']') {
        ++pos_;
        break;
      }
      uint32_t item = flow_node();
      skip_space_flow();
      if (cur() == ':') throw Unsupported{"a key: value pair inside [ ]"};
      builder_.add_child(item);
      if (cur() == ',') {
        ++pos_;
      } else if (cur() == ']') {
        ++pos_;
        break;
      } else if (eof()) {
        fail(token_mark(), "the list '[' opened at " + describe(at) + " is not closed");
      } else {
        fail(mark(), "expected ',' or ']' after an item of the list '[' opened at " + describe(at));
      }
    }
    builder_.close();
    return node;
  }

  uint32_t flow_map() {
    DepthGuard guard(*this);
    Mark at = mark();
    ++pos_;
    uint32_t node = builder_.open(Kind::kMap, at);
    auto not_closed = [&] {
      fail(token_mark(), "the mapping '{' opened at " + describe(at) + " is not closed");
    };
    for (;;) {
      skip_space_flow();
      if (eof()) not_closed();
      if (cur() == '}') {
        ++pos_;
        break;
      }
      if (cur() == '[' || cur() == '{') throw Unsupported{"a complex key"};
      uint32_t key = flow_node();
      skip_space_flow();
      uint32_t value = 0;
      if (cur() == ':') {
        ++pos_;
        skip_space_flow();
        value =
            cur() == ',' || cur() == '}' || eof() ? builder_.add_null(token_mark()) : flow_node();
        skip_space_flow();
      } else if (cur() == ',' || cur() == '}') {
        value = builder_.add_null(mark());
      } else if (eof()) {
        not_closed();
      } else {
        fail(mark(), "expected ':' after a key of the mapping '{' opened at " + describe(at));
      }
      builder_.add_child(key);
      builder_.add_child(value);
      if (cur() == ',') {
        ++pos_;
      } else if (cur() == '}') {
        ++pos_;
        break;
      } else if (eof()) {
        not_closed();
      } else {
        fail(mark(),
             "expected ',' or '}' after a value of the mapping '{' opened at " + describe(at));
      }
    }
    builder_.close();
    return node;
  }

  // -- block collections ------------------------------------------------------------------------
  // A node at pos_ (its first token), in a collection indented at `parent`. Leaves pos_ at the
  // next token.
  uint32_t block_node(int parent) {
    DepthGuard guard(*this);
    int indent = column();
    Mark at = mark();
    char c = cur();
    if (entry_indicator()) return block_sequence(indent);
    if (c == '[' || c == '{') {
      uint32_t node = flow_node();
      skip_blanks();
      if (cur() == ':' && space_end_at(pos_ + 1)) throw Unsupported{"a complex key"};
      end_value_line();
      return node;
    }
    if (c == '|' || c == '>') return block_scalar(parent);
    refuse_unsupported_start();
    if (c == '"' || c == '\'') {
      bool spans_lines = false;
      uint32_t scalar = quoted_scalar(spans_lines);
      skip_blanks();
      if (cur() == ':' && space_end_at(pos_ + 1)) {
        if (spans_lines) throw Unsupported{"a quoted key spanning lines"};
        return block_map(indent, scalar, at);
      }
      end_value_line();
      return scalar;
    }
    if (c == ',' || c == ']' || c == '}') fail(at, std::string("unexpected '") + c + "'");
    PlainLine line = plain_line();
    if (line.key) return block_map(indent, plain_scalar(line.start, line.end, at), at);
    return finish_plain(line, parent, at);
  }

  // A mapping key at pos_ (column `indent`); leaves pos_ on its ':'.
  uint32_t block_key() {
    Mark at = mark();
    if (entry_indicator()) {
      fail(at,
           "a list entry '- ' where a mapping key was expected (is the list indented under "
           "its key?)");
    }
    char c = cur();
    if (c == '[' || c == '{') throw Unsupported{"a complex key"};
    // YAML starts no plain scalar with these; read as one, a key would hide a misplaced value.
    if (c == '|' || c == '>') {
      fail(at, std::string("a block scalar '") + c +
                   "' cannot be a mapping key (as a value it goes on its key's line)");
    }
    if (c == ',' || c == ']' || c == '}') fail(at, std::string("unexpected '") + c + "'");
    refuse_unsupported_start();
    uint32_t key;
    if (c == '"' || c == '\'') {
      bool spans_lines = false;
      key = quoted_scalar(spans_lines);
      if (spans_lines) throw Unsupported{"a quoted key spanning lines"};
      skip_blanks();
    } else {
      PlainLine line = plain_line();
      key = plain_scalar(line.start, line.end, at);
    }
    if (cur() != ':' || !space_end_at(pos_ + 1)) {
      fail(at, "expected 'key: value' on this line: the key has no ':' after it");
    }
    return key;
  }

  // The value after "key:" (pos_ just past the colon) in a mapping indented at `indent`.
  uint32_t map_value(int indent) {
    skip_blanks();
    if (eof() || break_at(pos_) || comment_at(pos_)) {
      skip_space_block();
      if (eof()) return builder_.add_null(token_mark());
      if (column() > indent) return block_node(indent);
      if (column() == indent && entry_indicator()) return block_sequence(indent);
      return builder_.add_null(mark());
    }
    Mark at = mark();
    char c = cur();
    if (entry_indicator()) {
      fail(at, "a list entry '- ' cannot start on its key's line: put it on the next line");
    }
    if (c == '[' || c == '{') {
      uint32_t node = flow_node();
      end_value_line();
      return node;
    }
    if (c == '|' || c == '>') return block_scalar(indent);
    refuse_unsupported_start();
    if (c == '"' || c == '\'') {
      bool spans_lines = false;
      uint32_t scalar = quoted_scalar(spans_lines);
      end_value_line();
      return scalar;
    }
    if (c == ',' || c == ']' || c == '}') fail(at, std::string("unexpected '") + c + "'");
    PlainLine line = plain_line();
    if (line.key) {
      fail(mark(),
           "a value cannot hold another 'key: ' on the same line; quote the value if "
           "': ' belongs to it");
    }
    return finish_plain(line, indent, at);
  }

  uint32_t block_map(int indent, uint32_t first_key, Mark at) {
    DepthGuard guard(*this);
    uint32_t node = builder_.open(Kind::kMap, at);
    uint32_t key = first_key;
    for (;;) {
      ++pos_;  // the ':'
      uint32_t value = map_value(indent);
      builder_.add_child(key);
      builder_.add_child(value);
      if (eof() || column() < indent) break;
      if (column() > indent) {
        fail(mark(), "this line is indented more than the keys of the mapping at " + describe(at) +
                         " (a key missing its ':', or a value to indent less?)");
      }
      if (document_marker()) break;
      key = block_key();
    }
    builder_.close();
    return node;
  }

  uint32_t block_sequence(int indent) {
    DepthGuard guard(*this);
    Mark at = mark();
    uint32_t node = builder_.open(Kind::kSequence, at);
    for (;;) {
      ++pos_;  // the '-'
      skip_blanks();
      uint32_t item;
      if (eof() || break_at(pos_) || comment_at(pos_)) {
        skip_space_block();
        if (eof()) {
          item = builder_.add_null(token_mark());
        } else if (column() > indent) {
          item = block_node(indent);
        } else {
          item = builder_.add_null(mark());
        }
      } else {
        item = block_node(indent);
      }
      builder_.add_child(item);
      if (eof() || column() < indent) break;
      if (column() > indent) {
        fail(mark(), "this line is indented more than the entries of the list at " + describe(at));
      }
      if (!entry_indicator()) break;
    }
    builder_.close();
    return node;
  }

  std::string_view s_;
  size_t pos_ = 0;
  uint32_t line_ = 0;
  size_t line_start_ = 0;
  int depth_ = 0;
  Builder builder_;
  std::string scratch_;
};

Document TextReader::read() {
  if (s_.size() >= kInArena) throw Unsupported{"a text of 2 GiB or more"};
  if (s_.starts_with("\xef\xbb\xbf")) throw Unsupported{"a byte order mark"};
  if (std::memchr(s_.data(), '\0', s_.size())) throw Unsupported{"a NUL byte"};
  for (const char* cr = static_cast<const char*>(std::memchr(s_.data(), '\r', s_.size())); cr;) {
    size_t p = static_cast<size_t>(cr - s_.data());
    if (char_at(p + 1) != '\n') throw Unsupported{"a carriage return without a line feed"};
    cr = static_cast<const char*>(std::memchr(cr + 1, '\r', s_.size() - p - 1));
  }
  skip_space_block();
  bool explicit_start = false;
  if (!eof() && column() == 0 && cur() == '%') throw Unsupported{"a directive"};
  if (document_marker() && cur() == '-') {
    pos_ += 3;
    explicit_start = true;
    skip_blanks();
    if (!eof() && !break_at(pos_) && !comment_at(pos_)) {
      throw Unsupported{"content on the '---' line"};
    }
    skip_space_block();
  }
  uint32_t root;
  if (eof()) {
    root = builder_.add_null(explicit_start ? token_mark() : Mark{-1, -1});
  } else if (document_marker()) {
    throw Unsupported{"a document end marker"};
  } else {
    root = block_node(-1);
  }
  if (!eof()) {
    if (document_marker()) throw Unsupported{"several documents"};
    fail(mark(),
         "unexpected text after the end of the document (is it indented less than "
         "what it belongs to?)");
  }
  return builder_.finish(root);
}

}  // namespace

FastReadResult read_fast(std::string_view text) {
  FastReadResult result;
  try {
    result.document = TextReader(text).read();
  } catch (const SyntaxError& e) {
    result.error = ParseError{e.mark, e.message};
  } catch (const Unsupported& e) {
    result.unsupported = e.what;
  }
  return result;
}

ParseResult parse(std::string_view text) {
  FastReadResult fast = read_fast(text);
  if (fast.document) return ParseResult{std::move(*fast.document), std::nullopt, false};
  ParseResult slow = read_with_yaml_cpp(text);
  if (fast.error && slow.error) slow.error = fast.error;
  return slow;
}

}  // namespace waygate::yaml

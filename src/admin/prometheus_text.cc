#include "admin/prometheus_text.h"

#include <charconv>
#include <cmath>

namespace waygate::admin {

void append_label_value(std::string& out, std::string_view value) {
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
}

void append_number(std::string& out, double value) {
  if (std::isnan(value)) {
    out += "NaN";
  } else if (std::isinf(value)) {
    out += value > 0 ? "+Inf" : "-Inf";
  } else {
    char buffer[32];
    auto result = std::to_chars(buffer, buffer + sizeof(buffer), value);
    out.append(buffer, result.ptr);
  }
}

void PrometheusText::family(std::string_view name, std::string_view type, std::string_view help) {
  out_.append("# HELP ").append(name).append(" ");
  // HELP text escapes backslash and newline only.
  for (char c : help) {
    if (c == '\\') {
      out_ += "\\\\";
    } else if (c == '\n') {
      out_ += "\\n";
    } else {
      out_ += c;
    }
  }
  out_.append("\n# TYPE ").append(name).append(" ").append(type).append("\n");
}

void PrometheusText::begin_sample(std::string_view name, Labels labels, std::string_view le) {
  out_.append(name);
  if (labels.size() == 0 && le.empty()) {
    out_ += ' ';
    return;
  }
  out_ += '{';
  bool first = true;
  for (const auto& [label, value] : labels) {
    if (!first) out_ += ',';
    first = false;
    out_.append(label).append("=\"");
    append_label_value(out_, value);
    out_ += '"';
  }
  if (!le.empty()) {
    if (!first) out_ += ',';
    out_.append("le=\"").append(le).append("\"");
  }
  out_.append("} ");
}

void PrometheusText::sample(std::string_view name, Labels labels, uint64_t value) {
  begin_sample(name, labels);
  out_.append(std::to_string(value)).append("\n");
}

void PrometheusText::sample(std::string_view name, Labels labels, double value) {
  begin_sample(name, labels);
  append_number(out_, value);
  out_ += '\n';
}

void PrometheusText::histogram(std::string_view name, Labels labels, std::span<const double> bounds,
                               std::span<const uint64_t> counts, double sum) {
  std::string series(name);
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds.size() && i < counts.size(); ++i) {
    cumulative += counts[i];
    std::string le;
    if (i < bounds.size()) {
      append_number(le, bounds[i]);
    } else {
      le = "+Inf";
    }
    begin_sample(series + "_bucket", labels, le);
    out_.append(std::to_string(cumulative)).append("\n");
  }
  begin_sample(series + "_sum", labels);
  append_number(out_, sum);
  out_ += '\n';
  begin_sample(series + "_count", labels);
  out_.append(std::to_string(cumulative)).append("\n");
}

}  // namespace waygate::admin

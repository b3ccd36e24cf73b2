// Writes the Prometheus text exposition format (version 0.0.4): a family's HELP and TYPE lines,
// then its samples, label values escaped. Histograms take per-bucket counts and write the
// cumulative _bucket series with le="+Inf", then _sum and _count.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <utility>

namespace waygate::admin {

inline constexpr std::string_view kPrometheusContentType =
    "text/plain; version=0.0.4; charset=utf-8";

class PrometheusText {
 public:
  using Labels = std::initializer_list<std::pair<std::string_view, std::string_view>>;

  // Starts a family; every sample written until the next family belongs to it.
  void family(std::string_view name, std::string_view type, std::string_view help);
  void sample(std::string_view name, Labels labels, uint64_t value);
  void sample(std::string_view name, Labels labels, double value);
  // `counts` has one entry per bound and one more for the values above every bound; they are not
  // cumulative.
  void histogram(std::string_view name, Labels labels, std::span<const double> bounds,
                 std::span<const uint64_t> counts, double sum);

  const std::string& text() const { return out_; }

 private:
  void begin_sample(std::string_view name, Labels labels, std::string_view le = {});

  std::string out_;
};

// A label value as the format writes it between quotes: backslash, quote and newline escaped.
void append_label_value(std::string& out, std::string_view value);
// A number as the format writes it: shortest round-trip form, or +Inf, -Inf, NaN.
void append_number(std::string& out, double value);

}  // namespace waygate::admin

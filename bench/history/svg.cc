#include "history/svg.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace llmk::bench::history {
namespace {

// Coordinates with two decimals: finer than a pixel, and short.
std::string num(double v) {
  if (!std::isfinite(v)) return "0";
  std::string s = absl::StrFormat("%.2f", v);
  while (s.back() == '0') s.pop_back();
  if (s.back() == '.') s.pop_back();
  return s == "-0" ? "0" : s;
}

}  // namespace

std::string html_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

double LinearScale::operator()(double v) const {
  const double width = domain_hi - domain_lo;
  if (width == 0) return (range_lo + range_hi) / 2;
  return range_lo + (v - domain_lo) / width * (range_hi - range_lo);
}

std::vector<double> nice_ticks(double lo, double hi, int count) {
  std::vector<double> ticks;
  if (!(hi >= lo) || !std::isfinite(lo) || !std::isfinite(hi) || count < 1) return ticks;
  if (hi == lo) return {lo};
  const double rough = (hi - lo) / count;
  const double power = std::pow(10.0, std::floor(std::log10(rough)));
  // The round step nearest the rough one (by ratio), so the count is kept
  // within about ±50%.
  double step = power;
  for (double m : {2.0, 5.0, 10.0}) {
    if (std::fabs(std::log(m * power / rough)) < std::fabs(std::log(step / rough))) step = m * power;
  }
  // Each tick from its index, so steps like 0.1 do not accumulate error.
  const double first = std::ceil(lo / step);
  for (double k = 0;; ++k) {
    const double t = (first + k) * step;
    if (t > hi + step * 1e-9) break;
    ticks.push_back(std::fabs(t) < step * 1e-9 ? 0.0 : t);
  }
  return ticks;
}

SvgWriter::SvgWriter(double width, double height, std::string_view css_class,
                     std::string_view label) {
  absl::StrAppend(&out_, "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"",
                  html_escape(css_class), "\" viewBox=\"0 0 ", num(width), " ", num(height),
                  "\" width=\"", num(width), "\" height=\"", num(height),
                  "\" role=\"img\" aria-label=\"", html_escape(label), "\">\n");
}

void SvgWriter::line(double x1, double y1, double x2, double y2, std::string_view css_class) {
  absl::StrAppend(&out_, "<line class=\"", html_escape(css_class), "\" x1=\"", num(x1), "\" y1=\"",
                  num(y1), "\" x2=\"", num(x2), "\" y2=\"", num(y2), "\"/>\n");
}

void SvgWriter::circle(double cx, double cy, double r, std::string_view css_class,
                       std::string_view tooltip) {
  absl::StrAppend(&out_, "<circle class=\"", html_escape(css_class), "\" cx=\"", num(cx),
                  "\" cy=\"", num(cy), "\" r=\"", num(r), "\"");
  if (tooltip.empty()) {
    out_ += "/>\n";
  } else {
    absl::StrAppend(&out_, "><title>", html_escape(tooltip), "</title></circle>\n");
  }
}

void SvgWriter::rect(double x, double y, double width, double height, std::string_view css_class,
                     std::string_view tooltip) {
  absl::StrAppend(&out_, "<rect class=\"", html_escape(css_class), "\" x=\"", num(x), "\" y=\"",
                  num(y), "\" width=\"", num(std::max(width, 0.0)), "\" height=\"",
                  num(std::max(height, 0.0)), "\"");
  if (tooltip.empty()) {
    out_ += "/>\n";
  } else {
    absl::StrAppend(&out_, "><title>", html_escape(tooltip), "</title></rect>\n");
  }
}

void SvgWriter::polyline(const std::vector<std::pair<double, double>>& points,
                         std::string_view css_class) {
  absl::StrAppend(&out_, "<polyline class=\"", html_escape(css_class), "\" points=\"");
  for (size_t i = 0; i < points.size(); ++i) {
    absl::StrAppend(&out_, i ? " " : "", num(points[i].first), ",", num(points[i].second));
  }
  out_ += "\"/>\n";
}

void SvgWriter::text(double x, double y, std::string_view content, std::string_view css_class,
                     std::string_view anchor, double rotate_deg) {
  absl::StrAppend(&out_, "<text class=\"", html_escape(css_class), "\" x=\"", num(x), "\" y=\"",
                  num(y), "\" text-anchor=\"", html_escape(anchor), "\"");
  if (rotate_deg != 0) {
    absl::StrAppend(&out_, " transform=\"rotate(", num(rotate_deg), " ", num(x), " ", num(y), ")\"");
  }
  absl::StrAppend(&out_, ">", html_escape(content), "</text>\n");
}

std::string SvgWriter::finish() {
  out_ += "</svg>\n";
  return std::move(out_);
}

}  // namespace llmk::bench::history

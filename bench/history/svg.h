// Inline SVG for the HTML report: a scale, axis ticks and the few elements
// the charts draw, written as text. Every string that reaches the output is
// escaped here, so a chart cannot carry markup from the database.
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace llmk::bench::history {

// Text for HTML and SVG content and attribute values: & < > " ' escaped.
std::string html_escape(std::string_view text);

// Maps [domain_lo, domain_hi] linearly onto [range_lo, range_hi]; a domain
// of zero width maps to the middle of the range.
struct LinearScale {
  double domain_lo = 0, domain_hi = 1, range_lo = 0, range_hi = 1;
  double operator()(double v) const;
};

// About `count` round tick values (1, 2 or 5 times a power of ten) inside
// [lo, hi], ascending; empty when hi < lo, {lo} when hi == lo.
std::vector<double> nice_ticks(double lo, double hi, int count);

// Appends SVG elements to one string. Coordinates are user units of the
// enclosing viewBox; `css_class` names a rule of the page's style sheet.
class SvgWriter {
 public:
  // Opens <svg> with a viewBox of width × height; `css_class` and `label`
  // (aria-label) describe the chart.
  SvgWriter(double width, double height, std::string_view css_class, std::string_view label);

  void line(double x1, double y1, double x2, double y2, std::string_view css_class);
  // `tooltip` non-empty: a <title> child, shown on hover without any script.
  void circle(double cx, double cy, double r, std::string_view css_class,
              std::string_view tooltip = "");
  void rect(double x, double y, double width, double height, std::string_view css_class,
            std::string_view tooltip = "");
  void polyline(const std::vector<std::pair<double, double>>& points, std::string_view css_class);
  // anchor: "start", "middle" or "end"; rotate_deg turns the text about (x, y).
  void text(double x, double y, std::string_view content, std::string_view css_class,
            std::string_view anchor = "start", double rotate_deg = 0);

  // Closes </svg> and returns the markup.
  std::string finish();

 private:
  std::string out_;
};

}  // namespace llmk::bench::history

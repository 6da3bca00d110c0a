#include "llmk/bench_reporter.h"

#include <utility>

#include "report/report.h"

namespace llmk::bench {
namespace {

class ConsoleReporter : public Reporter {
 public:
  explicit ConsoleReporter(std::FILE* out) : out_(out) {}
  absl::Status report(const SuiteResult& result) override {
    print_summary(result, out_);
    print_repetitions(result, out_);
    print_target_table(result, out_);
    print_counters(result, out_);
    return absl::OkStatus();
  }

 private:
  std::FILE* out_;
};

class FileReporter : public Reporter {
 public:
  using Format = std::string (*)(const SuiteResult&);
  FileReporter(std::string path, Format format) : path_(std::move(path)), format_(format) {}
  absl::Status report(const SuiteResult& result) override {
    return write_text_file(path_, format_(result));
  }

 private:
  std::string path_;
  Format format_;
};

}  // namespace

std::unique_ptr<Reporter> console_reporter(std::FILE* out) {
  return std::make_unique<ConsoleReporter>(out);
}
std::unique_ptr<Reporter> json_reporter(std::string path) {
  return std::make_unique<FileReporter>(std::move(path), format_json);
}
std::unique_ptr<Reporter> csv_reporter(std::string path) {
  return std::make_unique<FileReporter>(std::move(path), format_csv);
}

}  // namespace llmk::bench

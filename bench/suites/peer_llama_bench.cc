#include "suites/peer_llama_bench.h"

#include <fcntl.h>
#include <spawn.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "harness/affinity.h"
#include "harness/json.h"

extern char** environ;

namespace llmk::bench {

std::vector<std::string> llama_bench_args(const std::string& binary, const LlamaBenchTest& test) {
  std::vector<std::string> args = {binary, "-m", test.model_path, "-o", "json"};
  if (test.combined) {
    args.insert(args.end(), {"-p", "0", "-n", "0", "-pg", absl::StrCat(test.n_prompt, ",", test.n_gen)});
  } else {
    args.insert(args.end(), {"-p", absl::StrCat(test.n_prompt), "-n", absl::StrCat(test.n_gen)});
  }
  args.insert(args.end(), {"-t", absl::StrCat(test.threads), "-r", "1"});
  if (!test.cache_type.empty()) {
    args.insert(args.end(), {"-ctk", test.cache_type, "-ctv", test.cache_type});
  }
  return args;
}

std::string LlamaBenchResult::version() const {
  // A build from a tarball has no commit count: llama.cpp reports 0.
  return build_number > 0 ? absl::StrCat(build_commit, " (build ", build_number, ")") : build_commit;
}

namespace {

absl::Status field_error(size_t index, const char* field, const char* what) {
  return absl::InvalidArgumentError(
      absl::StrCat("llama-bench JSON test ", index, ": field \"", field, "\" ", what));
}

absl::StatusOr<double> number_field(const JsonValue& test, size_t index, const char* field) {
  const JsonValue* v = test.find(field);
  if (v == nullptr) return field_error(index, field, "is missing");
  if (v->type != JsonValue::Type::kNumber) return field_error(index, field, "is not a number");
  return v->number;
}

absl::StatusOr<size_t> count_field(const JsonValue& test, size_t index, const char* field) {
  absl::StatusOr<double> v = number_field(test, index, field);
  if (!v.ok()) return v.status();
  if (*v < 0 || *v != std::floor(*v)) return field_error(index, field, "is not a count");
  return static_cast<size_t>(*v);
}

}  // namespace

absl::StatusOr<std::vector<LlamaBenchResult>> parse_llama_bench_json(std::string_view text) {
  absl::StatusOr<JsonValue> root = parse_json(text);
  if (!root.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("llama-bench output is not JSON: ", root.status().message()));
  }
  if (root->type != JsonValue::Type::kArray) {
    return absl::InvalidArgumentError("llama-bench JSON: expected an array of tests");
  }
  std::vector<LlamaBenchResult> out;
  for (size_t i = 0; i < root->array.size(); ++i) {
    const JsonValue& test = root->array[i];
    if (test.type != JsonValue::Type::kObject) {
      return absl::InvalidArgumentError(absl::StrCat("llama-bench JSON test ", i, ": not an object"));
    }
    LlamaBenchResult r;
    const JsonValue* commit = test.find("build_commit");
    if (commit == nullptr) return field_error(i, "build_commit", "is missing");
    if (commit->type != JsonValue::Type::kString) return field_error(i, "build_commit", "is not a string");
    r.build_commit = commit->string;
    absl::StatusOr<double> build = number_field(test, i, "build_number");
    if (!build.ok()) return build.status();
    r.build_number = static_cast<long long>(*build);
    absl::StatusOr<size_t> n_prompt = count_field(test, i, "n_prompt");
    if (!n_prompt.ok()) return n_prompt.status();
    absl::StatusOr<size_t> n_gen = count_field(test, i, "n_gen");
    if (!n_gen.ok()) return n_gen.status();
    absl::StatusOr<size_t> n_threads = count_field(test, i, "n_threads");
    if (!n_threads.ok()) return n_threads.status();
    absl::StatusOr<double> avg_ns = number_field(test, i, "avg_ns");
    if (!avg_ns.ok()) return avg_ns.status();
    absl::StatusOr<double> avg_ts = number_field(test, i, "avg_ts");
    if (!avg_ts.ok()) return avg_ts.status();
    if (!(*avg_ns > 0)) return field_error(i, "avg_ns", "is not positive");
    r.n_prompt = *n_prompt;
    r.n_gen = *n_gen;
    r.n_threads = *n_threads;
    r.avg_ns = *avg_ns;
    r.avg_tokens_per_s = *avg_ts;
    const JsonValue* samples = test.find("samples_ns");
    if (samples == nullptr) return field_error(i, "samples_ns", "is missing");
    if (samples->type != JsonValue::Type::kArray || samples->array.empty()) {
      return field_error(i, "samples_ns", "is not a non-empty array");
    }
    for (const JsonValue& s : samples->array) {
      if (s.type != JsonValue::Type::kNumber || !(s.number > 0)) {
        return field_error(i, "samples_ns", "holds a value that is not a positive number");
      }
      r.samples_ns.push_back(s.number);
    }
    out.push_back(std::move(r));
  }
  return out;
}

namespace {

std::string file_tail(const std::string& path, size_t max_chars) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  const std::string text = buffer.str();
  return text.size() > max_chars ? absl::StrCat("...", text.substr(text.size() - max_chars)) : text;
}

// The calling thread's mask set to `cpus` for the scope (a spawned child
// inherits it), then restored.
class ScopedThreadCpus {
 public:
  explicit ScopedThreadCpus(const std::vector<int>& cpus) {
    if (cpus.empty()) return;
    saved_ = allowed_cpus();
    if (saved_ == cpus) return;
    status_ = set_thread_cpus(cpus);
    changed_ = status_.ok();
  }
  ~ScopedThreadCpus() {
    if (changed_) (void)set_thread_cpus(saved_);
  }
  ScopedThreadCpus(const ScopedThreadCpus&) = delete;
  ScopedThreadCpus& operator=(const ScopedThreadCpus&) = delete;
  const absl::Status& status() const { return status_; }

 private:
  std::vector<int> saved_;
  absl::Status status_;
  bool changed_ = false;
};

}  // namespace

absl::StatusOr<std::string> run_captured(const std::vector<std::string>& argv,
                                         const std::vector<int>& cpus,
                                         const std::string& stderr_path) {
  if (argv.empty()) return absl::InvalidArgumentError("run_captured: empty argv");
  // Checked before spawning: where vfork is emulated by fork (qemu-user), a
  // failed exec shows only as the child's exit status 127.
  if (access(argv[0].c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat("cannot run ", argv[0], ": ", std::strerror(errno)));
  }
  int pipe_fds[2];
  if (pipe2(pipe_fds, O_CLOEXEC) != 0) {
    return absl::InternalError(absl::StrCat("pipe: ", std::strerror(errno)));
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, pipe_fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_path.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t pid = -1;
  int spawn_error = 0;
  {
    const ScopedThreadCpus mask(cpus);
    if (!mask.status().ok()) {
      posix_spawn_file_actions_destroy(&actions);
      close(pipe_fds[0]);
      close(pipe_fds[1]);
      return absl::Status(mask.status().code(),
                          absl::StrCat("setting the peer's CPU mask: ", mask.status().message()));
    }
    spawn_error = posix_spawn(&pid, args[0], &actions, nullptr, args.data(), environ);
  }
  posix_spawn_file_actions_destroy(&actions);
  close(pipe_fds[1]);
  if (spawn_error != 0) {
    close(pipe_fds[0]);
    return absl::NotFoundError(absl::StrCat("cannot run ", argv[0], ": ", std::strerror(spawn_error)));
  }
  std::string output;
  char buffer[4096];
  for (;;) {
    const ssize_t n = read(pipe_fds[0], buffer, sizeof buffer);
    if (n > 0) {
      output.append(buffer, static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(pipe_fds[0]);
  int wait_status = 0;
  while (waitpid(pid, &wait_status, 0) < 0) {
    if (errno != EINTR) return absl::InternalError(absl::StrCat("waitpid: ", std::strerror(errno)));
  }
  if (!WIFEXITED(wait_status) || WEXITSTATUS(wait_status) != 0) {
    const std::string how = WIFEXITED(wait_status)
                                ? absl::StrCat("exit status ", WEXITSTATUS(wait_status))
                                : absl::StrCat("signal ", WTERMSIG(wait_status));
    return absl::InternalError(absl::StrCat(argv[0], " failed (", how, "); its stderr ends: ",
                                            file_tail(stderr_path, 600)));
  }
  return output;
}

absl::StatusOr<LlamaBenchResult> run_llama_bench(const std::string& binary,
                                                 const LlamaBenchTest& test,
                                                 const std::vector<int>& cpus,
                                                 const std::string& stderr_path) {
  absl::StatusOr<std::string> output =
      run_captured(llama_bench_args(binary, test), cpus, stderr_path);
  if (!output.ok()) return output.status();
  absl::StatusOr<std::vector<LlamaBenchResult>> tests = parse_llama_bench_json(*output);
  if (!tests.ok()) return tests.status();
  if (tests->size() != 1) {
    return absl::InternalError(absl::StrCat("llama-bench reported ", tests->size(),
                                            " tests where one was asked for"));
  }
  LlamaBenchResult& r = (*tests)[0];
  if (r.n_prompt != test.n_prompt || r.n_gen != test.n_gen || r.n_threads != test.threads) {
    return absl::InternalError(absl::StrCat(
        "llama-bench ran p", r.n_prompt, " n", r.n_gen, " t", r.n_threads, " where p",
        test.n_prompt, " n", test.n_gen, " t", test.threads, " was asked for"));
  }
  if (r.samples_ns.size() != 1) {
    return absl::InternalError(
        absl::StrCat("llama-bench reported ", r.samples_ns.size(), " samples for -r 1"));
  }
  return std::move(r);
}

namespace {

// Owns the scratch directory; removes it when the process exits normally.
struct ScratchDir {
  std::string path;
  ~ScratchDir() {
    if (path.empty()) return;
    std::error_code ignored;
    std::filesystem::remove_all(path, ignored);
  }
};

}  // namespace

bool is_gguf_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  in.read(magic, sizeof magic);
  return in.gcount() == 4 && std::memcmp(magic, "GGUF", 4) == 0;
}

absl::StatusOr<std::string> peer_scratch_dir() {
  static std::mutex mutex;
  static ScratchDir dir;
  std::lock_guard<std::mutex> lock(mutex);
  if (!dir.path.empty()) return dir.path;
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern = absl::StrCat(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp",
                                     "/llmk-bench-peers-XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp ", pattern, ": ", std::strerror(errno)));
  }
  dir.path = pattern;
  return dir.path;
}

}  // namespace llmk::bench

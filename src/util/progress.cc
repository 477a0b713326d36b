#include "util/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace nexus {

namespace {
bool stderr_is_terminal() {
  const char* term = std::getenv("TERM");
  return isatty(STDERR_FILENO) && !(term && std::string(term) == "dumb");
}
}  // namespace

Progress::Progress(std::string label, int64_t total)
    : label_(std::move(label)),
      total_(total),
      enabled_(stderr_is_terminal()),
      start_(std::chrono::steady_clock::now()) {}

Progress::~Progress() { finish(); }

void Progress::update(int64_t done, const std::string& detail) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  // Redraw at most ~10 times a second so progress never costs measurable time.
  if (drawn_ && done != total_ && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  const double secs = std::chrono::duration<double>(now - start_).count();
  if (total_ > 0) {
    const double pct = 100.0 * static_cast<double>(done) / static_cast<double>(total_);
    std::fprintf(stderr, "\r\033[K%s [%lld/%lld] %5.1f%% %.1fs %s", label_.c_str(), (long long)done,
                 (long long)total_, pct, secs, detail.c_str());
  } else {
    std::fprintf(stderr, "\r\033[K%s %lld %.1fs %s", label_.c_str(), (long long)done, secs, detail.c_str());
  }
  std::fflush(stderr);
  drawn_ = true;
}

void Progress::finish() {
  if (enabled_ && drawn_) std::fputs("\n", stderr);
  drawn_ = false;
}

}  // namespace nexus

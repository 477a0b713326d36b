#include "cli/sampling_flags.h"

namespace nexus::cli {

void add_sampling_flags(CLI::App& app, SamplingParams& s) {
  const char* group = "Sampling";
  app.add_option("--temp", s.temperature, "temperature (<= 0: greedy)")->capture_default_str()->group(group);
  app.add_option("--top-k", s.top_k, "keep the k most likely tokens (<= 0: off)")->capture_default_str()->group(group);
  app.add_option("--top-p", s.top_p, "nucleus sampling mass (1: off)")->capture_default_str()->group(group);
  app.add_option("--min-p", s.min_p, "drop tokens below min-p times the best probability (0: off)")
      ->capture_default_str()
      ->group(group);
  app.add_option("--repeat-penalty", s.repeat_penalty, "penalty for recent tokens (1: off)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber)
      ->group(group);
  app.add_option("--repeat-last-n", s.repeat_last_n, "window of the penalties in tokens (-1: all)")
      ->capture_default_str()
      ->group(group);
  app.add_option("--presence-penalty", s.presence_penalty, "OpenAI presence penalty (0: off)")
      ->capture_default_str()
      ->group(group);
  app.add_option("--frequency-penalty", s.frequency_penalty, "OpenAI frequency penalty (0: off)")
      ->capture_default_str()
      ->group(group);
  app.add_option("--seed", s.seed, "random seed (default: random)")->group(group);
}

}  // namespace nexus::cli

// The sampling options of every generating command (run, chat), declared once (STYLE.md #10):
// name, default and help live here, the commands only call add_sampling_flags.
#pragma once

#include <CLI/CLI.hpp>

#include "nexus/nexus.h"

namespace nexus::cli {

// Adds --temp, --top-k, --top-p, --min-p, --repeat-penalty, --repeat-last-n,
// --presence-penalty, --frequency-penalty and --seed to `app`, writing into `s` (which must
// outlive the parse). Defaults shown in --help are s's values when called.
void add_sampling_flags(CLI::App& app, SamplingParams& s);

}  // namespace nexus::cli

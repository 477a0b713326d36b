// `nexus chat`: talk to a model through its chat template. Interactive when stdin is a
// terminal; otherwise the whole of stdin is one user message and only the answer is printed.
// The conversation logic lives in decode/chat_session.h; this file is the terminal around it.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "cli/command.h"
#include "cli/model_flags.h"
#include "cli/sampling_flags.h"
#include "decode/chat_session.h"
#include "nexus/nexus.h"

namespace nexus::cli {

namespace {

// Set by SIGINT. A signal handler can only reach a global, so this is the one mutable global
// of the CLI; an atomic<bool> is lock-free and so safe to store from the handler.
std::atomic<bool> g_interrupted{false};

void on_sigint(int) { g_interrupted.store(true); }

// SIGINT without SA_RESTART: a read() blocked at the prompt returns EINTR, so Ctrl-C there
// ends the chat instead of being swallowed.
void install_sigint_handler() {
  struct sigaction sa = {};
  sa.sa_handler = on_sigint;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = 0;
  sigaction(SIGINT, &sa, nullptr);
}

struct ChatArgs {
  ModelFlags model;
  std::string system;
  std::string chat_template;
  int n_predict = 1024;
  bool special = false;
  bool verbose = false;
  std::vector<std::string> stop;
  SamplingParams sampling;
};

const char* kHelpFooter =
    "Interactive (stdin is a terminal): type a message after \"> \" and press Enter. End a line\n"
    "with \\ to continue the message on the next line. /reset clears the conversation, /exit (or\n"
    "Ctrl-D) quits. Ctrl-C while an answer is printed stops that answer; Ctrl-C at the prompt quits.\n"
    "Not interactive (stdin is a file or pipe): all of stdin is one user message; only the\n"
    "answer is printed on stdout.\n"
    "Message text is never read as control tokens (\"<|im_end|>\" stays text) unless --special.\n"
    "A conversation that outgrows the context (-c) is an error: /reset and go on.\n";

void print_dim(const std::string& line) {
  if (isatty(STDERR_FILENO))
    std::fprintf(stderr, "\x1b[2m%s\x1b[0m\n", line.c_str());
  else
    std::fprintf(stderr, "%s\n", line.c_str());
}

std::string turn_summary(const ChatTurnStats& s) {
  const GenerateStats& g = s.generate;
  const double rate = g.generate_seconds > 0 ? g.generated_tokens / g.generate_seconds : 0.0;
  return format("[prompt: %d new tokens (%d reused), %.1f ms; answer: %d tokens, %.2f tokens/s, %s]",
                g.prompt_tokens, s.reused_tokens, g.prompt_seconds * 1e3, g.generated_tokens, rate,
                g.finish_reason.c_str());
}

bool print_text(std::string_view piece) {
  std::fwrite(piece.data(), 1, piece.size(), stdout);
  std::fflush(stdout);
  return !g_interrupted.load();
}

// One message from the terminal: lines joined while they end with a backslash. Returns false
// at end of input or on Ctrl-C.
bool read_message(std::string& message) {
  message.clear();
  char* line = nullptr;
  size_t cap = 0;
  bool got = false;
  for (;;) {
    std::fputs(message.empty() ? "> " : "... ", stdout);
    std::fflush(stdout);
    const ssize_t n = getline(&line, &cap, stdin);
    if (n < 0 || g_interrupted.load()) break;
    std::string_view l(line, static_cast<size_t>(n));
    if (!l.empty() && l.back() == '\n') l.remove_suffix(1);
    if (!l.empty() && l.back() == '\\') {
      l.remove_suffix(1);
      message.append(l);
      message += '\n';
      continue;
    }
    message.append(l);
    got = true;
    break;
  }
  std::free(line);
  return got;
}

int interactive(ChatSession& chat) {
  install_sigint_handler();
  std::string message;
  for (;;) {
    if (!read_message(message)) {
      std::fputc('\n', stdout);  // leave the terminal on a fresh line after ^C / ^D
      return 0;
    }
    const std::string_view cmd = message;
    if (cmd == "/exit" || cmd == "/quit") return 0;
    if (cmd == "/reset") {
      chat.reset();
      print_dim("[conversation cleared]");
      continue;
    }
    if (message.find_first_not_of(" \t\r\n") == std::string::npos) continue;
    ChatTurnStats stats;
    Result<std::string> answer = chat.send(message, print_text, &stats);
    std::fputc('\n', stdout);
    std::fflush(stdout);
    if (!answer.ok()) {
      std::fprintf(stderr, "nexus: error: %s\n", answer.error().message.c_str());
      continue;
    }
    if (g_interrupted.exchange(false)) print_dim("[answer stopped]");
    print_dim(turn_summary(stats));
  }
}

int non_interactive(ChatSession& chat, bool verbose) {
  // Far more than any context holds; refusing it early keeps memory bounded.
  constexpr size_t kMaxInput = 16u << 20;
  std::string input;
  char buf[1 << 16];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, stdin)) > 0;) {
    input.append(buf, n);
    if (input.size() > kMaxInput) return fail(format("the message on stdin is larger than %zu MiB", kMaxInput >> 20));
  }
  if (std::ferror(stdin)) return fail("reading stdin failed");
  if (input.find_first_not_of(" \t\r\n") == std::string::npos) return fail("no message on stdin");
  ChatTurnStats stats;
  Result<std::string> answer = chat.send(input, print_text, &stats);
  if (!answer.ok()) return fail(answer.error().message);
  std::fputc('\n', stdout);
  std::fflush(stdout);
  if (verbose) std::fprintf(stderr, "%s\n", turn_summary(stats).c_str());
  return 0;
}

int run(const ChatArgs& a) {
  using Clock = std::chrono::steady_clock;
  const Clock::time_point t0 = Clock::now();
  ModelFlags model_flags = a.model;
  model_flags.verbose = a.verbose;  // --verbose also prints the memory plan of a --mem-budget load
  Result<LoadedModel> loaded = load_model(model_flags);
  if (!loaded.ok()) return fail(loaded.error().message);
  Model& model = *loaded->model;
  Session& session = *loaded->session;

  std::string origin = a.chat_template;
  Result<std::string> source = a.chat_template.empty() ? default_chat_template(model, &origin)
                                                       : load_chat_template(a.chat_template);
  if (!source.ok()) return fail(source.error().message);

  ChatOptions opts;
  opts.template_source = *source;
  opts.system = a.system;
  opts.special = a.special;
  opts.generate.max_tokens = a.n_predict;
  opts.generate.sampling = a.sampling;
  opts.generate.stop = a.stop;
  Result<std::unique_ptr<ChatSession>> chat = ChatSession::create(session, opts);
  if (!chat.ok()) return fail(chat.error().message);
  const double load_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();

  const bool tty = isatty(STDIN_FILENO);
  if (tty || a.verbose) {
    const ModelInfo& info = model.info();
    print_dim(format("[%s (%s), context %d tokens, %s chat template, loaded in %.0f ms; /reset, /exit, "
                     "\\ at the end of a line continues it]",
                     info.name.empty() ? a.model.model.c_str() : info.name.c_str(), info.arch.c_str(), session.n_ctx(),
                     origin.c_str(), load_ms));
  }
  return tty ? interactive(**chat) : non_interactive(**chat, a.verbose);
}

CommandRun setup(CLI::App& sub) {
  auto a = std::make_shared<ChatArgs>();
  sub.footer(kHelpFooter);
  add_model_flags(sub, a->model);
  sub.add_option("--system", a->system, "system message");
  sub.add_option("--chat-template", a->chat_template,
                 "chat template: chatml, llama3, gemma or a Jinja file (default: the model's own; else gemma for "
                 "Gemma models, chatml for others)");
  sub.add_option("-n,--n-predict", a->n_predict, "most tokens per answer (-1: until end of turn or full context)")
      ->capture_default_str();
  sub.add_flag("--special", a->special, "read control-token texts in messages as control tokens");
  sub.add_option("--stop", a->stop, "stop string (repeatable; not printed)");
  sub.add_flag("-v,--verbose", a->verbose, "timings on stderr (always shown, dimmed, in interactive mode)");
  add_sampling_flags(sub, a->sampling);
  return [a] { return run(*a); };
}

}  // namespace

NEXUS_COMMAND("chat", "chat with a model through its chat template", setup);

}  // namespace nexus::cli

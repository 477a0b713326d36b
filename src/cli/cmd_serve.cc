// `nexus serve`: an OpenAI-compatible HTTP server. One model, one continuous-batching
// scheduler (server/scheduler.h) that runs every request's sequence in shared forward passes,
// and the HTTP front-end (server/http_server.h) in front of it. This file wires them together
// and handles the process: signals and shutdown.
#include <signal.h>
#include <time.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <mutex>
#include <string>
#include <thread>

#include "cli/command.h"
#include "cli/model_flags.h"
#include "decode/chat_prompt.h"
#include "memory/mem_report.h"
#include "nexus/nexus.h"
#include "server/http_server.h"
#include "server/openai_request.h"
#include "server/scheduler.h"

namespace nexus::cli {

namespace {

// How long in-flight requests may run on after SIGTERM/SIGINT before they are cancelled.
constexpr auto kShutdownDeadline = std::chrono::milliseconds(5000);

struct ServeArgs {
  std::string model;
  int threads = 0;
  int n_ctx = 0;
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  std::string alias;
  std::string chat_template;
  int parallel = 8;
  int max_queue = 64;
  size_t max_body_bytes = 8u << 20;
  bool verbose = false;
  MemoryFlags memory;
};

// The real Scheduler behind the HTTP front-end's Engine interface.
class SchedulerEngine : public server::Engine {
 public:
  explicit SchedulerEngine(std::unique_ptr<Scheduler> s) : s_(std::move(s)) {}
  SubmitResult submit(GenerationRequest request, std::function<bool(const GenerationEvent&)> on_event,
                      std::function<void(const GenerationResult&)> on_done) override {
    return s_->submit(std::move(request), std::move(on_event), std::move(on_done));
  }
  void cancel(uint64_t id) override { s_->cancel(id); }
  SchedulerMetrics metrics() const override { return s_->metrics(); }
  void shutdown(std::chrono::milliseconds deadline) override { s_->shutdown(deadline); }

 private:
  std::unique_ptr<Scheduler> s_;
};

// SIGINT/SIGTERM are blocked in every thread (the mask is inherited, so this must happen
// before any thread starts) and taken by sigtimedwait on one thread instead of an
// asynchronous handler, which could do nothing but set a flag.
sigset_t shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

int run(const ServeArgs& a) {
  const sigset_t signals = shutdown_signals();
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  // A client hanging up mid-response must cost a failed write, not the process.
  signal(SIGPIPE, SIG_IGN);

  // -c is the KV pool all sequences share (a --mem-budget leaves room for all of it).
  const int pool_tokens = a.n_ctx > 0 ? a.n_ctx : 4096;
  LoadOptions load;
  load.threads = a.threads;
  if (Status st = apply_memory_flags(a.memory, pool_tokens, load); !st.ok()) return fail(st.error().message);
  Result<std::shared_ptr<Model>> loaded = Model::load(a.model, load);
  if (!loaded.ok()) return fail(loaded.error().message);
  std::shared_ptr<Model> model = *loaded;
  if (a.verbose && load.mem_budget > 0) std::fprintf(stderr, "%s", describe_memory_plan(*model).c_str());

  std::string origin = a.chat_template;
  Result<std::string> source =
      a.chat_template.empty() ? default_chat_template(*model, &origin) : load_chat_template(a.chat_template);
  if (!source.ok()) return fail(source.error().message);
  Result<ChatPrompt> chat = ChatPrompt::create(*model, *source);
  if (!chat.ok()) return fail("chat template (" + origin + "): " + chat.error().message);

  SchedulerOptions so;
  // -c is the KV pool all sequences share; one sequence may use all of it, up to the model's
  // training context.
  so.n_ctx = pool_tokens;
  so.n_ctx_seq = std::min(so.n_ctx, model->info().n_ctx_train);
  so.parallel = a.parallel;
  so.max_queue = a.max_queue;
  Result<std::unique_ptr<Scheduler>> scheduler = Scheduler::create(model, so);
  if (!scheduler.ok()) return fail(scheduler.error().message);
  SchedulerEngine engine(std::move(*scheduler));

  server::ServerOptions opt;
  opt.host = a.host;
  opt.port = a.port;
  opt.api_key = a.api_key;
  const std::string file_name = std::filesystem::path(a.model).filename().string();
  if (!a.alias.empty()) opt.model_names.push_back(a.alias);
  opt.model_names.push_back(file_name);
  opt.n_ctx_seq = so.n_ctx_seq;
  opt.max_body_bytes = a.max_body_bytes;
  opt.http_threads = std::max(32, 2 * (a.parallel + a.max_queue) + 8);
  opt.verbose = a.verbose;

  // Chat templates are rendered under a lock: the Jinja interpreter's sharing of values across
  // threads is not part of its contract, and rendering is quick next to generating.
  auto prompt_mutex = std::make_shared<std::mutex>();
  const ChatPrompt& chat_prompt = *chat;
  server::PromptBuilder build = [model, &chat_prompt, prompt_mutex](const server::OpenAIRequest& r,
                                                                     GenerationRequest& g) {
    std::lock_guard<std::mutex> lock(*prompt_mutex);
    return server::build_generation(r, *model, chat_prompt, g);
  };
  server::HttpServer http(engine, build, opt);
  Result<int> port = http.bind();
  if (!port.ok()) return fail(port.error().message);

  std::atomic<bool> finished{false};
  std::thread signal_thread([&] {
    const timespec poll = {0, 200 * 1000 * 1000};
    bool stopping = false;
    while (!finished.load()) {
      const int sig = sigtimedwait(&signals, nullptr, &poll);
      if (sig <= 0) continue;
      if (stopping) {
        std::fprintf(stderr, "nexus serve: second signal, exiting now\n");
        std::_Exit(1);
      }
      stopping = true;
      std::fprintf(stderr, "nexus serve: %s, shutting down (in-flight requests get %lld s)\n",
                   sig == SIGINT ? "SIGINT" : "SIGTERM", static_cast<long long>(kShutdownDeadline.count() / 1000));
      http.stop();  // no new connections; run() returns once the open ones are done
      engine.shutdown(kShutdownDeadline);
    }
  });

  const ModelInfo& info = model->info();
  std::fprintf(stderr, "nexus serve: %s (%s), %d sequences at once, context %d tokens per sequence, %d in all, %s chat template\n",
               opt.model_names.front().c_str(), info.arch.c_str(), so.parallel, so.n_ctx_seq, so.n_ctx,
               origin.c_str());
  std::fprintf(stderr, "listening on http://%s:%d\n", a.host.c_str(), *port);
  std::fflush(stderr);
  http.run();
  finished.store(true);
  signal_thread.join();
  std::fprintf(stderr, "nexus serve: stopped\n");
  return 0;
}

CommandRun setup(CLI::App& sub) {
  auto a = std::make_shared<ServeArgs>();
  sub.add_option("-m,--model", a->model, "GGUF model file")->required();
  sub.add_option("-c,--ctx-size", a->n_ctx, "KV cache size in tokens, shared by all sequences (0: 4096)")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  sub.add_option("-t,--threads", a->threads, "threads (0: one per core)")->capture_default_str();
  add_memory_flags(sub, a->memory);
  sub.add_option("--host", a->host, "address to listen on")->capture_default_str();
  sub.add_option("--port", a->port, "port to listen on (0: any free port, printed)")
      ->capture_default_str()
      ->check(CLI::Range(0, 65535));
  sub.add_option("--api-key", a->api_key, "require 'Authorization: Bearer KEY' (default: no key)")
      ->envname("NEXUS_API_KEY");
  sub.add_option("--alias", a->alias, "model name clients use (default: the model file's name)");
  sub.add_option("--chat-template", a->chat_template,
                 "chat template: chatml, llama3, gemma or a Jinja file (default: the model's own)");
  sub.add_option("--parallel", a->parallel, "sequences generated at once")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  sub.add_option("--max-queue", a->max_queue, "waiting requests past which new ones get 503")
      ->capture_default_str()
      ->check(CLI::Range(0, 100000));
  sub.add_option("--max-body-size", a->max_body_bytes, "largest request body in bytes (larger: 413)")
      ->capture_default_str()
      ->check(CLI::Range(size_t{1024}, size_t{1} << 30));
  sub.add_flag("-v,--verbose", a->verbose, "log every request on stderr");
  return [a] { return run(*a); };
}

}  // namespace

NEXUS_COMMAND("serve", "OpenAI-compatible HTTP server (chat and completions, streaming)", setup);

}  // namespace nexus::cli

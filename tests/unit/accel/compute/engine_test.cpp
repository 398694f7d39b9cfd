// The engine end to end on a tiny model: greedy output equals the reference model's argmax chain,
// batching does not change results, and admission, stop strings, limits and cancellation behave.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <condition_variable>
#include <filesystem>
#include <future>
#include <mutex>
#include <thread>

#include "accel/compute/engine.hpp"
#include "accel/compute/scheduler.hpp"
#include "accel/gguf/demo_model.hpp"
#include "accel/gguf/quantize.hpp"
#include "accel/tokenizer/tokenizer.hpp"
#include "reference_forward.hpp"
#include "tiny_model.hpp"

namespace sovereign::accel::test {
namespace {

struct Outcome {
  std::string text;
  std::vector<std::string> pieces;
  FinishReason reason = FinishReason::error;
  Usage usage;
};

// Collects one request's events and lets the test wait for on_finish.
struct Collector {
  std::mutex mutex;
  std::condition_variable done_cv;
  bool done = false;
  int finishes = 0;
  Outcome outcome;

  GenerationEvents events() {
    return {[this](std::string_view text) {
              std::lock_guard lock(mutex);
              outcome.text += text;
              outcome.pieces.emplace_back(text);
            },
            [this](FinishReason reason, Usage usage) {
              std::lock_guard lock(mutex);
              outcome.reason = reason;
              outcome.usage = usage;
              done = true;
              ++finishes;
              done_cv.notify_all();
            }};
  }
  Outcome wait() {
    std::unique_lock lock(mutex);
    REQUIRE(done_cv.wait_for(lock, std::chrono::seconds(60), [this] { return done; }));
    return outcome;
  }
};

struct TinyEngine {
  std::filesystem::path path = temporary_model_path("engine");
  std::unique_ptr<Engine> engine;

  explicit TinyEngine(EngineOptions options = {}, TinyModelSpec spec = {}) {
    REQUIRE(write_tiny_model(path, spec) == "");
    options.model_file = path;
    options.device = "cpu";
    options.threads = 2;
    if (options.context_length > 256) options.context_length = 256;
    auto loaded = Engine::load(options);
    if (auto* error = std::get_if<std::string>(&loaded)) FAIL(*error);
    engine = std::move(std::get<std::unique_ptr<Engine>>(loaded));
  }
  ~TinyEngine() {
    engine.reset();
    std::filesystem::remove(path);
  }

  Outcome run(GenerationRequest request) {
    Collector c;
    auto submitted = engine->submit(std::move(request), c.events());
    if (auto* error = std::get_if<std::string>(&submitted)) FAIL(*error);
    return c.wait();
  }
};

GenerationRequest completion(std::string prompt, int max_tokens, float temperature = 0.0f) {
  GenerationRequest r;
  r.prompt = std::move(prompt);
  r.sampling.max_tokens = max_tokens;
  r.sampling.temperature = temperature;
  return r;
}

}  // namespace

TEST_CASE("greedy generation reproduces the reference model's argmax tokens") {
  TinyEngine tiny;
  const std::string prompt = "hello world";
  const Outcome out = tiny.run(completion(prompt, 12));

  auto file = std::get<gguf::File>(gguf::File::open(tiny.path));
  auto tokenizer = std::move(std::get<std::unique_ptr<Tokenizer>>(Tokenizer::from_gguf(file)));
  std::vector<std::int32_t> tokens = tokenizer->encode(prompt, tokenizer->add_bos_by_default(), false);
  const std::size_t prompt_tokens = tokens.size();
  std::string expected;
  const std::vector<std::int32_t> ends = tokenizer->end_of_turn_tokens();
  FinishReason expected_reason = FinishReason::length;
  compute::TextStream stream({});
  for (int i = 0; i < 12; ++i) {
    const auto logits = reference_logits(file, tokens);
    const auto& last = logits.back();
    const auto next = static_cast<std::int32_t>(std::max_element(last.begin(), last.end()) - last.begin());
    if (next == tokenizer->eos() || std::find(ends.begin(), ends.end(), next) != ends.end()) {
      expected_reason = FinishReason::stop;
      break;
    }
    tokens.push_back(next);
    expected += stream.push(tokenizer->decode_token(next)).text;
  }
  expected += stream.finish();
  CHECK(out.usage.prompt_tokens == static_cast<int>(prompt_tokens));
  CHECK(out.usage.completion_tokens == static_cast<int>(tokens.size() - prompt_tokens));
  CHECK(out.reason == expected_reason);
  CHECK(out.text == expected);
}

TEST_CASE("requests batched together produce exactly what each produces alone") {
  EngineOptions options;
  options.max_batch = 3;
  TinyEngine tiny(options);
  const std::vector<std::string> prompts{"hello", "the world is", "a", "hello world the", "is the"};
  std::vector<Outcome> alone;
  for (const std::string& p : prompts) alone.push_back(tiny.run(completion(p, 10)));

  std::vector<std::unique_ptr<Collector>> collectors;
  for (const std::string& p : prompts) {
    collectors.push_back(std::make_unique<Collector>());
    auto submitted = tiny.engine->submit(completion(p, 10), collectors.back()->events());
    REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(submitted));
  }
  for (std::size_t i = 0; i < prompts.size(); ++i) {
    const Outcome together = collectors[i]->wait();
    CHECK(together.text == alone[i].text);
    CHECK(together.usage.completion_tokens == alone[i].usage.completion_tokens);
  }
}

TEST_CASE("a seeded sampled request is reproducible") {
  TinyEngine tiny;
  GenerationRequest r = completion("hello", 16, 1.0f);
  r.sampling.seed = 1234;
  r.sampling.top_k = 40;
  r.sampling.top_p = 0.9f;
  const Outcome first = tiny.run(r);
  const Outcome second = tiny.run(r);
  CHECK(first.text == second.text);
  CHECK(first.usage.completion_tokens == second.usage.completion_tokens);
}

TEST_CASE("max_tokens ends a generation with reason length and exact usage") {
  TinyEngine tiny;
  GenerationRequest r = completion("hello world", 5, 1.0f);
  r.sampling.seed = 99;
  // Sample until a run ends by length (an early end-of-sequence is a legitimate stop).
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    r.sampling.seed = seed;
    const Outcome out = tiny.run(r);
    if (out.reason == FinishReason::stop) {
      CHECK(out.usage.completion_tokens < 5);
      continue;
    }
    CHECK(out.reason == FinishReason::length);
    CHECK(out.usage.completion_tokens == 5);
    return;
  }
  FAIL("no seed ran to max_tokens");
}

TEST_CASE("without max_tokens a generation runs to an end-of-text token or the end of the context") {
  CHECK_FALSE(SamplingParams{}.max_tokens.has_value());
  EngineOptions options;
  options.context_length = 40;
  TinyEngine tiny(options);
  GenerationRequest r;
  r.prompt = "hello world";
  r.sampling.temperature = 1.0f;
  for (std::uint64_t seed = 0; seed < 20; ++seed) {
    r.sampling.seed = seed;
    const Outcome out = tiny.run(r);
    if (out.reason == FinishReason::stop) continue;  // an end-of-text token came first
    CHECK(out.reason == FinishReason::length);
    CHECK(out.usage.prompt_tokens + out.usage.completion_tokens == 40);
    return;
  }
  FAIL("no seed ran to the end of the context");
}

TEST_CASE("a stop string ends the text just before it, with reason stop") {
  TinyEngine tiny;
  const Outcome full = tiny.run(completion("hello", 24));
  REQUIRE(full.text.size() >= 6);
  // A short stop string taken from the middle of the greedy output.
  const std::string stop = full.text.substr(full.text.size() / 2, 2);
  GenerationRequest r = completion("hello", 24);
  r.sampling.stop = {stop};
  const Outcome stopped = tiny.run(r);
  CHECK(stopped.reason == FinishReason::stop);
  CHECK(stopped.text == full.text.substr(0, full.text.find(stop)));
}

TEST_CASE("chat requests are rendered with the model's template and generate") {
  TinyEngine tiny;
  GenerationRequest r;
  r.messages = {{"system", "be brief"}, {"user", "hello"}};
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 4;
  const Outcome out = tiny.run(r);
  CHECK(out.usage.prompt_tokens > 10);
  CHECK((out.reason == FinishReason::length || out.reason == FinishReason::stop));
}

namespace {

// The tiny chat template ends its prompt with "assistant\n": the answer follows a newline byte token.
TinyModelSpec scripted_answer(std::vector<std::pair<std::int32_t, std::int32_t>> script) {
  TinyModelSpec spec;
  spec.script = std::move(script);
  return spec;
}

GenerationRequest greedy_chat(std::string content) {
  GenerationRequest r;
  r.messages = {{"user", std::move(content)}};
  r.sampling.temperature = 0;
  r.sampling.max_tokens = 16;
  return r;
}

}  // namespace

TEST_CASE("a chat answer does not start with SentencePiece's word space; a completion keeps it") {
  TinyEngine tiny({}, scripted_answer({{tiny_byte_token('\n'), kTinyHello}, {kTinyHello, kTinyWorld},
                                       {kTinyWorld, kTinyEos}}));
  // "▁hello ▁world": decoded as one sequence, as Hugging Face decodes the generated ids, "hello world".
  const Outcome answer = tiny.run(greedy_chat("hi"));
  CHECK(answer.text == "hello world");
  CHECK(answer.pieces == std::vector<std::string>{"hello", " world"});
  CHECK(answer.reason == FinishReason::stop);
  CHECK(answer.usage.completion_tokens == 2);
  // A completion continues its prompt: the space separates the prompt's last word from the answer's first.
  const Outcome continued = tiny.run(completion("hi\n", 16));
  CHECK(continued.text == " hello world");
  CHECK(continued.usage.completion_tokens == 2);
}

TEST_CASE("only the first space of a chat answer goes, and only for a tokenizer that adds one") {
  // A lone space token first: it is the one dropped; the answer's next space stays.
  TinyEngine lone({}, scripted_answer({{tiny_byte_token('\n'), tiny_byte_token(' ')},
                                       {tiny_byte_token(' '), kTinyHello}, {kTinyHello, kTinyEos}}));
  CHECK(lone.run(greedy_chat("hi")).text == " hello");

  // Without tokenizer.ggml.add_space_prefix the tokenizer writes no space of its own: none is dropped.
  TinyModelSpec no_prefix = scripted_answer({{tiny_byte_token('\n'), kTinyHello}, {kTinyHello, kTinyEos}});
  no_prefix.tamper = [](gguf::Writer& w) { w.set("tokenizer.ggml.add_space_prefix", false); };
  TinyEngine kept({}, no_prefix);
  CHECK(kept.run(greedy_chat("hi")).text == " hello");
}

TEST_CASE("a conversation the model's chat format cannot answer is refused at submit, naming the message") {
  TinyModelSpec llama2;
  llama2.tamper = [](gguf::Writer& w) { w.set("tokenizer.chat_template", std::string("[INST] <<SYS>>")); };
  TinyEngine tiny({}, llama2);
  GenerationRequest r = greedy_chat("U");
  r.messages.push_back({"assistant", "A"});
  Collector c;
  const auto submitted = tiny.engine->submit(r, c.events());
  REQUIRE(std::holds_alternative<std::string>(submitted));
  CHECK(std::get<std::string>(submitted) ==
        std::string(kInvalidPrefix) + "'messages[1].role' is assistant, the last message; the llama2 chat format "
                                      "of this model answers a user message only: end the conversation with one");
  r.messages.push_back({"user", "V"});
  CHECK(tiny.run(r).usage.completion_tokens >= 1);
}

TEST_CASE("requests that can never run are refused at submit with a reason") {
  EngineOptions options;
  options.context_length = 32;
  TinyEngine tiny(options);
  Collector c;
  auto too_long = tiny.engine->submit(completion(std::string(64, 'x'), 4), c.events());
  REQUIRE(std::holds_alternative<std::string>(too_long));
  CHECK(std::get<std::string>(too_long).find("context exceeded: the prompt is") == 0);
  CHECK(std::get<std::string>(too_long).find("context holds 32") != std::string::npos);

  GenerationRequest bad = completion("hi", 4);
  bad.sampling.top_p = 0;
  auto refused = tiny.engine->submit(bad, c.events());
  REQUIRE(std::holds_alternative<std::string>(refused));
  CHECK(std::get<std::string>(refused) == "invalid request: top_p must be in (0, 1]");

  GenerationRequest empty;
  refused = tiny.engine->submit(empty, c.events());
  REQUIRE(std::holds_alternative<std::string>(refused));
  CHECK(std::get<std::string>(refused) == "invalid request: no messages and no prompt");

  // The context limit also caps max_tokens: a long request still finishes by length.
  const Outcome capped = tiny.run(completion("hello", 1000, 0.0f));
  CHECK(capped.usage.prompt_tokens + capped.usage.completion_tokens <= 32);
}

// A running request whose first piece of text blocks the scheduler thread until release(): the
// batch and its pages stay occupied meanwhile.
struct BlockingRequest {
  Collector collector;
  std::promise<void> entered, released;
  std::shared_future<void> go = released.get_future().share();
  bool first_piece = true;

  BlockingRequest(Engine& engine, GenerationRequest request) {
    GenerationEvents events = collector.events();
    events.on_text = [this, record = events.on_text](std::string_view text) {
      record(text);
      if (std::exchange(first_piece, false)) {
        entered.set_value();
        go.wait();
      }
    };
    REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(engine.submit(std::move(request), events)));
    entered.get_future().wait();
  }
  void release() { released.set_value(); }
};

TEST_CASE("a full queue refuses with engine busy while the batch is occupied") {
  EngineOptions options;
  options.max_batch = 1;
  options.max_queue = 2;
  TinyEngine tiny(options);

  BlockingRequest blocker(*tiny.engine, completion("hello", 50, 0.0f));

  Collector second, third, fourth;
  CHECK(std::holds_alternative<std::shared_ptr<GenerationHandle>>(tiny.engine->submit(completion("a", 3), second.events())));
  CHECK(std::holds_alternative<std::shared_ptr<GenerationHandle>>(tiny.engine->submit(completion("a", 3), third.events())));
  EngineStats stats = tiny.engine->stats();
  CHECK(stats.queue_depth == 2);
  CHECK(stats.active_sequences == 1);
  CHECK(stats.kv_cache_used_fraction > 0);
  CHECK(stats.device.find("cpu") == 0);
  auto refused = tiny.engine->submit(completion("a", 3), fourth.events());
  REQUIRE(std::holds_alternative<std::string>(refused));
  CHECK(std::get<std::string>(refused).find("engine busy: 2 requests are already waiting") == 0);

  blocker.release();
  blocker.collector.wait();
  CHECK(second.wait().usage.prompt_tokens > 0);
  CHECK(third.wait().usage.prompt_tokens > 0);
}

TEST_CASE("a cancelled queued request leaves the queue depth at once and the queue before those ahead of it") {
  EngineOptions options;
  options.max_batch = 1;
  options.max_queue = 2;
  TinyEngine tiny(options);
  BlockingRequest blocker(*tiny.engine, completion("hello", 50, 0.0f));

  // The order on_finish arrives in, the blocking generation's included (whether it had ended yet).
  std::mutex order_mutex;
  std::vector<std::string> finished;
  auto noting = [&](Collector& collector, std::string name) {
    GenerationEvents events = collector.events();
    events.on_finish = [&, name, record = events.on_finish](FinishReason reason, Usage usage) {
      bool blocker_done = false;
      {
        std::lock_guard lock(blocker.collector.mutex);
        blocker_done = blocker.collector.done;
      }
      {
        std::lock_guard lock(order_mutex);
        if (blocker_done && std::find(finished.begin(), finished.end(), "blocker") == finished.end())
          finished.push_back("blocker");
        finished.push_back(name);
      }
      record(reason, usage);
    };
    return events;
  };
  Collector ahead, behind, later;
  REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(
      tiny.engine->submit(completion("a", 3), noting(ahead, "ahead"))));
  auto submitted = tiny.engine->submit(completion("b", 3), noting(behind, "behind"));
  REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(submitted));
  CHECK(tiny.engine->stats().queue_depth == 2);

  // Its client leaves while the scheduler is still in the step: the gauge and max_queue stop counting
  // it before the scheduler has looked at the queue again.
  std::get<std::shared_ptr<GenerationHandle>>(submitted)->cancel();
  CHECK(tiny.engine->stats().queue_depth == 1);
  REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(
      tiny.engine->submit(completion("c", 3), noting(later, "later"))));
  CHECK(tiny.engine->stats().queue_depth == 2);

  blocker.release();
  const Outcome withdrawn = behind.wait();
  CHECK(withdrawn.reason == FinishReason::cancelled);
  CHECK(withdrawn.usage.completion_tokens == 0);
  const auto served = [](const Outcome& o) { return o.reason == FinishReason::stop || o.reason == FinishReason::length; };
  CHECK(served(ahead.wait()));
  CHECK(served(later.wait()));
  blocker.collector.wait();
  // Withdrawn at the first admission after the step, while the blocking generation still ran: not
  // left in the queue behind "ahead" until a slot came free for it.
  std::lock_guard lock(order_mutex);
  CHECK(finished == std::vector<std::string>{"behind", "blocker", "ahead", "later"});
  CHECK(tiny.engine->stats().queue_depth == 0);
}

TEST_CASE("max_queue counts only requests beyond the free batch slots") {
  EngineOptions options;
  options.max_batch = 8;
  options.max_queue = 1;
  TinyEngine tiny(options);

  // The scheduler thread is held inside a step: nothing submitted now is admitted before release(),
  // so every request below sits in the queue while seven slots are free.
  BlockingRequest blocker(*tiny.engine, completion("hello", 50, 0.0f));
  // CHECK, not REQUIRE, until release(): leaving early would keep the scheduler thread blocked.
  std::vector<std::unique_ptr<Collector>> accepted;
  for (int i = 0; i < 8; ++i) {  // seven for the free slots, one waiting
    CAPTURE(i);
    auto collector = std::make_unique<Collector>();
    auto submitted = tiny.engine->submit(completion("a", 3), collector->events());
    CHECK(std::holds_alternative<std::shared_ptr<GenerationHandle>>(submitted));
    if (std::holds_alternative<std::shared_ptr<GenerationHandle>>(submitted)) accepted.push_back(std::move(collector));
  }
  Collector refused_collector;
  auto refused = tiny.engine->submit(completion("a", 3), refused_collector.events());
  CHECK(std::holds_alternative<std::string>(refused));
  if (auto* why = std::get_if<std::string>(&refused)) CHECK(*why == "engine busy: 1 requests are already waiting");

  blocker.release();
  CHECK(blocker.collector.wait().usage.completion_tokens > 0);
  for (auto& c : accepted) CHECK(c->wait().usage.prompt_tokens > 0);
}

TEST_CASE("with a KV cache smaller than every slot's context, a request that does not fit waits for pages") {
  EngineOptions options;
  options.context_length = 64;
  options.max_batch = 2;
  options.kv_cache_tokens = 64;  // one full context for two slots
  TinyEngine tiny(options);

  BlockingRequest big(*tiny.engine, completion("hello", 40, 0.0f));  // prompt + 40 tokens: three of four pages

  // A slot is free but the pages are not: it waits, first come first served, and is not refused.
  Collector waiting;
  REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(
      tiny.engine->submit(completion("hello", 40, 0.0f), waiting.events())));
  EngineStats stats = tiny.engine->stats();
  CHECK(stats.active_sequences == 1);
  CHECK(stats.queue_depth == 1);
  CHECK(stats.kv_cache_used_fraction > 0);  // pages written so far; three are reserved

  big.release();
  CHECK(big.collector.wait().usage.completion_tokens > 0);
  CHECK(waiting.wait().usage.completion_tokens > 0);  // ran once the first one's pages came back
  // on_finish comes before the scheduler retires the sequence: the pages come back just after.
  EngineStats after = tiny.engine->stats();
  for (int i = 0; i < 200 && after.kv_cache_used_fraction > 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
    after = tiny.engine->stats();
  }
  CHECK(after.queue_depth == 0);
  CHECK(after.kv_cache_used_fraction == 0);
}

TEST_CASE("cancelling a running or queued request finishes it with reason cancelled") {
  EngineOptions options;
  options.max_batch = 1;
  TinyEngine tiny(options);
  Collector running, queued;
  std::shared_ptr<GenerationHandle> running_handle;
  std::mutex handle_mutex;
  GenerationEvents events = running.events();
  auto record = events.on_text;
  events.on_text = [&, record](std::string_view text) {
    record(text);
    std::lock_guard lock(handle_mutex);
    if (running_handle) running_handle->cancel();
  };
  {
    std::lock_guard lock(handle_mutex);
    auto submitted = tiny.engine->submit(completion("hello", 200, 0.0f), events);
    running_handle = std::get<std::shared_ptr<GenerationHandle>>(submitted);
  }
  auto second = tiny.engine->submit(completion("world", 200, 0.0f), queued.events());
  std::get<std::shared_ptr<GenerationHandle>>(second)->cancel();
  std::get<std::shared_ptr<GenerationHandle>>(second)->cancel();

  const Outcome a = running.wait();
  CHECK(a.reason == FinishReason::cancelled);
  CHECK(a.usage.completion_tokens < 200);
  const Outcome b = queued.wait();
  CHECK(b.reason == FinishReason::cancelled);
  CHECK(b.usage.completion_tokens == 0);
}

TEST_CASE("destroying the engine finishes outstanding requests as cancelled") {
  EngineOptions options;
  options.max_batch = 1;
  auto tiny = std::make_unique<TinyEngine>(options);
  // The running request holds the scheduler inside on_text until the destructor has begun.
  std::promise<void> entered, release;
  std::shared_future<void> released = release.get_future().share();
  bool first_piece = true;
  Collector a, b;
  GenerationEvents blocking = a.events();
  auto record = blocking.on_text;
  blocking.on_text = [&, record](std::string_view text) {
    record(text);
    if (std::exchange(first_piece, false)) {
      entered.set_value();
      released.wait();
    }
  };
  REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(
      tiny->engine->submit(completion("hello", 200, 0.0f), blocking)));
  entered.get_future().wait();
  REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(
      tiny->engine->submit(completion("hello", 200, 0.0f), b.events())));
  std::thread destroyer([&] { tiny.reset(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  release.set_value();
  destroyer.join();
  CHECK(a.finishes == 1);
  CHECK(b.finishes == 1);
  CHECK(a.outcome.reason == FinishReason::cancelled);
  CHECK(b.outcome.reason == FinishReason::cancelled);
  CHECK(b.outcome.usage.completion_tokens == 0);
}

TEST_CASE("many threads submitting and cancelling at once each get exactly one on_finish") {
  EngineOptions options;
  options.max_batch = 4;
  options.max_queue = 1000;
  TinyEngine tiny(options);
  constexpr int kThreads = 6;
  constexpr int kPerThread = 8;
  std::vector<std::unique_ptr<Collector>> collectors(kThreads * kPerThread);
  for (auto& c : collectors) c = std::make_unique<Collector>();
  std::vector<std::thread> submitters;
  for (int t = 0; t < kThreads; ++t)
    submitters.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        Collector& c = *collectors[static_cast<std::size_t>(t * kPerThread + i)];
        GenerationRequest r = completion(i % 2 ? "hello world" : "the", 6 + i, 0.8f);
        r.sampling.seed = static_cast<std::uint64_t>(t * 100 + i);
        auto submitted = tiny.engine->submit(r, c.events());
        REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(submitted));
        if (i % 3 == 0) std::get<std::shared_ptr<GenerationHandle>>(submitted)->cancel();
        (void)tiny.engine->stats();
      }
    });
  for (std::thread& t : submitters) t.join();
  for (auto& c : collectors) {
    const Outcome out = c->wait();
    CHECK(c->finishes == 1);
    CHECK(out.usage.completion_tokens <= 13);
  }
  // Slots are returned just after the last on_finish; give the scheduler a moment to retire them.
  EngineStats idle = tiny.engine->stats();
  for (int i = 0; i < 500 && idle.active_sequences != 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
    idle = tiny.engine->stats();
  }
  CHECK(idle.queue_depth == 0);
  CHECK(idle.active_sequences == 0);
  CHECK(idle.kv_cache_used_fraction == 0.0);
}

TEST_CASE("the quickstart demo model (model make-demo) loads and streams a chat reply") {
  const std::filesystem::path path = temporary_model_path("demo");
  gguf::DemoModelOptions demo;
  demo.matrix_type = gguf::TensorType::q8_0;
  REQUIRE_FALSE(gguf::write_demo_model(demo, path).has_value());
  EngineOptions options;
  options.model_file = path;
  options.device = "cpu";
  options.threads = 2;
  options.context_length = 512;
  options.max_batch = 2;
  auto loaded = Engine::load(options);
  std::filesystem::remove(path);
  if (auto* error = std::get_if<std::string>(&loaded)) FAIL(*error);
  Engine& engine = *std::get<std::unique_ptr<Engine>>(loaded);
  CHECK(engine.context_length() == 512);
  CHECK_FALSE(engine.model_name().empty());
  GenerationRequest r;
  r.messages = {{"user", "Hello there"}};
  r.sampling.max_tokens = 16;
  r.sampling.seed = 5;
  Collector c;
  REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(engine.submit(r, c.events())));
  const Outcome out = c.wait();
  CHECK(out.usage.prompt_tokens > 3);
  CHECK(out.usage.completion_tokens >= 1);
  CHECK(out.usage.completion_tokens <= 16);
  CHECK((out.reason == FinishReason::length || out.reason == FinishReason::stop));
}

TEST_CASE("check refuses every device load refuses, in load's words, and accepts the CPU") {
  const std::filesystem::path path = temporary_model_path("engine-check-device");
  REQUIRE(write_tiny_model(path, {}) == "");
  EngineOptions options;
  options.model_file = path;
  options.context_length = 128;
  options.device = "cpu";
  CHECK(Engine::check(options) == "");
  // cuda:64 exists on no machine: refused whether or not this build has CUDA.
  for (const char* device : {"cuda:64", "tpu", "cuda:x"}) {
    CAPTURE(device);
    options.device = device;
    const std::string checked = Engine::check(options);
    CHECK(checked.find(path.string() + ": device '" + device + "'") == 0);
    auto loaded = Engine::load(options);
    REQUIRE(std::holds_alternative<std::string>(loaded));
    CHECK(std::get<std::string>(loaded) == checked);
  }
  std::filesystem::remove(path);
}

TEST_CASE("loading reports bad options and devices with the model path") {
  const std::filesystem::path path = temporary_model_path("engine-options");
  REQUIRE(write_tiny_model(path, {}) == "");
  EngineOptions options;
  options.model_file = path;
  options.device = "cpu";
  options.context_length = 100000;
  auto loaded = Engine::load(options);
  REQUIRE(std::holds_alternative<std::string>(loaded));
  CHECK(std::get<std::string>(loaded) ==
        path.string() + ": context_length 100000 exceeds the model's trained context of 256 tokens");
  options.context_length = 128;
  options.device = "tpu";
  loaded = Engine::load(options);
  REQUIRE(std::holds_alternative<std::string>(loaded));
  CHECK(std::get<std::string>(loaded) == path.string() + ": device 'tpu': expected auto, cpu, cuda or cuda:N");
  options.device = "cpu";
  options.kv_cache_tokens = 100;
  loaded = Engine::load(options);
  REQUIRE(std::holds_alternative<std::string>(loaded));
  CHECK(std::get<std::string>(loaded) ==
        path.string() + ": kv_cache_tokens 100 is below context_length 128: a request filling its context could never run");
  options.kv_cache_tokens = 0;
  options.device = "cuda:x";
  loaded = Engine::load(options);
  REQUIRE(std::holds_alternative<std::string>(loaded));
  CHECK(std::get<std::string>(loaded).find("expected cuda:N") != std::string::npos);
  options.model_file = path.string() + ".missing";
  loaded = Engine::load(options);
  REQUIRE(std::holds_alternative<std::string>(loaded));
  CHECK(std::get<std::string>(loaded).find(".missing: ") == path.string().size());
  std::filesystem::remove(path);
}

TEST_CASE("check and load name the option at fault, so a configuration can point at its setting") {
  const std::filesystem::path path = temporary_model_path("engine-option-at-fault");
  REQUIRE(write_tiny_model(path, {}) == "");
  EngineOptions options;
  options.model_file = path;
  options.device = "cpu";
  options.context_length = 100000;
  std::string at_fault = "unset";
  CHECK_FALSE(Engine::check(options, &at_fault).empty());
  CHECK(at_fault == "context_length");
  at_fault = "unset";
  CHECK(std::holds_alternative<std::string>(Engine::load(options, &at_fault)));
  CHECK(at_fault == "context_length");
  options.context_length = 128;
  options.kv_cache_tokens = 100;
  CHECK_FALSE(Engine::check(options, &at_fault).empty());
  CHECK(at_fault == "kv_cache_tokens");
  options.kv_cache_tokens = 0;
  options.device = "cuda:64";
  CHECK_FALSE(Engine::check(options, &at_fault).empty());
  CHECK(at_fault == "device");
  CHECK(std::holds_alternative<std::string>(Engine::load(options, &at_fault)));
  CHECK(at_fault == "device");
  // The file itself at fault: no option named.
  options.device = "cpu";
  options.model_file = path.string() + ".missing";
  CHECK_FALSE(Engine::check(options, &at_fault).empty());
  CHECK(at_fault == "");
  options.model_file = path;
  CHECK(Engine::check(options, &at_fault) == "");
  CHECK(at_fault == "");
  std::filesystem::remove(path);
}

TEST_CASE("a model whose logits are NaN ends each request with an error naming the numerical fault") {
  // Every embedding NaN: load accepts it (the matrices are not scanned), the first logits are NaN.
  TinyModelSpec spec;
  spec.omit_tensors = {"token_embd.weight"};
  spec.tamper = [](gguf::Writer& w) {
    const std::vector<float> nan(static_cast<std::size_t>(kTinyVocab) * 64, std::nanf(""));
    w.add_tensor("token_embd.weight", {64, kTinyVocab}, gguf::TensorType::f32, gguf::quantize(gguf::TensorType::f32, nan));
  };
  EngineOptions options;
  options.max_batch = 2;
  TinyEngine tiny(options, spec);
  for (const float temperature : {0.0f, 0.8f}) {
    CAPTURE(temperature);
    Collector c;
    auto submitted = tiny.engine->submit(completion("hello", 5, temperature), c.events());
    REQUIRE(std::holds_alternative<std::shared_ptr<GenerationHandle>>(submitted));
    const Outcome outcome = c.wait();
    CHECK(outcome.reason == FinishReason::error);
    CHECK(outcome.text.empty());
    CHECK(outcome.usage.completion_tokens == 0);
    const std::string& failure = std::get<std::shared_ptr<GenerationHandle>>(submitted)->failure();
    CHECK(failure.starts_with(kNumericalFaultPrefix));
    CHECK(failure.find("non-finite logits (NaN or infinity) at position ") != std::string::npos);
  }
  // The engine serves on (here: the same fault again, not a hang or a crash).
  CHECK(tiny.run(completion("hi", 2)).reason == FinishReason::error);
}

}  // namespace sovereign::accel::test

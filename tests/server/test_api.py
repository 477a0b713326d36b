"""Chat and completions through the openai SDK: streaming and not, stop, seed, logprobs,
usage against `nexus tokenize`, models, metrics, graceful shutdown."""
import signal
import time
import unittest

import server_fixture
from server_fixture import ALIAS

PROMPT = "Once upon a time"
# chatml rendered for one user message (stories260K has no chat template and no <|im_start|>
# token, so the markers are plain text).
CHATML_HELLO = "<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n"


def srv():
    return server_fixture.SERVER


class ApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = srv().client()

    def chat(self, content="Hello", **kw):
        kw.setdefault("model", ALIAS)
        return self.c.chat.completions.create(messages=[{"role": "user", "content": content}], **kw)

    def test_models(self):
        models = self.c.models.list()
        self.assertEqual([m.id for m in models.data], [ALIAS])
        self.assertEqual(self.c.models.retrieve(ALIAS).id, ALIAS)

    def test_health(self):
        status, _, body = srv().raw("GET", "/health", headers={"Authorization": ""})
        self.assertEqual(status, 200, body)

    def test_chat_completion(self):
        r = self.chat(max_tokens=20, temperature=0)
        self.assertEqual(r.object, "chat.completion")
        self.assertEqual(r.model, ALIAS)
        self.assertTrue(r.id.startswith("chatcmpl-"))
        ch = r.choices[0]
        self.assertEqual(ch.message.role, "assistant")
        self.assertIsInstance(ch.message.content, str)
        self.assertIn(ch.finish_reason, ("stop", "length"))
        self.assertLessEqual(r.usage.completion_tokens, 20)
        if ch.finish_reason == "length":
            self.assertEqual(r.usage.completion_tokens, 20)
        self.assertEqual(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens)

    def test_model_may_be_the_file_name(self):
        r = self.chat(model="stories260K.gguf", max_tokens=2, temperature=0)
        self.assertEqual(r.model, ALIAS)

    def test_chat_usage_matches_tokenizer(self):
        r = self.chat(max_tokens=4, temperature=0)
        self.assertEqual(r.usage.prompt_tokens, len(srv().tokenize(CHATML_HELLO)))

    def test_completion_usage_matches_tokenizer(self):
        r = self.c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=10, temperature=0)
        self.assertEqual(r.usage.prompt_tokens, len(srv().tokenize(PROMPT)))
        self.assertEqual(r.usage.completion_tokens, 10)
        self.assertEqual(r.choices[0].finish_reason, "length")

    def test_completion_greedy_continues_the_story(self):
        r = self.c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=24, temperature=0)
        self.assertEqual(r.object, "text_completion")
        # The model's well-known greedy continuation (shared/README.md).
        self.assertIn("Lily", r.choices[0].text)

    def test_chat_stream_equals_whole(self):
        whole = self.chat(max_tokens=24, temperature=0)
        stream = self.chat(max_tokens=24, temperature=0, stream=True, stream_options={"include_usage": True})
        text, finish, usage, roles = "", None, None, []
        for chunk in stream:
            self.assertEqual(chunk.object, "chat.completion.chunk")
            if chunk.usage is not None:
                usage = chunk.usage
                self.assertEqual(chunk.choices, [])
                continue
            d = chunk.choices[0].delta
            if d.role:
                roles.append(d.role)
            text += d.content or ""
            if chunk.choices[0].finish_reason:
                finish = chunk.choices[0].finish_reason
        self.assertEqual(roles, ["assistant"])
        self.assertEqual(text, whole.choices[0].message.content)
        self.assertEqual(finish, whole.choices[0].finish_reason)
        self.assertIsNotNone(usage)
        self.assertEqual(usage.completion_tokens, whole.usage.completion_tokens)
        self.assertEqual(usage.prompt_tokens, whole.usage.prompt_tokens)

    def test_completion_stream_equals_whole(self):
        whole = self.c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=30, temperature=0)
        parts, finish = [], None
        for chunk in self.c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=30, temperature=0, stream=True):
            parts.append(chunk.choices[0].text)
            finish = chunk.choices[0].finish_reason or finish
        self.assertEqual("".join(parts), whole.choices[0].text)
        self.assertEqual(finish, "length")

    def test_stop(self):
        full = self.c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=40, temperature=0).choices[0].text
        self.assertIn(" was", full)
        for stop in (" was", [" was", "zzz"]):
            r = self.c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=40, temperature=0, stop=stop)
            self.assertEqual(r.choices[0].text, full.split(" was")[0])
            self.assertEqual(r.choices[0].finish_reason, "stop")
        # Streaming cuts at the same place.
        parts = [c.choices[0].text for c in self.c.completions.create(
            model=ALIAS, prompt=PROMPT, max_tokens=40, temperature=0, stop=" was", stream=True)]
        self.assertEqual("".join(parts), full.split(" was")[0])

    def test_seed_reproducible(self):
        def sample(seed):
            return self.c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=40, temperature=1.0,
                                             seed=seed).choices[0].text
        a, b = sample(1234), sample(1234)
        self.assertEqual(a, b)
        others = {sample(s) for s in (1, 2, 3)}
        self.assertTrue(len(others | {a}) > 1, "different seeds gave identical samples")
        chat_a = self.chat(max_tokens=30, temperature=0.9, seed=77).choices[0].message.content
        chat_b = self.chat(max_tokens=30, temperature=0.9, seed=77).choices[0].message.content
        self.assertEqual(chat_a, chat_b)

    def test_chat_logprobs(self):
        r = self.chat(content="Once upon a time", max_tokens=12, temperature=0, logprobs=True, top_logprobs=3)
        lp = r.choices[0].logprobs.content
        self.assertEqual(len(lp), r.usage.completion_tokens)
        for t in lp:
            self.assertLessEqual(t.logprob, 0.0)
            self.assertEqual(len(t.top_logprobs), 3)
            tops = [x.logprob for x in t.top_logprobs]
            self.assertEqual(tops, sorted(tops, reverse=True))
            # Greedy: the chosen token is the most likely one.
            self.assertEqual(t.top_logprobs[0].token, t.token)
            self.assertAlmostEqual(t.top_logprobs[0].logprob, t.logprob, places=4)
            self.assertEqual(bytes(t.bytes).decode("utf-8", "replace"), t.token)
        joined = b"".join(bytes(t.bytes) for t in lp).decode("utf-8", "replace")
        self.assertTrue(joined.startswith(r.choices[0].message.content), (joined, r.choices[0].message.content))

    def test_chat_logprobs_streamed(self):
        n = 0
        for chunk in self.chat(max_tokens=8, temperature=0, logprobs=True, top_logprobs=2, stream=True):
            if chunk.choices and chunk.choices[0].logprobs:
                for t in chunk.choices[0].logprobs.content:
                    self.assertEqual(len(t.top_logprobs), 2)
                    n += 1
        self.assertEqual(n, 8)

    def test_chat_without_logprobs_has_none(self):
        r = self.chat(max_tokens=3, temperature=0)
        self.assertIsNone(r.choices[0].logprobs)

    def test_completion_logprobs(self):
        r = self.c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=10, temperature=0, logprobs=2)
        lp = r.choices[0].logprobs
        self.assertEqual(len(lp.tokens), 10)
        self.assertEqual(len(lp.token_logprobs), 10)
        self.assertEqual(len(lp.top_logprobs), 10)
        self.assertEqual(len(lp.text_offset), 10)
        for tok, top in zip(lp.tokens, lp.top_logprobs):
            self.assertEqual(len(top), 2)
            self.assertIn(tok, top)
        self.assertEqual(lp.text_offset, sorted(lp.text_offset))

    def test_penalties_accepted(self):
        r = self.chat(max_tokens=10, temperature=0, presence_penalty=1.5, frequency_penalty=1.0, top_p=0.9)
        self.assertIn(r.choices[0].finish_reason, ("stop", "length"))

    def test_max_completion_tokens(self):
        r = self.chat(max_completion_tokens=5, temperature=0)
        self.assertLessEqual(r.usage.completion_tokens, 5)

    def test_metrics(self):
        self.c.completions.create(model=ALIAS, prompt=PROMPT, max_tokens=5, temperature=0)
        m = srv().metrics()
        for name in ("nexus_prompt_tokens_total", "nexus_prompt_tokens_reused_total", "nexus_generated_tokens_total",
                     "nexus_tokens_per_second", "nexus_queue_depth", "nexus_active_sequences", "nexus_kv_blocks_used",
                     "nexus_kv_blocks_cached", "nexus_kv_blocks_total"):
            self.assertIn(name, m)
        self.assertGreaterEqual(m['nexus_requests_total{endpoint="/v1/completions",status="200"}'], 1)
        self.assertGreater(m["nexus_generated_tokens_total"], 0)
        self.assertGreater(m["nexus_kv_blocks_total"], 0)

    def test_prefix_reuse_shows_in_metrics(self):
        system = "You are a storyteller. " * 30
        before = srv().metrics()["nexus_prompt_tokens_reused_total"]
        for q in ("Tell me about a cat.", "Tell me about a dog."):
            r = self.c.chat.completions.create(model=ALIAS, max_tokens=4, temperature=0, messages=[
                {"role": "system", "content": system}, {"role": "user", "content": q}])
        after = srv().wait_idle()["nexus_prompt_tokens_reused_total"]
        self.assertGreater(after, before)
        self.assertGreater(r.usage.prompt_tokens_details.cached_tokens, 0)


class ShutdownTest(unittest.TestCase):
    """SIGTERM with a stream in flight: the stream ends (finished or cancelled), exit 0."""

    def test_graceful_shutdown(self):
        s = server_fixture.start(srv().nexus, srv().model)
        try:
            stream = s.client().completions.create(model=ALIAS, prompt=PROMPT, max_tokens=400, temperature=1.0,
                                                   seed=1, stream=True)
            it = iter(stream)
            next(it)
            t0 = time.time()
            s.proc.send_signal(signal.SIGTERM)
            try:
                for _ in it:
                    pass
            except Exception:  # cancelled by the deadline: an error event or a closed connection
                pass
            rc = s.proc.wait(timeout=15)
            self.assertEqual(rc, 0, s.log())
            self.assertLess(time.time() - t0, 10)
        finally:
            s.stop()

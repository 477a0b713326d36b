"""Bounded load: 32 concurrent clients x 4 requests, mixed prompt and output lengths, some
streaming, some cancelled mid-stream. Every request not cancelled gets 200; greedy outputs
equal the same request sent alone; once idle no sequence runs and no KV block is held."""
import threading
import time
import unittest

import server_fixture
from server_fixture import ALIAS

CLIENTS = 32
PER_CLIENT = 4

PROMPTS = [
    "Once upon a time",
    "The little dog ran to the park and",
    "Lily and Ben were best friends. One day they found a big red ball in the garden. They wanted to",
    "Tom had a toy car. " * 12 + "He",
]
MAX_TOKENS = [4, 16, 40, 80]


def srv():
    return server_fixture.SERVER


def request_spec(client, k):
    n = client * PER_CLIENT + k
    return {
        "chat": n % 2 == 0,
        "prompt": PROMPTS[(client + k) % len(PROMPTS)],
        "max_tokens": MAX_TOKENS[(n // 2) % len(MAX_TOKENS)],
        "stream": n % 3 == 0,
        "cancel": n % 7 == 3,  # streamed, closed after a couple of chunks
    }


def run_one(c, spec):
    """(text, finish_reason) of one greedy request, or None when cancelled on purpose."""
    common = dict(model=ALIAS, max_tokens=spec["max_tokens"], temperature=0)
    stream = spec["stream"] or spec["cancel"]
    if spec["chat"]:
        r = c.chat.completions.create(messages=[{"role": "user", "content": spec["prompt"]}], stream=stream, **common)
    else:
        r = c.completions.create(prompt=spec["prompt"], stream=stream, **common)
    if not stream:
        ch = r.choices[0]
        return (ch.message.content if spec["chat"] else ch.text), ch.finish_reason
    text, finish, chunks = "", None, 0
    for chunk in r:
        chunks += 1
        if spec["cancel"] and chunks >= 2:
            r.close()  # hang up mid-stream
            return None
        if not chunk.choices:
            continue
        ch = chunk.choices[0]
        text += (ch.delta.content or "") if spec["chat"] else ch.text
        finish = ch.finish_reason or finish
    return text, finish


class LoadTest(unittest.TestCase):
    def test_concurrent_clients(self):
        results = {}
        errors = []

        def client_thread(i):
            c = srv().client()
            for k in range(PER_CLIENT):
                spec = request_spec(i, k)
                try:
                    results[(i, k)] = run_one(c, spec)
                except Exception as e:  # noqa: BLE001 (any failure is a test failure)
                    errors.append(f"client {i} request {k} {spec}: {type(e).__name__}: {e}")

        t0 = time.time()
        threads = [threading.Thread(target=client_thread, args=(i,)) for i in range(CLIENTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        elapsed = time.time() - t0
        self.assertFalse(any(t.is_alive() for t in threads), "clients still running after 120 s")
        self.assertEqual(errors, [])
        self.assertEqual(len(results), CLIENTS * PER_CLIENT)

        # Each distinct request alone, one at a time: the reference for greedy outputs.
        c = srv().client()
        alone = {}
        mismatches = []
        for (i, k), got in sorted(results.items()):
            spec = request_spec(i, k)
            if spec["cancel"]:
                self.assertIsNone(got)
                continue
            key = (spec["chat"], spec["prompt"], spec["max_tokens"])
            if key not in alone:
                alone[key] = run_one(c, dict(spec, stream=False, cancel=False))
            if got != alone[key]:
                mismatches.append(f"{spec}: under load {got!r}, alone {alone[key]!r}")
        self.assertEqual(mismatches, [])

        m = srv().wait_idle()
        self.assertEqual(m["nexus_active_sequences"], 0)
        self.assertEqual(m["nexus_kv_blocks_used"], 0)
        self.assertEqual(m["nexus_queue_depth"], 0)
        print(f"\n  load: {CLIENTS}x{PER_CLIENT} requests in {elapsed:.1f} s", end=" ")

    def test_cancel_frees_sequence_quickly(self):
        c = srv().client()
        r = c.completions.create(model=ALIAS, prompt="Once upon a time", max_tokens=400, temperature=1.0, seed=3,
                                 stream=True)
        it = iter(r)
        next(it)
        next(it)
        r.close()
        t0 = time.time()
        m = srv().wait_idle(timeout=5)
        self.assertEqual(m["nexus_active_sequences"], 0)
        self.assertEqual(m["nexus_kv_blocks_used"], 0)
        self.assertLess(time.time() - t0, 3)

#!/usr/bin/env python3
"""Benchmarks `nexus serve` over HTTP (standard library only).

(a) Batching: total generated tokens/s with N concurrent streams vs one stream.
(b) Prefix reuse: time to first token of a chat request whose ~1000-token system prompt is
    already cached (a second request sharing it) vs the first one.

    tools/bench_server.py --nexus build/nexus -m MODEL.gguf [--streams 8] [--tokens 64]
    tools/bench_server.py --url http://127.0.0.1:8080 [--api-key KEY]   # a server already running

Without -m it uses Gemma 3 270M when tools/fetch_gemma3.sh has fetched it, else stories260K.
"""
import argparse
import http.client
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))


def default_model():
    cache = os.environ.get("NEXUS_CACHE", os.path.expanduser("~/.cache/nexus"))
    gemma = os.environ.get("NEXUS_GEMMA3_GGUF") or os.path.join(cache, "gemma-3-270m-q4_k_m.gguf")
    if os.path.isfile(gemma):
        return gemma
    shared = os.environ.get("NEXUS_SHARED", os.path.join(HERE, "..", "..", "shared"))
    return os.path.join(shared, "models", "stories260K.gguf")


def start_server(nexus, model, parallel, threads, ctx):
    cmd = [nexus, "serve", "-m", model, "--port", "0", "--parallel", str(parallel), "-c", str(ctx)]
    if threads:
        cmd += ["-t", str(threads)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        sys.stderr.write("  server: " + line)
        m = re.search(r"listening on (http://\S+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, m.group(1)
    raise SystemExit("nexus serve did not start")


class Client:
    def __init__(self, url, api_key):
        u = urllib.parse.urlparse(url)
        self.host, self.port = u.hostname, u.port
        self.headers = {"Content-Type": "application/json"}
        if api_key:
            self.headers["Authorization"] = f"Bearer {api_key}"

    def stream(self, path, body):
        """Streams one request; returns (seconds to first text, total seconds, completion tokens, cached)."""
        body = dict(body, stream=True, stream_options={"include_usage": True})
        conn = http.client.HTTPConnection(self.host, self.port, timeout=600)
        t0 = time.perf_counter()
        conn.request("POST", path, json.dumps(body), self.headers)
        r = conn.getresponse()
        if r.status != 200:
            raise RuntimeError(f"{r.status}: {r.read()[:300]!r}")
        ttft, usage = None, {}
        for raw in r:
            line = raw.decode().strip()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            ev = json.loads(line[6:])
            if ev.get("usage"):
                usage = ev["usage"]
            for ch in ev.get("choices", []):
                text = ch.get("text") or (ch.get("delta") or {}).get("content")
                if text and ttft is None:
                    ttft = time.perf_counter() - t0
        total = time.perf_counter() - t0
        conn.close()
        cached = (usage.get("prompt_tokens_details") or {}).get("cached_tokens", 0)
        return ttft or total, total, usage.get("completion_tokens", 0), cached


def throughput(client, streams, tokens):
    prompts = [f"Story number {i}: Once upon a time" for i in range(streams)]
    results = [None] * streams

    def run(i):
        results[i] = client.stream("/v1/completions", {"prompt": prompts[i], "max_tokens": tokens,
                                                       "temperature": 0.8, "seed": i, "min_p": 0.05})

    t0 = time.perf_counter()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    generated = sum(r[2] for r in results)
    return generated, wall


def chat_body(system, question, max_tokens):
    return {"messages": [{"role": "system", "content": system}, {"role": "user", "content": question}],
            "max_tokens": max_tokens, "temperature": 0}


def prefix_ttft(client, target_tokens=1000):
    sentence = ("You are a patient storyteller who answers in short, simple sentences for small children, "
                "always kind, never scary, and you like animals, gardens and the sea. ")
    # Sentences per ~target_tokens with this model's tokenizer, from two short probes.
    def prompt_tokens(k):
        body = chat_body(f"[probe {uuid.uuid4().hex[:8]}] " + sentence * k, "Hi.", 1)
        conn = http.client.HTTPConnection(client.host, client.port, timeout=600)
        conn.request("POST", "/v1/chat/completions", json.dumps(body), client.headers)
        usage = json.loads(conn.getresponse().read())["usage"]
        conn.close()
        return usage["prompt_tokens"]
    p1, p5 = prompt_tokens(1), prompt_tokens(5)
    per_sentence = max((p5 - p1) / 4, 1)
    k = max(1, round((target_tokens - (p1 - per_sentence)) / per_sentence))
    system = f"[session {uuid.uuid4().hex[:8]}] " + sentence * k  # a prefix no earlier run cached
    out = []
    for q in ("Tell me a story about a cat.", "Tell me a story about a dog."):
        ttft, _, _, cached = client.stream("/v1/chat/completions", chat_body(system, q, 8))
        out.append((ttft, cached))
    return out, round(p1 + (k - 1) * per_sentence)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--nexus", default=os.path.join(HERE, "..", "build", "nexus"))
    ap.add_argument("-m", "--model", default=None)
    ap.add_argument("--url", help="benchmark a running server instead of starting one")
    ap.add_argument("--api-key", default=os.environ.get("NEXUS_API_KEY", ""))
    ap.add_argument("--streams", type=int, default=8)
    ap.add_argument("--tokens", type=int, default=64, help="tokens generated per stream")
    ap.add_argument("-t", "--threads", type=int, default=0)
    ap.add_argument("-c", "--ctx", type=int, default=8192)
    args = ap.parse_args()

    proc = None
    url = args.url
    if not url:
        model = args.model or default_model()
        print(f"model: {model}")
        proc, url = start_server(args.nexus, model, args.streams, args.threads, args.ctx)
    client = Client(url, args.api_key)
    try:
        client.stream("/v1/completions", {"prompt": "Hello", "max_tokens": 4})  # warm-up
        g1, w1 = throughput(client, 1, args.tokens)
        gn, wn = throughput(client, args.streams, args.tokens)
        print(f"(a) 1 stream: {g1} tokens in {w1:.2f} s = {g1 / w1:.1f} tokens/s")
        print(f"    {args.streams} streams: {gn} tokens in {wn:.2f} s = {gn / wn:.1f} tokens/s "
              f"({(gn / wn) / (g1 / w1):.2f}x)")
        ((t_first, c_first), (t_second, c_second)), n_prompt = prefix_ttft(client)
        print(f"(b) time to first token, {n_prompt}-token prompt sharing its system prompt: first {t_first * 1e3:.1f} ms "
              f"({c_first} cached tokens), second {t_second * 1e3:.1f} ms ({c_second} cached tokens), "
              f"{t_first / max(t_second, 1e-9):.1f}x faster")
    finally:
        if proc:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()

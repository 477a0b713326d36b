"""A live `nexus serve` for the tests: start, wait for "listening on", talk, stop."""
import http.client
import json
import os
import re
import signal
import subprocess
import threading
import time

API_KEY = "test-key"
ALIAS = "stories"
MAX_BODY = 256 * 1024

SERVER = None  # set by run_server_tests.py


class Server:
    def __init__(self, nexus, model, proc):
        self.nexus = nexus
        self.model = model
        self.proc = proc
        self.port = None
        self.n_ctx_seq = None  # the longest sequence the server allows, from its start-up line
        self._lines = []
        self._ready = threading.Event()
        self._reader = threading.Thread(target=self._read_stderr, daemon=True)
        self._reader.start()

    def _read_stderr(self):
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self._lines.append(line)
            m = re.search(r"context (\d+) tokens per sequence", line)
            if m:
                self.n_ctx_seq = int(m.group(1))
            m = re.search(r"listening on http://[^:]+:(\d+)", line)
            if m:
                self.port = int(m.group(1))
                self._ready.set()
        self._ready.set()

    def log(self):
        return "".join(self._lines)

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}/v1"

    def client(self, api_key=API_KEY, **kw):
        import openai

        return openai.OpenAI(base_url=self.base_url, api_key=api_key, max_retries=0, timeout=60, **kw)

    def raw(self, method, path, body=None, headers=None, timeout=30):
        """(status, headers dict, body bytes) of one plain HTTP request."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        h = {"Authorization": f"Bearer {API_KEY}"}
        if body is not None:
            h["Content-Type"] = "application/json"
        h.update(headers or {})
        if isinstance(body, str):
            body = body.encode()
        try:
            conn.request(method, path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, dict(r.getheaders()), r.read()
        finally:
            conn.close()

    def metrics(self):
        status, _, body = self.raw("GET", "/metrics")
        assert status == 200, status
        out = {}
        for line in body.decode().splitlines():
            if line.startswith("#") or not line.strip():
                continue
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
        return out

    def wait_idle(self, timeout=10.0):
        """Metrics once no sequence runs and no KV block is held (or the last ones seen)."""
        deadline = time.time() + timeout
        while True:
            m = self.metrics()
            if m.get("nexus_active_sequences") == 0 and m.get("nexus_kv_blocks_used") == 0 \
                    and m.get("nexus_queue_depth") == 0:
                return m
            if time.time() > deadline:
                return m
            time.sleep(0.05)

    def tokenize(self, text):
        out = subprocess.run([self.nexus, "tokenize", "-m", self.model, "-p", text], check=True,
                             capture_output=True, text=True).stdout
        return [int(t) for t in out.split()]

    def stop(self, timeout=15):
        """SIGTERM; returns the exit code (-9 when it had to be killed)."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                return -9
        self._reader.join(timeout=2)
        return self.proc.returncode


def start(nexus, model, extra=(), timeout=60):
    cmd = [nexus, "serve", "-m", model, "--host", "127.0.0.1", "--port", "0", "--api-key", API_KEY,
           "--alias", ALIAS, "--parallel", "8", "-c", "4096", "--max-body-size", str(MAX_BODY), *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    s = Server(nexus, model, proc)
    if not s._ready.wait(timeout) or s.port is None:
        s.stop()
        raise RuntimeError(f"nexus serve did not start: {' '.join(cmd)}\n{s.log()}")
    return s


def error_of(body_bytes):
    """The "error" object of an error response body."""
    j = json.loads(body_bytes)
    assert isinstance(j, dict) and isinstance(j.get("error"), dict), j
    e = j["error"]
    assert isinstance(e.get("message"), str) and e["message"], e
    assert isinstance(e.get("type"), str), e
    assert "code" in e, e
    return e

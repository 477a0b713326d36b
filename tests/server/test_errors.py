"""Every error case: status code and OpenAI-shaped error body ({"error": {message, type, code}})."""
import json
import unittest

import openai

import server_fixture
from server_fixture import ALIAS, MAX_BODY, error_of

USER = [{"role": "user", "content": "Hello"}]


def srv():
    return server_fixture.SERVER


class ErrorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.c = srv().client()

    def sdk_error(self, exc_type, status, fn):
        with self.assertRaises(exc_type) as cm:
            fn()
        e = cm.exception
        self.assertEqual(e.status_code, status)
        body = e.response.json()
        err = body["error"]
        self.assertIsInstance(err["message"], str)
        self.assertTrue(err["message"])
        self.assertIn("type", err)
        self.assertIn("code", err)
        return err

    def test_malformed_json(self):
        for path in ("/v1/chat/completions", "/v1/completions"):
            status, headers, body = srv().raw("POST", path, '{"messages": [')
            self.assertEqual(status, 400)
            self.assertTrue(headers.get("Content-Type", "").startswith("application/json"))
            e = error_of(body)
            self.assertEqual(e["code"], "invalid_json")
            self.assertEqual(e["type"], "invalid_request_error")

    def test_body_not_an_object(self):
        status, _, body = srv().raw("POST", "/v1/chat/completions", "[1, 2]")
        self.assertEqual(status, 400)
        error_of(body)

    def test_wrong_field_types(self):
        cases = [
            dict(messages=USER, temperature="hot"),
            dict(messages=USER, max_tokens="ten"),
            dict(messages=USER, stream="yes"),
            dict(messages=USER, stop=5),
            dict(messages="Hello"),
            dict(messages=[{"role": "user", "content": 42}]),
        ]
        for kw in cases:
            with self.subTest(kw=kw):
                err = self.sdk_error(openai.BadRequestError, 400,
                                     lambda: self.c.chat.completions.create(model=ALIAS, **kw))
                self.assertEqual(err["code"], "invalid_type")
        err = self.sdk_error(openai.BadRequestError, 400,
                             lambda: self.c.completions.create(model=ALIAS, prompt=PROMPT_LIST_OF_DICT))
        self.assertEqual(err["code"], "invalid_type")

    def test_out_of_range(self):
        err = self.sdk_error(openai.BadRequestError, 400,
                             lambda: self.c.chat.completions.create(model=ALIAS, messages=USER, temperature=5))
        self.assertEqual(err["param"], "temperature")

    def test_unknown_role(self):
        err = self.sdk_error(openai.BadRequestError, 400, lambda: self.c.chat.completions.create(
            model=ALIAS, messages=[{"role": "wizard", "content": "abracadabra"}]))
        self.assertIn("wizard", err["message"])
        self.assertEqual(err["param"], "messages[0].role")

    def test_prompt_too_long(self):
        N_CTX_SEQ = srv().n_ctx_seq
        prompt = "Once upon a time there was a little dog. " * (N_CTX_SEQ // 8)
        n = len(srv().tokenize(prompt))
        self.assertGreater(n, N_CTX_SEQ)
        err = self.sdk_error(openai.BadRequestError, 400,
                             lambda: self.c.completions.create(model=ALIAS, prompt=prompt, max_tokens=5))
        self.assertEqual(err["code"], "context_length_exceeded")
        self.assertIn(str(N_CTX_SEQ), err["message"])
        self.assertIn(str(n), err["message"])
        # Chat too, and prompt + max_tokens over the limit.
        err = self.sdk_error(openai.BadRequestError, 400, lambda: self.c.chat.completions.create(
            model=ALIAS, messages=[{"role": "user", "content": prompt}]))
        self.assertEqual(err["code"], "context_length_exceeded")
        err = self.sdk_error(openai.BadRequestError, 400, lambda: self.c.completions.create(
            model=ALIAS, prompt="Once upon a time", max_tokens=N_CTX_SEQ))
        self.assertIn(str(N_CTX_SEQ), err["message"])
        self.assertIn(str(N_CTX_SEQ + len(srv().tokenize("Once upon a time"))), err["message"])

    def test_wrong_api_key(self):
        bad = srv().client(api_key="wrong-key")
        err = self.sdk_error(openai.AuthenticationError, 401,
                             lambda: bad.chat.completions.create(model=ALIAS, messages=USER))
        self.assertEqual(err["code"], "invalid_api_key")
        self.sdk_error(openai.AuthenticationError, 401, lambda: bad.models.list())

    def test_missing_api_key(self):
        for method, path, body in (("POST", "/v1/chat/completions", json.dumps({"messages": USER})),
                                   ("GET", "/v1/models", None), ("GET", "/metrics", None)):
            status, _, resp = srv().raw(method, path, body, headers={"Authorization": ""})
            self.assertEqual(status, 401, path)
            self.assertEqual(error_of(resp)["code"], "invalid_api_key")

    def test_unknown_model(self):
        err = self.sdk_error(openai.NotFoundError, 404,
                             lambda: self.c.chat.completions.create(model="gpt-4o", messages=USER))
        self.assertEqual(err["code"], "model_not_found")
        self.assertIn("gpt-4o", err["message"])
        self.sdk_error(openai.NotFoundError, 404,
                       lambda: self.c.completions.create(model="nope", prompt="x"))

    def test_missing_model_is_fine(self):
        status, _, body = srv().raw("POST", "/v1/chat/completions",
                                    json.dumps({"messages": USER, "max_tokens": 2, "temperature": 0}))
        self.assertEqual(status, 200, body)

    def test_body_too_large(self):
        big = json.dumps({"model": ALIAS, "prompt": "x" * (MAX_BODY + 1000)})
        status, _, body = srv().raw("POST", "/v1/completions", big)
        self.assertEqual(status, 413)
        e = error_of(body)
        self.assertEqual(e["code"], "request_too_large")
        self.assertIn(str(MAX_BODY), e["message"])

    def test_response_format_refused(self):
        for rf in ({"type": "json_object"},
                   {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "object"}}}):
            err = self.sdk_error(openai.BadRequestError, 400, lambda: self.c.chat.completions.create(
                model=ALIAS, messages=USER, response_format=rf))
            self.assertIn("not supported", err["message"])
            self.assertEqual(err["param"], "response_format")

    def test_n_greater_than_one_refused(self):
        err = self.sdk_error(openai.BadRequestError, 400,
                             lambda: self.c.chat.completions.create(model=ALIAS, messages=USER, n=2))
        self.assertEqual(err["param"], "n")

    def test_unknown_endpoint(self):
        status, _, body = srv().raw("GET", "/v1/nothing")
        self.assertEqual(status, 404)
        error_of(body)

    def test_server_still_answers(self):
        r = self.c.chat.completions.create(model=ALIAS, messages=USER, max_tokens=2, temperature=0)
        self.assertIn(r.choices[0].finish_reason, ("stop", "length"))


PROMPT_LIST_OF_DICT = [{"text": "x"}]

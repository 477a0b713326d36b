#!/usr/bin/env python3
"""Writes tests/data/chat/*.json: chat templates and their renderings by transformers.

Each file holds one template and a list of conversations with the exact string
transformers' apply_chat_template produces (or the error it raises), so
tests/chat_template_test.cc can check Nexus's Jinja interpreter byte for byte.

Run (offline) with the reference transformers on the path:
  python3 tools/make_chat_goldens.py [--shared ../shared] [--out tests/data/chat]

Sources:
  llama3, qwen3        tokenizer_config.json of shared/tokenizer-tests/hf-{llama3,qwen3}, rendered
                       with AutoTokenizer.apply_chat_template.
  chatml, gemma3,      template text below (public templates: the common ChatML template, Gemma 3's
  llama3_instruct      instruct template, and the current Llama 3 Instruct template that honours
                       add_generation_prompt), rendered with transformers' render_jinja_template,
                       the function apply_chat_template itself calls.
"""
import argparse
import json
import os
import sys

CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

LLAMA3_INSTRUCT = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}{% set content = '<|start_header_id|>' + "
    "message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' %}{% if loop.index0 == 0 %}"
    "{% set content = bos_token + content %}{% endif %}{{ content }}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)

GEMMA3 = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

SYS = {"role": "system", "content": "You are a helpful assistant."}
U1 = {"role": "user", "content": "Hello! What is 2+2?"}
A1 = {"role": "assistant", "content": "2+2 is 4."}
U2 = {"role": "user", "content": "And times three?"}

CONVERSATIONS = {
    "single_user": [U1],
    "system_user": [SYS, U1],
    "multi_turn": [SYS, U1, A1, U2],
    "multi_turn_no_system": [U1, A1, U2],
    "unicode": [
        {"role": "user", "content": "Grüße, 世界! 🚀 — «ok» \\n\t"},
        {"role": "assistant", "content": "  Ça va? こんにちは\n"},
        {"role": "user", "content": "emoji: 👍🏽 and \"quotes\" and 'single' and back\\slash"},
    ],
    "whitespace": [{"role": "user", "content": "  padded line\n\nsecond line  \n\n"}],
}

TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather in a city, in °C.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string", "description": "City name, e.g. \"Zürich\""}},
                "required": ["city"],
            },
        },
    }
]

QWEN_EXTRA = {
    "tool_round_trip": (
        [
            U1,
            {"role": "assistant", "content": "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}\n</tool_call>"},
            {"role": "tool", "content": "{\"temperature\": 21, \"sky\": \"clear\"}"},
            {"role": "tool", "content": "second result"},
            {"role": "assistant", "content": "It is 21 °C and clear in Paris."},
            U2,
        ],
        {},
    ),
    "with_tools": ([SYS, U1], {"tools": TOOLS}),
    "with_tools_no_system": ([U1], {"tools": TOOLS}),
    "thinking_history": (
        [
            U1,
            {"role": "assistant", "content": "<think>\nThe user asks 2+2.\n</think>\n\n2+2 is 4."},
            U2,
            {"role": "assistant", "content": "<think>\nMultiply.\n</think>\n\n12."},
        ],
        {},
    ),
    "thinking_disabled": ([U1], {"enable_thinking": False}),
}

GEMMA_ERRORS = {
    "two_users": ([U1, U2], "Conversation roles must alternate"),
}


def render_with_transformers(template, messages, add_generation_prompt, special, extra):
    from transformers.utils.chat_template_utils import render_jinja_template

    extra = dict(extra)
    tools = extra.pop("tools", None)
    rendered, _ = render_jinja_template(
        conversations=[messages],
        tools=tools,
        chat_template=template,
        add_generation_prompt=add_generation_prompt,
        **special,
        **extra,
    )
    return rendered[0]


def make_cases(render, extra_convs, errors):
    cases = []
    convs = {name: (msgs, {}) for name, msgs in CONVERSATIONS.items()}
    convs.update(extra_convs)
    for name, (msgs, extra) in convs.items():
        for agp in (True, False):
            case = {"name": f"{name}/{'gen' if agp else 'nogen'}", "messages": msgs, "add_generation_prompt": agp}
            if extra:
                case["extra"] = extra
            case["expected"] = render(msgs, agp, extra)
            cases.append(case)
    for name, (msgs, needle) in errors.items():
        try:
            render(msgs, True, {})
        except Exception as e:  # the template's raise_exception
            assert needle in str(e), str(e)
            cases.append({"name": name, "messages": msgs, "add_generation_prompt": True, "error": needle})
        else:
            raise AssertionError(f"{name}: expected an error")
    return cases


def main():
    ap = argparse.ArgumentParser()
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--shared", default=os.environ.get("NEXUS_SHARED", os.path.join(here, "..", "..", "shared")))
    ap.add_argument("--out", default=os.path.join(here, "..", "tests", "data", "chat"))
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    os.makedirs(args.out, exist_ok=True)
    outputs = {}

    for name, extra_convs in (("llama3", {}), ("qwen3", QWEN_EXTRA)):
        path = os.path.join(args.shared, "tokenizer-tests", f"hf-{name}")
        tok = AutoTokenizer.from_pretrained(path)

        def render(msgs, agp, extra, tok=tok):
            extra = dict(extra)
            tools = extra.pop("tools", None)
            return tok.apply_chat_template(msgs, tools=tools, tokenize=False, add_generation_prompt=agp, **extra)

        outputs[name] = {
            "name": name,
            "source": f"shared/tokenizer-tests/hf-{name}/tokenizer_config.json, rendered by AutoTokenizer.apply_chat_template",
            "template": tok.chat_template,
            "bos_token": tok.bos_token or "",
            "eos_token": tok.eos_token or "",
            "cases": make_cases(render, extra_convs, {}),
        }

    for name, template, bos, eos, builtin, errors in (
        ("chatml", CHATML, "", "<|im_end|>", "chatml", {}),
        ("llama3_instruct", LLAMA3_INSTRUCT, "<|begin_of_text|>", "<|eot_id|>", "llama3", {}),
        ("gemma3", GEMMA3, "<bos>", "<eos>", "gemma", GEMMA_ERRORS),
    ):
        special = {"bos_token": bos, "eos_token": eos}

        def render(msgs, agp, extra, template=template, special=special):
            return render_with_transformers(template, msgs, agp, special, extra)

        outputs[name] = {
            "name": name,
            "source": "public template text in tools/make_chat_goldens.py, rendered by transformers' render_jinja_template",
            "template": template,
            "bos_token": bos,
            "eos_token": eos,
            "builtin": builtin,
            "cases": make_cases(render, {}, errors),
        }

    for name, data in outputs.items():
        with open(os.path.join(args.out, f"{name}.json"), "w", encoding="utf-8") as f:
            json.dump(data, f, ensure_ascii=False, indent=1)
            f.write("\n")
        print(f"{name}: {len(data['cases'])} cases", file=sys.stderr)


if __name__ == "__main__":
    main()

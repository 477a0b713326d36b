#!/usr/bin/env python3
"""Writes the golden reference data under tests/data/golden/ from Hugging Face transformers.

For each tiny random model (fixed seed) it saves config.json + model.safetensors via
save_pretrained and the logits transformers computes for a few fixed token sequences:
  <name>/logits.f32   all logits, float32 little-endian, prompts concatenated, [tokens, vocab]
  <name>/logits.json  {"vocab": V, "prompts": [[ids...], ...]} (the index into logits.f32)
For TinyStories-656K (read in place from shared/, not committed) it records the logits of a fixed
prompt and the greedy continuation from BOS in tinystories656k.json.

tests/golden_test.cc converts each model with `nexus convert` and compares.

Usage: PYTHONPATH=<dir with torch+transformers> python3 tools/make_golden.py [--shared DIR] [--only gemma3]
Requirements: tools/requirements-golden.txt.
"""
import argparse
import copy
import json
import math
import os
import shutil
import struct
import sys

import torch
import transformers
from transformers import (Gemma3ForCausalLM, Gemma3TextConfig, LlamaConfig, LlamaForCausalLM, MistralConfig,
                          MistralForCausalLM, Qwen2Config, Qwen2ForCausalLM, Qwen3Config, Qwen3ForCausalLM)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "golden")
VOCAB = 272  # >= 3 specials + 256 byte tokens, so a synthetic byte vocab fits

# Shared tiny shape: head_dim 16 (hidden 64 / 4 heads), grouped-query attention 4 / 2.
COMMON = dict(vocab_size=VOCAB, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
              num_key_value_heads=2, intermediate_size=128, max_position_embeddings=256,
              rms_norm_eps=1e-5, bos_token_id=1, eos_token_id=2)

# (name, config class, model class, extra config, storage dtype of the saved safetensors)
# Storage dtypes vary so the converter's F32 / F16 / BF16 paths are all exercised; the
# reference logits are computed in float32 from exactly the stored (rounded) weights.
MODELS = [
    ("llama", LlamaConfig, LlamaForCausalLM,
     dict(tie_word_embeddings=True, rope_theta=10000.0, intermediate_size=96), torch.float32),
    ("llama_rope_linear", LlamaConfig, LlamaForCausalLM,
     dict(tie_word_embeddings=False, rope_theta=10000.0,
          rope_scaling={"rope_type": "linear", "factor": 2.0}), torch.bfloat16),
    ("mistral", MistralConfig, MistralForCausalLM,
     dict(tie_word_embeddings=False, rope_theta=10000.0, sliding_window=None), torch.float16),
    ("qwen2", Qwen2Config, Qwen2ForCausalLM,
     dict(tie_word_embeddings=True, rope_theta=1000000.0, intermediate_size=96), torch.float32),
    # explicit head_dim 32 != hidden / heads (16): q/k/v widths differ from hidden_size
    ("qwen3", Qwen3Config, Qwen3ForCausalLM,
     dict(tie_word_embeddings=False, rope_theta=1000000.0, head_dim=32), torch.bfloat16),
]

# Written with its own generator (seed below), so it can be (re)generated alone with --only.
GEMMA3 = ("gemma3", Gemma3TextConfig, Gemma3ForCausalLM, {}, torch.bfloat16)
GEMMA3_SEED = 3

# Fixed prompts: the first starts with BOS (1); lengths 5, 12, 20.
PROMPTS = [
    [1, 100, 37, 200, 5],
    [1, 250, 3, 3, 17, 99, 180, 42, 7, 260, 11, 64],
    [45, 12, 210, 77, 150, 9, 31, 268, 120, 4, 88, 199, 16, 240, 55, 101, 6, 230, 8, 140],
]


def make_config(cls, extra):
    kw = dict(COMMON)
    kw.update(extra)
    rope_scaling = kw.pop("rope_scaling", None)
    rope_theta = kw.pop("rope_theta")
    major = int(transformers.__version__.split(".")[0])
    if major >= 5:
        params = {"rope_type": "default", "rope_theta": rope_theta}
        if rope_scaling:
            params.update(rope_scaling)
        kw["rope_parameters"] = params
    else:
        kw["rope_theta"] = rope_theta
        if rope_scaling:
            kw["rope_scaling"] = {"type": rope_scaling["rope_type"], **rope_scaling}
    return cls(**kw)


@torch.no_grad()
def randomize(model, gen, norm_center=1.0):
    """Weights large enough that logits are O(1..10), so a 1e-3 tolerance means something:
    matrices ~ N(0, 2.25/fan_in), embeddings N(0, 0.25), norm weights 1 + N(0, 0.2), biases N(0, 0.5).
    Gemma's RMSNorm multiplies by (1 + w): its norm weights are centred on 0 (norm_center=0)."""
    for name, p in model.named_parameters():
        if p.dim() == 1 and "norm" in name:
            p.copy_(norm_center + 0.2 * torch.randn(p.shape, generator=gen))
        elif p.dim() == 1:
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
        elif "embed_tokens" in name:
            p.copy_(0.5 * torch.randn(p.shape, generator=gen))
        else:
            p.copy_(torch.randn(p.shape, generator=gen) / math.sqrt(p.shape[1]) * 1.5)


@torch.no_grad()
def all_logits(model, ids):
    out = model(torch.tensor([ids], dtype=torch.long))
    return out.logits[0].float()  # [len, vocab]


def gemma3_config():
    """Gemma 3 text model: head_dim 32 != hidden / heads (16), 4 query heads on 1 KV head, 7 layers
    (layer 5 global, the others local with a 4-token window, so prompts of 12 and 20 tokens
    exercise the window), query_pre_attn_scalar 48 != head_dim, linear RoPE scaling on the global
    layers only, and final logit soft-capping (absent in released Gemma 3, supported anyway)."""
    kw = dict(vocab_size=VOCAB, hidden_size=64, intermediate_size=128, num_hidden_layers=7,
              num_attention_heads=4, num_key_value_heads=1, head_dim=32, max_position_embeddings=256,
              rms_norm_eps=1e-6, query_pre_attn_scalar=48, sliding_window=4, final_logit_softcapping=20.0,
              tie_word_embeddings=True, bos_token_id=2, eos_token_id=1, pad_token_id=0)
    if int(transformers.__version__.split(".")[0]) >= 5:
        kw["rope_parameters"] = {
            "full_attention": {"rope_type": "linear", "rope_theta": 1000000.0, "factor": 2.0},
            "sliding_attention": {"rope_type": "default", "rope_theta": 10000.0},
        }
    else:
        kw.update(rope_theta=1000000.0, rope_local_base_freq=10000.0,
                  rope_scaling={"rope_type": "linear", "factor": 2.0})
    return Gemma3TextConfig(**kw)


def write_model(name, cfg_cls, model_cls, extra, store_dtype, gen):
    if cfg_cls is Gemma3TextConfig:
        cfg = gemma3_config()
    else:
        cfg = make_config(cfg_cls, extra)
    cfg._attn_implementation = "eager"
    model = model_cls(cfg).to(torch.float32).eval()
    randomize(model, gen, norm_center=0.0 if cfg_cls is Gemma3TextConfig else 1.0)
    # Round the weights to the storage type so the reference sees exactly what is saved. Only
    # the parameters: model.to(bf16) would also round the RoPE inv_freq buffer, and a reference
    # with rounded RoPE frequencies drifts from any exact implementation as positions grow.
    with torch.no_grad():
        for p in model.parameters():
            p.copy_(p.to(store_dtype).to(torch.float32))
    d = os.path.join(OUT, name)
    shutil.rmtree(d, ignore_errors=True)
    copy.deepcopy(model).to(store_dtype).save_pretrained(d, safe_serialization=True)
    for extra_file in ("generation_config.json",):
        p = os.path.join(d, extra_file)
        if os.path.exists(p):
            os.remove(p)
    with open(os.path.join(d, "logits.f32"), "wb") as f:
        maxabs = 0.0
        for ids in PROMPTS:
            lg = all_logits(model, ids)
            maxabs = max(maxabs, lg.abs().max().item())
            f.write(lg.numpy().astype("<f4").tobytes())
    with open(os.path.join(d, "logits.json"), "w") as f:
        json.dump({"vocab": VOCAB, "prompts": PROMPTS,
                   "transformers": transformers.__version__,
                   "storage_dtype": str(store_dtype).replace("torch.", "")}, f)
        f.write("\n")
    size = sum(os.path.getsize(os.path.join(d, x)) for x in os.listdir(d))
    print(f"{name}: {size / 1024:.0f} KiB, max |logit| {maxabs:.2f}", file=sys.stderr)


@torch.no_grad()
def write_tinystories(shared):
    src = os.path.join(shared, "models", "TinyStories-656K")
    if not os.path.isdir(src):
        print(f"skipping TinyStories-656K: {src} not found", file=sys.stderr)
        return
    model = LlamaForCausalLM.from_pretrained(src, torch_dtype=torch.float32,
                                             attn_implementation="eager").eval()
    bos = model.config.bos_token_id
    # "Once upon a time, there was a little girl" as the HF tokenizer encodes it (with BOS).
    prompt_text = "Once upon a time, there was a little girl"
    prompt = [bos, 80, 147, 201, 282, 215, 286, 1890]
    logits = all_logits(model, prompt)
    ids = [bos]
    for _ in range(40):
        lg = all_logits(model, ids)[-1]
        ids.append(int(torch.argmax(lg).item()))
    out = {
        "bos": bos,
        "prompt_text": prompt_text,
        "prompt": prompt,
        "prompt_logits": [[round(float(x), 6) for x in row] for row in logits],
        "greedy_from_bos": ids[1:],
        "transformers": transformers.__version__,
    }
    with open(os.path.join(OUT, "tinystories656k.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")
    print(f"tinystories656k: greedy {ids[1:]}", file=sys.stderr)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--shared", default=os.environ.get("NEXUS_SHARED", os.path.join(ROOT, "..", "shared")))
    ap.add_argument("--only", help="write only this model (gemma3); the others share one random stream")
    args = ap.parse_args()
    torch.manual_seed(1234)
    os.makedirs(OUT, exist_ok=True)
    if args.only not in (None, GEMMA3[0]):
        sys.exit(f"--only supports {GEMMA3[0]}: the other models share one random stream, regenerate them all")
    if args.only is None:
        gen = torch.Generator().manual_seed(1234)
        for name, cfg_cls, model_cls, extra, store_dtype in MODELS:
            write_model(name, cfg_cls, model_cls, extra, store_dtype, gen)
    write_model(*GEMMA3, torch.Generator().manual_seed(GEMMA3_SEED))
    if args.only is None:
        write_tinystories(args.shared)


if __name__ == "__main__":
    main()

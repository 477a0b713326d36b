#!/usr/bin/env python3
"""Reference values for tests/gemma3_real_test.cc: loads an F32 GGUF of Gemma 3 270M into
transformers' Gemma3ForCausalLM (float32, eager attention) and prints the greedy continuation
of a prompt given as token ids, plus the top logits of its last position.

  nexus quantize gemma-3-270m-q4_k_m.gguf /tmp/g270m_f32.gguf F32   # exact dequantization
  PYTHONPATH=<torch+transformers> python3 tools/gemma3_hf_reference.py /tmp/g270m_f32.gguf "2 818 5279 529 7001 563" 16

GGUF norm gains are stored as 1 + w (Gemma's RMSNorm multiplies by 1 + w): one is subtracted
before loading them into the HF module. Writes the prompt logits to /tmp/gemma_hf_prompt_logits.npy.
"""
import struct, sys
import numpy as np, torch
from transformers import Gemma3ForCausalLM, Gemma3TextConfig
path = sys.argv[1]
data = np.memmap(path, dtype=np.uint8, mode='r')
buf = memoryview(data)
off = 0
def rd(fmt):
    global off
    v = struct.unpack_from('<' + fmt, buf, off); off += struct.calcsize('<' + fmt); return v[0]
def rstr():
    global off
    n = rd('Q'); s = bytes(buf[off:off + n]).decode('utf-8', 'replace'); off += n; return s
T = {0:'B',1:'b',2:'H',3:'h',4:'I',5:'i',6:'f',7:'?',10:'Q',11:'q',12:'d'}
def rval(t):
    global off
    if t == 8: return rstr()
    if t == 9:
        et = rd('I'); n = rd('Q')
        if et == 8:
            for _ in range(n): rstr()
        else: off += struct.calcsize('<' + T[et]) * n
        return None
    return rd(T[t])
assert bytes(buf[:4]) == b'GGUF'; off = 4
rd('I'); nt = rd('Q'); nkv = rd('Q')
for _ in range(nkv): rstr(); rval(rd('I'))
tensors = []
for _ in range(nt):
    name = rstr(); nd = rd('I'); ne = [rd('Q') for _ in range(nd)]; ty = rd('I'); o = rd('Q'); tensors.append((name, ne, ty, o))
base = (off + 31) // 32 * 32
W = {}
for name, ne, ty, o in tensors:
    assert ty == 0, name
    n = int(np.prod(ne))
    W[name] = torch.from_numpy(np.frombuffer(data, dtype='<f4', count=n, offset=base + o).copy().reshape(list(reversed(ne))))
cfg = Gemma3TextConfig(vocab_size=262144, hidden_size=640, intermediate_size=2048, num_hidden_layers=18,
    num_attention_heads=4, num_key_value_heads=1, head_dim=256, max_position_embeddings=32768, rms_norm_eps=1e-6,
    query_pre_attn_scalar=256, sliding_window=512, tie_word_embeddings=True, bos_token_id=2, eos_token_id=1, pad_token_id=0,
    rope_parameters={"full_attention": {"rope_type": "default", "rope_theta": 1e6},
                     "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}})
cfg._attn_implementation = "eager"
m = Gemma3ForCausalLM(cfg).float().eval()
sd = {"model.embed_tokens.weight": W["token_embd.weight"], "model.norm.weight": W["output_norm.weight"] - 1}
for i in range(18):
    g = f"blk.{i}."; h = f"model.layers.{i}."
    sd[h+"input_layernorm.weight"] = W[g+"attn_norm.weight"] - 1
    sd[h+"post_attention_layernorm.weight"] = W[g+"post_attention_norm.weight"] - 1
    sd[h+"pre_feedforward_layernorm.weight"] = W[g+"ffn_norm.weight"] - 1
    sd[h+"post_feedforward_layernorm.weight"] = W[g+"post_ffw_norm.weight"] - 1
    sd[h+"self_attn.q_norm.weight"] = W[g+"attn_q_norm.weight"] - 1
    sd[h+"self_attn.k_norm.weight"] = W[g+"attn_k_norm.weight"] - 1
    for a, b in [("q_proj","attn_q"),("k_proj","attn_k"),("v_proj","attn_v"),("o_proj","attn_output")]:
        sd[h+"self_attn."+a+".weight"] = W[g+b+".weight"]
    for a, b in [("gate_proj","ffn_gate"),("up_proj","ffn_up"),("down_proj","ffn_down")]:
        sd[h+"mlp."+a+".weight"] = W[g+b+".weight"]
missing, unexpected = m.load_state_dict(sd, strict=False)
print("missing", missing, "unexpected", unexpected, file=sys.stderr)
m.tie_weights()
ids = [int(x) for x in sys.argv[2].split()]
with torch.no_grad():
    lg = m(torch.tensor([ids])).logits[0]
    np.save('/tmp/gemma_hf_prompt_logits.npy', lg.numpy())
    out = list(ids)
    for _ in range(int(sys.argv[3]) if len(sys.argv) > 3 else 16):
        nxt = int(m(torch.tensor([out])).logits[0, -1].argmax()); out.append(nxt)
print("greedy", out[len(ids):])
print("last top5", torch.topk(lg[-1], 5))

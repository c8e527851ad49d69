#!/usr/bin/env python3
# A synthetic llama GGUF whose matrices are all Q4_K (random blocks; no model needed), for
# measuring the speed of Q4_K imports: python3 scripts/make_q4k_gguf.py OUT.gguf
import os, struct, sys
dim, ffn, layers, heads, kvh, vocab = 768, 2048, 12, 12, 4, 4096
hd = dim // heads
def s(x): b = x.encode(); return struct.pack('<Q', len(b)) + b
kv = []
def u32(k, v): kv.append(s(k) + struct.pack('<II', 4, v))
def st(k, v): kv.append(s(k) + struct.pack('<I', 8) + s(v))
st('general.architecture', 'llama')
for k, v in [('embedding_length', dim), ('block_count', layers), ('feed_forward_length', ffn),
             ('attention.head_count', heads), ('attention.head_count_kv', kvh), ('context_length', 512)]:
    u32('llama.' + k, v)
st('tokenizer.ggml.model', 'llama')
kv.append(s('tokenizer.ggml.tokens') + struct.pack('<IIQ', 9, 8, vocab) + b''.join(s('t%d' % i) for i in range(vocab)))
tensors = []
def q4k(name, rows, cols):
    nb = rows * cols // 256
    raw = bytearray(os.urandom(nb * 144))
    d, m = struct.pack('<e', 0.0005), struct.pack('<e', 0.002)  # f16 d, dmin of every super-block
    for b in range(nb):
        raw[b*144:b*144+2] = d
        raw[b*144+2:b*144+4] = m
    tensors.append((name, [cols, rows], 12, bytes(raw)))
def f32(name, n):
    tensors.append((name, [n], 0, struct.pack('<%df' % n, *([1.0] * n))))
q4k('token_embd.weight', vocab, dim)
f32('output_norm.weight', dim)
for l in range(layers):
    p = 'blk.%d.' % l
    for name, rows, cols in [('attn_q', dim, dim), ('attn_k', kvh*hd, dim), ('attn_v', kvh*hd, dim),
                             ('attn_output', dim, dim), ('ffn_gate', ffn, dim), ('ffn_up', ffn, dim),
                             ('ffn_down', dim, ffn)]:
        q4k(p + name + '.weight', rows, cols)
    f32(p + 'attn_norm.weight', dim)
    f32(p + 'ffn_norm.weight', dim)
infos, data = b'', b''
for name, ne, t, raw in tensors:
    infos += s(name) + struct.pack('<I', len(ne)) + b''.join(struct.pack('<Q', x) for x in ne) + struct.pack('<IQ', t, len(data))
    data += raw + b'\0' * ((-len(raw)) % 32)
head = b'GGUF' + struct.pack('<IQQ', 3, len(tensors), len(kv)) + b''.join(kv) + infos
head += b'\0' * ((-len(head)) % 32)
with open(sys.argv[1], 'wb') as out:
    out.write(head + data)

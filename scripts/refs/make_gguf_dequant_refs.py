#!/usr/bin/env python3
"""Reference values for the GGUF block dequantizers (tests/format/test_import_gguf_dequant.cc).

Uses llama.cpp's own Python package `gguf` (pip install gguf==0.19.0; needs numpy) as the
independent implementation: random blocks (with sane f16 scale fields) are dequantized by
gguf.quants.dequantize and written with their bytes to tests/data/gguf_dequant_refs.json.
"""
import json
import sys

import numpy as np
from gguf import GGMLQuantizationType as T
from gguf import quants

rng = np.random.default_rng(20261123)


def f16_bytes(values):
    return np.asarray(values, dtype=np.float16).view(np.uint8)


def block(qtype):
    """One random block whose f16 scale fields hold finite, modest values."""
    elems, size = quants.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=size, dtype=np.uint8)
    scale = lambda n: f16_bytes(rng.uniform(-0.05, 0.05, size=n))
    if qtype in (T.Q4_0, T.Q5_0, T.Q8_0):
        b[0:2] = scale(1)
    elif qtype in (T.Q4_1, T.Q5_1):
        b[0:4] = scale(2)
    elif qtype in (T.Q4_K, T.Q5_K):
        b[0:4] = f16_bytes(rng.uniform(0.0, 0.01, size=2))  # d, dmin
    elif qtype == T.Q6_K:
        b[208:210] = scale(1)
    elif qtype == T.Q2_K:
        b[80:84] = f16_bytes(rng.uniform(0.0, 0.01, size=2))
    elif qtype == T.Q3_K:
        b[108:110] = scale(1)
    return b


out = {}
for name, qtype, blocks in [("Q4_0", T.Q4_0, 4), ("Q4_1", T.Q4_1, 4), ("Q5_0", T.Q5_0, 4), ("Q5_1", T.Q5_1, 4),
                            ("Q8_0", T.Q8_0, 4), ("Q4_K", T.Q4_K, 2), ("Q5_K", T.Q5_K, 2), ("Q6_K", T.Q6_K, 2),
                            ("Q2_K", T.Q2_K, 2), ("Q3_K", T.Q3_K, 2)]:
    raw = np.concatenate([block(qtype) for _ in range(blocks)])
    values = quants.dequantize(raw, qtype).astype(np.float32).reshape(-1)
    out[name] = {"bytes": raw.tobytes().hex(), "values": [float(v) for v in values]}

json.dump(out, sys.stdout if len(sys.argv) < 2 else open(sys.argv[1], "w"), indent=0)

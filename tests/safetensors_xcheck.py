#!/usr/bin/env python3
"""safetensors_xcheck.py: reads a file written by our safetensors writer with Python's json
and struct only, applying the format's rules (shared/FORMATS.md) independently of the C reader.
Usage: safetensors_xcheck.py <test_safetensors binary> <scratch dir>"""
import json, math, os, struct, subprocess, sys

SIZES = {"BOOL": 1, "U8": 1, "I8": 1, "F8_E5M2": 1, "F8_E4M3": 1, "I16": 2, "U16": 2, "F16": 2,
         "BF16": 2, "I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8}


def load(path):
    raw = open(path, "rb").read()
    (n,) = struct.unpack("<Q", raw[:8])
    assert n <= 100_000_000 and 8 + n <= len(raw), "bad header length"
    text = raw[8:8 + n].decode("utf-8")           # strict UTF-8
    assert n % 8 == 0, "header not padded to 8 like the reference writer"
    assert text.rstrip(" ") == text.strip(), "padding must be trailing spaces"
    pairs = json.loads(text, object_pairs_hook=lambda kv: kv)  # keep order and duplicates
    names = [k for k, _ in pairs]
    assert len(names) == len(set(names)), "duplicate keys"
    header = dict(pairs)
    meta = dict(header.pop("__metadata__", []))
    assert all(isinstance(v, str) for v in meta.values())
    data = raw[8 + n:]
    pos = 0
    tensors = {}
    for name, info in pairs:               # our writer lays tensors out in the order given
        if name == "__metadata__":
            continue
        info = dict(info)
        begin, end = info["data_offsets"]
        numel = math.prod(info["shape"])
        assert begin == pos and end - begin == numel * SIZES[info["dtype"]], name
        pos = end
        tensors[name] = (info["dtype"], info["shape"], data[begin:end])
    assert pos == len(data), "data area size"
    return tensors, meta


def main():
    binary, scratch = sys.argv[1], sys.argv[2]
    path = os.path.join(scratch, "xcheck.safetensors")
    subprocess.run([binary, "--fixture", path], check=True)
    t, meta = load(path)
    os.unlink(path)
    assert meta == {"step": "42", "note": 'caf\u00e9 "q"\n'}, meta
    assert list(t) == ["a", "b", "c", "d", "e"]
    dt, shape, b = t["a"]
    assert dt == "F32" and shape == [2, 3]
    assert list(struct.unpack("<6f", b)) == [i * 0.5 - 1.0 for i in range(6)]
    dt, shape, b = t["b"]
    assert dt == "I64" and shape == [3] and struct.unpack("<3q", b) == (-1, 0, 1 << 40)
    dt, shape, b = t["c"]
    assert dt == "U8" and shape == [5] and b == bytes([0, 1, 2, 3, 255])
    dt, shape, b = t["d"]
    assert dt == "F64" and shape == [] and struct.unpack("<d", b) == (3.141592653589793,)
    dt, shape, b = t["e"]
    assert dt == "F32" and shape == [0, 4] and b == b""
    print("safetensors_xcheck: ok")


if __name__ == "__main__":
    main()

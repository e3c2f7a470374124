#!/usr/bin/env python3
"""Writes the seed corpora under tests/fuzz/corpus/<target>/: small valid and near-valid inputs.

The JPEG seeds come from make_jpeg_seeds.c (libjpeg) and are kept as files; everything else is
made here. Run from
anywhere: `python3 tests/fuzz/make_seeds.py`. Regression inputs (crash-*) are never rewritten.
"""
import gzip
import json
import os
import shutil
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
CORPUS = os.path.join(HERE, "corpus")


def put(target, name, data):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


def idx(type_, dims, payload):
    return bytes([0, 0, type_, len(dims)]) + b"".join(struct.pack(">I", d) for d in dims) + payload


def safetensors(tensors, metadata=None, pad=True):
    header, blob = {}, b""
    for name, (dtype, shape, data) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(blob), len(blob) + len(data)]}
        blob += data
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header, separators=(",", ":")).encode()
    if pad:
        h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + blob


# config: the shipped models, and near-valid variants.
for name in ("lenet_fashion", "char_lstm", "word_lstm"):
    with open(os.path.join(ROOT, "models", name + ".toml"), "rb") as f:
        put("config", name + ".toml", f.read())
put("config", "small.toml", """[model]
name = "m"
input = [4]
classes = 3

[[layer]]
type = "Linear"
name = "fc"
inputs = ["input"]
out_features = 3
kernel = [3, 5]
bias = true
scale = 0.5

[data]
source = "csv"
path = "x.csv"
mean = [0.1, 0.2]
label_column = -1

[solver]
type = "sgd"
lr = 0.1
momentum = 0.9

[schedule]
type = "step"
step = 10
gamma = 0.5

[train]
epochs = 2
batch = 8
""")
put("config", "bad_value.toml", "[model]\nname = 'm'\ninput = [1, 2, 3]\nclasses = -4\n[solver]\nlr = nan\n")
put("config", "broken.toml", "[model\nname = \"m\ninput = [1, 2\n[[layer]]\ntype = 3\n")

# idx: images (3 x 2 x 2) and labels (3), plain and gzipped; a truncated one; a wrong type.
images = idx(0x08, [3, 2, 2], bytes(range(12)))
labels = idx(0x08, [3], bytes([0, 1, 2]))
put("idx", "images.idx", images)
put("idx", "labels.idx", labels)
put("idx", "images.idx.gz", gzip.compress(images, mtime=0))
put("idx", "labels.idx.gz", gzip.compress(labels, mtime=0))
put("idx", "truncated.idx", images[:-3])
put("idx", "floats.idx", idx(0x0D, [2], b"\0" * 8))

# csv: the first byte picks the options (tests/fuzz/fuzz_csv.cpp).
put("csv", "header_label.csv", b"\x00" + b"a,b,label\n1,2,0\n3.5,-4e2,1\n\n5, 6 ,2\n")
put("csv", "no_header.csv", b"\x01" + b"1,2,0\r\n3,4,1\r\n")
put("csv", "regression.csv", b"\x04" + b"x,y,t\n0.5,1,2.5\n1.5,2,3.5\n")
put("csv", "semicolon_std.csv", b"\x18" + b"1;2;0\n3;4;1\n5;7;1\n")
put("csv", "bad_cell.csv", b"\x02" + b"1,2,0\n3,abc,1\n")
put("csv", "ragged.csv", b"\xe0" + b"1,2,3\n4,5\n")

# cifar: one CIFAR-10 record, one CIFAR-100 record, gzipped, and one byte short.
rec10 = bytes([3]) + bytes(i % 256 for i in range(3072))
rec100 = bytes([5, 42]) + bytes((7 * i) % 256 for i in range(3072))
put("cifar", "cifar10.bin", rec10)
put("cifar", "cifar100.bin", rec100)
put("cifar", "cifar10x2.bin.gz", gzip.compress(rec10 + rec10, mtime=0))
put("cifar", "short.bin", rec10[:-1])

# text: the first byte picks the options (tests/fuzz/fuzz_text.cpp).
put("text", "ascii.txt", b"\x00" + b"hello world\nthe quick brown fox\n")
put("text", "utf8.txt", b"\x93" + "naïve café — 日本語 😀\n".encode())
put("text", "invalid.txt", b"\x21" + b"ok \xff\xfe \xc3 \xe2\x82 \xf0\x9f\x98 end")
put("text", "streams.txt", b"\xe4" + b"abcdefghijklmnopqrstuvwxyz" * 3)

# words: the first byte picks the options (tests/fuzz/fuzz_words.cpp).
put("words", "lines.txt", b"\x07" + b"The cat sat.\nDon't stop -- now!\n%\nA dog, a log.\n")
put("words", "sentences.txt", b"\x4b" + b"One. Two words? Three more words here!\n\nNew paragraph here.")
put("words", "unicode.txt", b"\xd1" + "Ça va? Über straße 東京 tower\u00a0x \u2014 y\n".encode())

# safetensors: F32 with metadata, BF16 and F16, an empty tensor, and near-valid ones.
f32 = struct.pack("<4f", 1.0, -2.0, 0.5, 3.25)
put("safetensors", "f32.safetensors", safetensors({"fc.weight": ("F32", [2, 2], f32)}, {"step": "3"}))
put("safetensors", "half.safetensors",
    safetensors({"a": ("BF16", [2], struct.pack("<2H", 0x3F80, 0xC000)),
                 "b": ("F16", [1, 2], struct.pack("<2H", 0x3C00, 0x7BFF))}))
put("safetensors", "empty_tensor.safetensors", safetensors({"e": ("F32", [0, 3], b"")}))
bad = safetensors({"w": ("F32", [2, 2], f32)})
put("safetensors", "bad_offsets.safetensors", bad.replace(b"[0,16]", b"[0,99]"))
put("safetensors", "truncated.safetensors", bad[:-5])
put("safetensors", "scalar.safetensors", safetensors({"s": ("F32", [], f32[:4])}, pad=False))

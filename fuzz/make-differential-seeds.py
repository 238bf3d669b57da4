#!/usr/bin/env python3
"""Writes the seeds of the differential targets, fuzz/corpus/{zstd,gzip}_differential/ (committed with
`git add -f`, see README.md): frames written by the C encoders (the zstd CLI = libzstd, Python's zlib module
= C zlib) at several levels and settings, plus truncated and corrupted copies. Deterministic for a given
zstd and zlib version.   fuzz/make-differential-seeds.py
The ruzstd-crash-* seeds are not generated here: they are upstream ruzstd's decoder crash artifacts
(github.com/KillingSpark/zstd-rs, ruzstd/fuzz/artifacts/decode/), which its test_all_artifacts test
reads but the crates.io release leaves out; they are kept as they are."""
import gzip, os, random, struct, subprocess, zlib

here = os.path.dirname(os.path.abspath(__file__))
rng = random.Random(16)
inputs = {
    "text": b"".join(b"kafkaroo record %d: the quick brown fox jumps over the lazy dog\n" % i for i in range(120)),
    "json": b"".join(b'{"id":%d,"user":"user-%05d","event":"click"}\n' % (i, i * 7919 % 100000) for i in range(150)),
    "random": bytes(rng.getrandbits(8) for _ in range(3000)),
    "runs": b"\0" * 5000 + b"abc" * 700 + b"x" * 3000,
    "tiny": b"a",
    "empty": b"",
}


def write(d, name, data):
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def damaged(d, name, data):
    """The intact frame plus truncated and corrupted copies."""
    write(d, name, data)
    if len(data) > 4:
        write(d, name + "-trunc-half", data[: len(data) // 2])
        write(d, name + "-trunc-last", data[:-1])
        mid = bytearray(data)
        mid[len(mid) // 2] ^= 0x10
        write(d, name + "-flip-mid", bytes(mid))
        end = bytearray(data)
        end[-1] ^= 0x01   # zstd: checksum (or last block); gzip: ISIZE
        write(d, name + "-flip-last", bytes(end))


def zstd(data, *args):
    return subprocess.run(["zstd", "-q", "-c", *args], input=data, stdout=subprocess.PIPE, check=True).stdout


zd = os.path.join(here, "corpus", "zstd_differential")
os.makedirs(zd, exist_ok=True)
for f in os.listdir(zd):
    if not f.startswith("ruzstd-crash-"):
        os.remove(os.path.join(zd, f))
for name, data in inputs.items():
    for args in (["--fast=3"], ["-1"], ["-3"], ["-9"], ["-19"], ["--no-check", "-3"], ["--zstd=wlog=10", "-6"]):
        tag = "-".join(a.lstrip("-").replace("=", "").replace(",", "") for a in args)
        damaged(zd, f"{name}-{tag}", zstd(data, *args))
# Two frames back to back, and a skippable frame in front.
two = zstd(inputs["text"], "-3") + zstd(inputs["json"], "-1")
damaged(zd, "two-frames", two)
skip = struct.pack("<II", 0x184D2A50, 5) + b"hello"
damaged(zd, "skippable-then-frame", skip + zstd(inputs["json"], "-3"))

gd = os.path.join(here, "corpus", "gzip_differential")
os.makedirs(gd, exist_ok=True)
for f in os.listdir(gd):
    os.remove(os.path.join(gd, f))


def gz(data, level, strategy=zlib.Z_DEFAULT_STRATEGY):
    c = zlib.compressobj(level, zlib.DEFLATED, 16 + 15, 9, strategy)
    return c.compress(data) + c.flush()


def raw_deflate(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    return c.compress(data) + c.flush()


for name, data in inputs.items():
    for level in (0, 1, 6, 9):
        damaged(gd, f"{name}-l{level}", gz(data, level))
    damaged(gd, f"{name}-huffman", gz(data, 6, zlib.Z_HUFFMAN_ONLY))
    damaged(gd, f"{name}-rle", gz(data, 6, zlib.Z_RLE))
    damaged(gd, f"{name}-fixed", gz(data, 6, zlib.Z_FIXED))
damaged(gd, "two-members", gz(inputs["text"], 6) + gz(inputs["json"], 1))
# A header with every optional field (FEXTRA, FNAME, FCOMMENT, FHCRC), written by hand.
data = inputs["json"]
head = bytes([0x1F, 0x8B, 8, 0x1E]) + struct.pack("<I", 0) + bytes([0, 3])
head += struct.pack("<H", 4) + b"ab\x00\x00" + b"name.txt\0" + b"a comment\0"
head += struct.pack("<H", zlib.crc32(head) & 0xFFFF)
damaged(gd, "all-header-fields", head + raw_deflate(data) + struct.pack("<II", zlib.crc32(data), len(data)))
write(gd, "python-gzip-mtime0", gzip.compress(inputs["text"], 9, mtime=0))
print(len(os.listdir(zd)), "zstd seeds,", len(os.listdir(gd)), "gzip seeds")

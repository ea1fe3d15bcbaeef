#!/usr/bin/env python3
"""Rebuilds confusables.bin: the TR39 confusable prototypes and default-ignorable code points
that `domain::username` computes skeletons with, taken from the `unicode-security` crate's own
tables (so the two agree; its unit test checks every code point against the crate).

    python3 make_confusables.py ~/.cargo/registry/src/*/unicode-security-0.1.3/src/tables.rs > confusables.bin

Why not the crate's table at run time: it is a slice of (char, &[char]) pairs, one pointer and
one dynamic relocation per entry (6,713 of them): about 360 KB in every function binary that can
create an account. This file holds the same data in about 95 KB with no pointer at all.

Layout, little-endian u32 words: `KGCF`, entry count N, target count T, ignorable range count
R; N entries of (code point, target offset << 8 | target length), sorted by code point; T target
code points; R ranges (first, last) of default-ignorable code points.
"""
import re
import struct
import sys

text = open(sys.argv[1], encoding="utf-8").read()
conf = text[text.index("const CONFUSABLES: &'static [(char, &'static [char])] = &["):]
conf = conf[: conf.index("];")]
entries = []
for m in re.finditer(r"\('\\u\{([0-9a-f]+)\}',\s*&\[([^\]]*)\]\)", conf):
    src = int(m.group(1), 16)
    targets = [int(t, 16) for t in re.findall(r"\\u\{([0-9a-f]+)\}", m.group(2))]
    entries.append((src, targets))
ign = text[text.index("const DEFAULT_IGNORABLE: &'static [(char, char)] = &["):]
ign = ign[: ign.index("];")]
ranges = [(int(a, 16), int(b, 16)) for a, b in re.findall(r"\('\\u\{([0-9a-f]+)\}',\s*'\\u\{([0-9a-f]+)\}'\)", ign)]
assert len(entries) > 6000 and len(ranges) > 10, (len(entries), len(ranges))
assert [e[0] for e in entries] == sorted(e[0] for e in entries)
flat = []
out = [b"KGCF", struct.pack("<III", len(entries), sum(len(t) for _, t in entries), len(ranges))]
for src, targets in entries:
    assert 0 < len(targets) < 256
    out.append(struct.pack("<II", src, (len(flat) << 8) | len(targets)))
    flat.extend(targets)
out.extend(struct.pack("<I", t) for t in flat)
out.extend(struct.pack("<II", a, b) for a, b in ranges)
sys.stdout.buffer.write(b"".join(out))

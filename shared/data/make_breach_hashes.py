#!/usr/bin/env python3
"""Rebuilds common-passwords.sha256-32 from common-passwords.txt: what the binaries embed.

    python3 make_breach_hashes.py < common-passwords.txt > common-passwords.sha256-32

Each entry of the text list (already NFKC-normalized and lowercased) becomes the first 4 bytes
of its SHA-256, big-endian; the 4-byte values are deduplicated and sorted, and written back to
back. The binaries search this in place (about 150 KB instead of the text's 355 KB); a password
is refused when its prefix is listed, so 1 in about 110,000 passwords that are not on the list
is refused too (38,452 of 2^32 prefixes). `domain::password`'s unit test checks that every entry
of the text list is found and that the file is exactly what this script writes.
"""
import hashlib
import sys

prefixes = sorted({hashlib.sha256(line.rstrip("\n").encode("utf-8")).digest()[:4] for line in sys.stdin if line.strip("\n")})
sys.stdout.buffer.write(b"".join(prefixes))

#!/usr/bin/env python3
"""Print the benchmark's info_hashes, one per line as 40 lowercase hex chars.

usage: hashes.py N      (torrent indexes 0 .. N-1)

Must stay byte-for-byte identical to ih_bytes() in scripts/bench/tracker.lua:
  state = (index * 2654435761 + 0x9E3779B9) mod 2^32, then 4 LCG warm-up steps;
  bytes 0..15  = top byte of successive LCG states  (state = state*69069 + 12345 mod 2^32)
  bytes 16..19 = index, big-endian                  (so the hashes are unique)
The output is opentracker's whitelist (-w): it serves only listed hashes.
"""
import sys

M = 1 << 32


def ih_bytes(i):
    s = (i * 2654435761 + 0x9E3779B9) % M
    for _ in range(4):
        s = (s * 69069 + 12345) % M
    out = bytearray()
    for _ in range(16):
        s = (s * 69069 + 12345) % M
        out.append(s >> 24)
    out += i.to_bytes(4, "big")
    return bytes(out)


def main():
    n = int(sys.argv[1])
    w = sys.stdout.write
    for i in range(n):
        w(ih_bytes(i).hex() + "\n")


if __name__ == "__main__":
    main()

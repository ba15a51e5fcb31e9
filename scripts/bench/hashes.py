#!/usr/bin/env python3
"""Print the benchmark's info_hashes or passkeys, one per line.

usage: hashes.py N             info_hashes of torrent indexes 0 .. N-1, 40 lowercase hex
       hashes.py passkeys N    "PASSKEY ID" of users 0 .. N-1 (ID = index + 1): the private
                               run's users, for `starling table add users`

Must stay byte-for-byte identical to ih_bytes() and passkey() in scripts/bench/tracker.lua:
  state = (index * 2654435761 + 0x9E3779B9) mod 2^32, then 4 LCG warm-up steps;
  bytes 0..15  = top byte of successive LCG states  (state = state*69069 + 12345 mod 2^32)
  bytes 16..19 = index, big-endian                  (so the hashes are unique)
The output is opentracker's whitelist (-w): it serves only listed hashes.
A passkey (32 characters of ALPHABET): state = (index * 2246822519 + 0x85EBCA6B) mod 2^32,
4 warm-up steps of the same LCG, then 26 characters ALPHABET[(state * 62) >> 32] of
successive states, then the index in 6 base-62 digits (so the passkeys are unique).
"""
import sys

M = 1 << 32
ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"


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


def passkey(u):
    s = (u * 2246822519 + 0x85EBCA6B) % M
    for _ in range(4):
        s = (s * 69069 + 12345) % M
    out = []
    for _ in range(26):
        s = (s * 69069 + 12345) % M
        out.append(ALPHABET[(s * 62) >> 32])
    tail = []
    for _ in range(6):
        tail.append(ALPHABET[u % 62])
        u //= 62
    return "".join(out) + "".join(reversed(tail))


def main():
    w = sys.stdout.write
    if len(sys.argv) == 3 and sys.argv[1] == "passkeys":
        for u in range(int(sys.argv[2])):
            w("%s %d\n" % (passkey(u), u + 1))
        return
    n = int(sys.argv[1])
    for i in range(n):
        w(ih_bytes(i).hex() + "\n")


if __name__ == "__main__":
    main()

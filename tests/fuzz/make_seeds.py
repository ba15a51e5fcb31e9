#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/ (corpus/<target>/seed-*): a few small, valid or
nearly valid inputs per target, from which libFuzzer mutates. Run it again after changing
it; the files are committed, and ctest replays them in every build."""

import json
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))
HASH = bytes(range(20))
PEER = b"-XX0001-" + b"b" * 12


def pct(data):
    return "".join("%%%02X" % b for b in data)


ANNOUNCE_Q = ("info_hash=%s&peer_id=%s&port=6881&uploaded=0&downloaded=0&left=100"
              % (pct(HASH), pct(PEER)))


def http():
    return {
        "announce": "GET /announce?%s&event=started&compact=1 HTTP/1.1\r\nHost: t\r\n"
                    "User-Agent: x/1\r\n\r\n" % ANNOUNCE_Q,
        "scrape-keepalive": "GET /scrape?info_hash=%s&info_hash=%s HTTP/1.0\r\n"
                            "Connection: keep-alive\r\n\r\n" % (pct(HASH), "a" * 20),
        "pipelined": "GET /announce?%s HTTP/1.1\r\n\r\nGET /scrape HTTP/1.1\r\n"
                     "Connection: close\r\n\r\n" % ANNOUNCE_Q,
        "absolute-forwarded": "GET http://tracker.example/announce?%s HTTP/1.1\r\n"
                              "X-Forwarded-For: 10.0.0.1, 2001:db8::1\r\n\r\n" % ANNOUNCE_Q,
        "post-body": "POST /announce HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        "bare-lf-chunked": "GET /Announce?x=1 HTTP/1.1\nTransfer-Encoding: chunked\n\n",
        "folded": "GET / HTTP/1.1\r\nX-A: 1\r\n folded\r\n\r\n",
        "unfinished": "GET /announce?%s HTTP/1.1\r\nHost:" % ANNOUNCE_Q,
    }


def query():
    return {
        "announce": ANNOUNCE_Q + "&event=completed&numwant=50&key=1A2B&compact=0&no_peer_id=1",
        "addresses": ANNOUNCE_Q + "&ip=192.0.2.1&ipv4=198.51.100.7:6882&ipv6=%5B2001:db8::9%5D:7",
        "scrape": "info_hash=%s&info_hash=%s&info%%5Fhash=%s" % (pct(HASH), "a" * 20, "b" * 20),
        "repeated": ANNOUNCE_Q + "&port=1&event=started&event=stopped",
        "malformed": "info_hash=%G1&peer_id=%&port=-1&numwant=-99999999999999999999&left=1%00",
        "numbers": "18446744073709551615",
        "hex": "0123456789abcdefABCDEF0123456789abcdef01",
    }


def udp_header(cid, action, txid):
    return struct.pack(">QII", cid, action, txid)


def udp_announce(options=b""):
    body = (HASH + PEER + struct.pack(">QQQIIIiH", 10, 20, 30, 2, 0, 0x1234, -1, 6881))
    return udp_header(0x1122334455667788, 1, 7) + body + options


def udp():
    return {
        "connect": udp_header(0x41727101980, 0, 1),
        "connect-bad-magic": udp_header(1, 0, 1),
        "announce": udp_announce(),
        # NOP, URLData in two parts, an unknown option, EndOfOptions, then junk.
        "announce-options": udp_announce(b"\x01\x02\x09/announce\x02\x07?pk=abc\x07\x02xy\x00zz"),
        "announce-bad-options": udp_announce(b"\x02\x40/short"),
        "scrape": udp_header(0x1122334455667788, 2, 9) + HASH + b"a" * 20,
        "unknown-action": udp_header(5, 9, 3) + b"x" * 8,
    }


def bulk(b):
    return b"$%d\r\n%s\r\n" % (len(b), b)


def resp_array(items):
    return b"*%d\r\n" % len(items) + b"".join(items)


def redis_reply():
    v4 = PEER + bytes([192, 0, 2, 1, 0x1a, 0xe1])
    v6 = PEER + bytes(16) + b"\x1a\xe1"
    dual = v4 + bytes(16) + b"\x1a\xe2"
    node = lambda host, port, nid: resp_array([bulk(host), b":%d\r\n" % port, bulk(nid)])
    return {
        "announce": resp_array([b":3\r\n", b":1\r\n", bulk(v4), bulk(v6), bulk(dual)]),
        "announce-odd-members": resp_array([b":0\r\n", b":2\r\n", bulk(b"x" * 25), b"$-1\r\n",
                                           b":5\r\n", bulk(v4)]),
        "announce-fill": resp_array([b":3\r\n", b":9\r\n", b":1\r\n", b":2\r\n", b":1\r\n",
                                    bulk(v4), bulk(v6), bulk(dual)]),
        "scrape": resp_array([b":1\r\n", b":2\r\n", b":3\r\n"]),
        "scrape-negative": resp_array([b":-1\r\n", b"+OK\r\n", b"-ERR no\r\n"]),
        "cluster-slots": resp_array([
            resp_array([b":0\r\n", b":5460\r\n", node(b"10.0.0.1", 7000, b"a" * 40),
                        node(b"10.0.0.4", 7003, b"d" * 40)]),
            resp_array([b":5461\r\n", b":10922\r\n", node(b"", 7001, b"b" * 40)]),
            resp_array([b":10923\r\n", b":16383\r\n", node(b"10.0.0.3", 7002, b"c" * 40)]),
        ]),
        "pipeline": b"+OK\r\n" + b"-NOSCRIPT No matching script\r\n" + b":42\r\n" + b"$-1\r\n"
                    + b"*-1\r\n" + b"*0\r\n",
        "nested": resp_array([resp_array([resp_array([b":1\r\n"])]), bulk(b"")]),
    }


def config():
    with open(os.path.join(HERE, "..", "..", "config.json"), "rb") as f:
        repo = f.read()
    with open(os.path.join(HERE, "..", "..", "deploy", "k8s", "base", "starling-config.json"),
              "rb") as f:
        deploy = f.read()
    return {
        "repo-config": repo,
        "deploy-config": deploy,
        "redis-url": json.dumps({"redis": {"url": "redis://user:p%40ss@[::1]:6380/2",
                                           "connections": 4}}),
        "unix-url": json.dumps({"redis": {"url": "unix:///run/redis.sock?db=3"},
                                "udp_secret": "0123456789abcdef0123"}),
        "lists": json.dumps({"http_listen_addr": "127.0.0.1:1, [::1]:2",
                             "udp_listen_addr": [], "trusted_proxies": ["::1/128", "10.0.0.0/8"],
                             "announce": "1h30m", "min_announce": "1.5s"}),
        "broken": '{"udp_secret": "hunter2\n", "announce": 30}',
        "redis-url-text": "redis://:hunter2@cache:6379/0",
    }


def main():
    for target, seeds in (("http", http()), ("query", query()), ("udp", udp()),
                          ("redis_reply", redis_reply()), ("config", config())):
        d = os.path.join(HERE, "corpus", target)
        os.makedirs(d, exist_ok=True)
        for name, data in seeds.items():
            if isinstance(data, str):
                data = data.encode()
            with open(os.path.join(d, "seed-" + name), "wb") as f:
                f.write(data)


if __name__ == "__main__":
    main()

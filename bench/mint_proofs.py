#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""DPoP (RFC 9449) for the benchmark's DPoP row: a client key, and N fresh
ES256 proofs by it for one URL and one access token, one per line, so that
every request carries a proof never used before and the client signs
nothing while wrk runs.

    bench/mint_proofs.py key KEY.pem            -> prints the key's RFC 7638
                                                   thumbprint (the token's cnf.jkt)
    bench/mint_proofs.py proofs KEY.pem TOKEN_FILE HTU N OUT

Only for the benchmark's throw-away key."""
import base64
import hashlib
import json
import os
import sys
import time
from multiprocessing import Pool

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def compact(obj):
    return json.dumps(obj, separators=(",", ":"), sort_keys=True).encode()


def load(path):
    with open(path, "rb") as f:
        return serialization.load_pem_private_key(f.read(), password=None)


def public_jwk(key):
    nums = key.public_key().public_numbers()
    return {"crv": "P-256", "kty": "EC", "x": b64(nums.x.to_bytes(32, "big")),
            "y": b64(nums.y.to_bytes(32, "big"))}


def work(args):
    key_path, token, htu, count = args
    key = load(key_path)
    header = b64(compact({"typ": "dpop+jwt", "alg": "ES256", "jwk": public_jwk(key)}))
    ath = b64(hashlib.sha256(token.encode()).digest())
    now = int(time.time())
    out = []
    for _ in range(count):
        claims = {"jti": b64(os.urandom(12)), "htm": "GET", "htu": htu, "iat": now,
                  "ath": ath}
        si = header + "." + b64(compact(claims))
        r, s = decode_dss_signature(key.sign(si.encode(), ec.ECDSA(hashes.SHA256())))
        out.append(si + "." + b64(r.to_bytes(32, "big") + s.to_bytes(32, "big")))
    return out


def main():
    if sys.argv[1] == "key":
        key = ec.generate_private_key(ec.SECP256R1())
        with open(sys.argv[2], "wb") as f:
            f.write(key.private_bytes(serialization.Encoding.PEM,
                                      serialization.PrivateFormat.PKCS8,
                                      serialization.NoEncryption()))
        print(b64(hashlib.sha256(compact(public_jwk(key))).digest()))
        return
    key_path, token_file, htu, n, out_path = sys.argv[2:7]
    with open(token_file) as f:
        token = f.read().strip()
    n = int(n)
    procs = os.cpu_count() or 1
    chunk = (n + procs - 1) // procs
    jobs = [(key_path, token, htu, min(chunk, n - s)) for s in range(0, n, chunk)]
    with Pool(procs) as pool, open(out_path, "w") as f:
        for part in pool.map(work, jobs):
            f.write("\n".join(part) + "\n")


if __name__ == "__main__":
    main()

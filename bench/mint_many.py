#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Sign N distinct valid access tokens (RS256) for the benchmark's
distinct-token case, one per line, in parallel over the CPUs.

    bench/mint_many.py KEY.pem KID ISSUER N OUT [LIFETIME_S]

Claims as the test suite's OBOTest::Mint makes them (aud api://test-api,
scp access_as_user), each with its own sub and uti, so every token is a
new one for any cache. Only for the throw-away keys of the test PKI."""
import base64
import json
import os
import sys
import time
from multiprocessing import Pool

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def work(args):
    key_path, kid, issuer, start, count, lifetime = args
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    tid = issuer.rstrip("/").split("/")[-2]
    now = int(time.time())
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT", "kid": kid},
                            separators=(",", ":")).encode())
    out = []
    for i in range(start, start + count):
        claims = {"iss": issuer, "aud": "api://test-api", "sub": "bench-user-%d" % i,
                  "tid": tid, "iat": now, "nbf": now, "exp": now + lifetime,
                  "scp": "access_as_user", "azp": "client-app-1", "ver": "2.0",
                  "idtyp": "user", "uti": b64(os.urandom(12))}
        si = header + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = key.sign(si.encode(), padding.PKCS1v15(), hashes.SHA256())
        out.append(si + "." + b64(sig))
    return out


def main():
    key_path, kid, issuer, n, out_path = sys.argv[1:6]
    n = int(n)
    lifetime = int(sys.argv[6]) if len(sys.argv) > 6 else 7200
    procs = os.cpu_count() or 1
    chunk = (n + procs - 1) // procs
    jobs = [(key_path, kid, issuer, s, min(chunk, n - s), lifetime)
            for s in range(0, n, chunk)]
    with Pool(procs) as pool, open(out_path, "w") as f:
        for part in pool.map(work, jobs):
            f.write("\n".join(part) + "\n")


if __name__ == "__main__":
    main()

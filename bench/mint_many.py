#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""Sign N distinct valid access tokens for the benchmark's distinct-token
case, one per line, in parallel over the CPUs.

    bench/mint_many.py KEY.pem KID ISSUER N OUT [LIFETIME_S [ALG]]

ALG: RS256 (default) or PS256 with an RSA key, ES256 with a P-256 key,
EdDSA with an Ed25519 key.

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
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature


def b64(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def sign(key, alg, data):
    if alg == "RS256":
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    if alg == "PS256":
        return key.sign(data, padding.PSS(mgf=padding.MGF1(hashes.SHA256()),
                                          salt_length=32), hashes.SHA256())
    if alg == "ES256":
        r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(32, "big") + s.to_bytes(32, "big")
    if alg == "EdDSA":
        return key.sign(data)
    raise SystemExit("unknown alg " + alg)


def work(args):
    key_path, kid, issuer, start, count, lifetime, alg = args
    with open(key_path, "rb") as f:
        key = serialization.load_pem_private_key(f.read(), password=None)
    tid = issuer.rstrip("/").split("/")[-2]
    now = int(time.time())
    header = b64(json.dumps({"alg": alg, "typ": "JWT", "kid": kid},
                            separators=(",", ":")).encode())
    out = []
    for i in range(start, start + count):
        claims = {"iss": issuer, "aud": "api://test-api", "sub": "bench-user-%d" % i,
                  "tid": tid, "iat": now, "nbf": now, "exp": now + lifetime,
                  "scp": "access_as_user", "azp": "client-app-1", "ver": "2.0",
                  "idtyp": "user", "uti": b64(os.urandom(12))}
        si = header + "." + b64(json.dumps(claims, separators=(",", ":")).encode())
        sig = sign(key, alg, si.encode())
        out.append(si + "." + b64(sig))
    return out


def main():
    key_path, kid, issuer, n, out_path = sys.argv[1:6]
    n = int(n)
    lifetime = int(sys.argv[6]) if len(sys.argv) > 6 else 7200
    alg = sys.argv[7] if len(sys.argv) > 7 else "RS256"
    procs = os.cpu_count() or 1
    chunk = (n + procs - 1) // procs
    jobs = [(key_path, kid, issuer, s, min(chunk, n - s), lifetime, alg)
            for s in range(0, n, chunk)]
    with Pool(procs) as pool, open(out_path, "w") as f:
        for part in pool.map(work, jobs):
            f.write("\n".join(part) + "\n")


if __name__ == "__main__":
    main()

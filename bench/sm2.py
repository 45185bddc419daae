"""SM2 sign/verify rates of each backend against `openssl speed sm2`, measured in the same run.

Rounds alternate between OpenSSL and our native backend so that both see the same machine
state (this machine's speed drifts by ±20 % over minutes); the medians are compared. The
anchor is OpenSSL's own SM2 through the same libcrypto: ratio 1.0 means no overhead at all.
Also measured: the pure backend and, when installed (`pip install tongsuopy`), tongsuopy.
"""

from __future__ import annotations

import argparse
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from keys.sm2 import SM2PrivateKey, available_backends

MESSAGE = bytes(range(20))  # `openssl speed` signs 20 bytes too


def rate(operation, seconds: float) -> float:
    count, start = 0, time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for _ in range(10):
            operation()
        count += 10
    return count / (time.perf_counter() - start)


def ours(backend: str, seconds: float) -> tuple[float, float]:
    key = SM2PrivateKey.generate(backend=backend)
    signature = key.sign(MESSAGE)
    public = key.public_key()
    return rate(lambda: key.sign(MESSAGE), seconds), rate(lambda: public.verify(signature, MESSAGE), seconds)


def openssl_speed(seconds: int) -> tuple[float, float]:
    out = subprocess.run(["openssl", "speed", "-seconds", str(seconds), "sm2"],
                         capture_output=True, text=True, check=True).stdout
    match = re.search(r"SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    if not match:
        raise SystemExit(f"could not parse `openssl speed sm2` output:\n{out}")
    return float(match.group(1)), float(match.group(2))


def tongsuopy_rates(seconds: float) -> tuple[float, float] | None:
    try:
        from tongsuopy.crypto import hashes
        from tongsuopy.crypto.asymciphers import ec
    except ImportError:
        return None
    key = ec.generate_private_key(ec.SM2())
    algorithm = ec.ECDSA(hashes.SM3())
    signature = key.sign(MESSAGE, algorithm)
    public = key.public_key()
    return (rate(lambda: key.sign(MESSAGE, algorithm), seconds),
            rate(lambda: public.verify(signature, MESSAGE, algorithm), seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=int, default=3)
    args = parser.parse_args()

    print("backends:", available_backends())
    anchor, native = [], []
    for round_number in range(1, args.rounds + 1):
        anchor.append(openssl_speed(args.seconds))
        native.append(ours("native", args.seconds))
        print(f"round {round_number}: openssl {anchor[-1][0]:.0f}/{anchor[-1][1]:.0f}  "
              f"native {native[-1][0]:.0f}/{native[-1][1]:.0f}  (sign/s / verify/s)")
    openssl_sign = statistics.median(a[0] for a in anchor)
    openssl_verify = statistics.median(a[1] for a in anchor)
    rows = [("openssl speed sm2 (anchor)", openssl_sign, openssl_verify),
            ("yitong native (libcrypto via cffi)", statistics.median(n[0] for n in native),
             statistics.median(n[1] for n in native))]
    tongsuo = tongsuopy_rates(args.seconds)
    if tongsuo:
        rows.append(("tongsuopy 1.0.1 (default ID only)", *tongsuo))
    rows.append(("yitong pure (gmssl arithmetic)", *ours("pure", 2)))

    print(f"\n{'SM2, 20-byte message':38} {'sign/s':>9} {'ratio':>6} {'verify/s':>9} {'ratio':>6}")
    for name, sign, verify in rows:
        print(f"{name:38} {sign:9.0f} {sign / openssl_sign:6.2f} {verify:9.0f} {verify / openssl_verify:6.2f}")


if __name__ == "__main__":
    main()

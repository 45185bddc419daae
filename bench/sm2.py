"""SM2 sign/verify rates of each backend against `openssl speed sm2`, measured in the same run.

In each round `openssl speed -seconds N sm2` runs on one core while our native backend runs
the same N seconds of signing, then of verifying, on the other: this machine's speed drifts by
±30 % within minutes, and measuring side by side puts both under the same conditions. The
ratio is taken per round and the median reported. The anchor is OpenSSL's own SM2 through the
same libcrypto: ratio 1.0 means our binding adds no overhead.
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

from bench.machine import print_load
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


def start_openssl_speed(seconds: int) -> subprocess.Popen:
    return subprocess.Popen(["openssl", "speed", "-seconds", str(seconds), "sm2"],
                            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)


def openssl_result(process: subprocess.Popen) -> tuple[float, float]:
    out, _ = process.communicate(timeout=120)
    match = re.search(r"SM2 \(CurveSM2\)\s+\S+s\s+\S+s\s+([\d.]+)\s+([\d.]+)", out)
    if process.returncode != 0 or not match:
        raise SystemExit(f"could not run or parse `openssl speed sm2`:\n{out}")
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

    print_load("bench/sm2.py")
    print("backends:", available_backends())
    anchor, native = [], []
    for round_number in range(1, args.rounds + 1):
        process = start_openssl_speed(args.seconds)  # side by side: same machine state
        native.append(ours("native", args.seconds))
        anchor.append(openssl_result(process))
        print(f"round {round_number}: openssl {anchor[-1][0]:.0f}/{anchor[-1][1]:.0f}  "
              f"native {native[-1][0]:.0f}/{native[-1][1]:.0f}  (sign/s / verify/s)")
    sign_ratio = statistics.median(n[0] / a[0] for n, a in zip(native, anchor, strict=True))
    verify_ratio = statistics.median(n[1] / a[1] for n, a in zip(native, anchor, strict=True))
    openssl_sign = statistics.median(a[0] for a in anchor)
    openssl_verify = statistics.median(a[1] for a in anchor)
    rows = [("openssl speed sm2 (anchor)", openssl_sign, openssl_verify)]
    tongsuo = tongsuopy_rates(args.seconds)
    if tongsuo:
        rows.append(("tongsuopy 1.0.1 (default ID only)", *tongsuo))
    rows.append(("yitong pure (gmssl arithmetic)", *ours("pure", 2)))

    print(f"\n{'SM2, 20-byte message':38} {'sign/s':>9} {'ratio':>6} {'verify/s':>9} {'ratio':>6}")
    print(f"{'yitong native, side by side (median)':38} {'':9} {sign_ratio:6.2f} {'':9} {verify_ratio:6.2f}")
    for name, sign, verify in rows:
        print(f"{name:38} {sign:9.0f} {sign / openssl_sign:6.2f} {verify:9.0f} {verify / openssl_verify:6.2f}")
    print("(rows after the first two were measured alone, against the anchor's median; no target in issue 19:\n"
          " 1.00 means the binding adds nothing to OpenSSL's own SM2)")


if __name__ == "__main__":
    main()

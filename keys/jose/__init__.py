"""JOSE for our keys: JWKs (RFC 7517/7518 §6), thumbprints (RFC 7638), compact JWS/JWT (RFC
7515/7519) with ES256, RS256 and SM2-with-SM3, and the claims checks every verifier needs.

The IdP signs ID tokens and RFC 9068 access tokens with :func:`sign_jwt`; seal/ and the IdP
itself verify them offline with :func:`verify_jwt` against the published JWKS (:func:`jwks`).

The SM2 JWS algorithm
---------------------
No IANA "alg" exists for SM2 (nor a COSE one; draft-dang-webauthn-sm2-00, "Using SM2 with JOSE
and COSE", which would have registered the curve as "SM2", expired unadopted in 2022). What
Chinese JWT code emits, as found in public repositories:

- ``"SM2"`` — the java-jwt ``Algorithm`` subclasses of yingzhuo/turbocharger (hutool SM2) and
  yingzhuo/bayonet (BouncyCastle ``SM2Signer``): ``super("SM2", "SM3withSM2")``, and other
  java-jwt samples (``new SM2Algorithm("SM2", ...)``); all of them put DER in the signature;
- ``"SM3WithSM2"`` (a Tencent Kona sample), ``"SM3withSM2"``/``"SM3WITHSM2"`` — the JCA name
  reused as alg, capitalised differently from project to project, though ``alg`` is
  case-sensitive (RFC 7515 §4.1.1); hutool's JWT signers pass unknown JCA names through as alg;
- ``"GmSM2"`` — deatil/go-jwt-gm, the one found that signs raw r ‖ s (64 bytes).

We use **"SM2"**: the most common choice, the curve's own name (``"crv": "SM2"``), and — like
``EdDSA`` (RFC 8037 §3.1) — the name of a signature scheme that already fixes its hash: GB/T
32918.2 signs e = SM3(Z ‖ M), so a hash suffix would add nothing. Keys are
``{"kty": "EC", "crv": "SM2", "x", "y"}`` with 32-byte big-endian coordinates.

The signature is SM2 over SM3(Z ‖ M) with the default ID ``1234567812345678`` (GM/T 0009-2012
§10), M = ASCII(BASE64URL(header) ‖ "." ‖ BASE64URL(payload)), encoded as the fixed-width
r ‖ s (64 bytes) exactly as ES256 is (RFC 7518 §3.4) — NOT the DER SEQUENCE{r, s} that the
java-jwt based signers above emit, so their tokens need a DER → r ‖ s conversion to verify here.

joserfc (which Authlib 1.9 uses for its JWTs) learns the algorithm and the key type on import
of this module: :class:`SM2Algorithm` joins ``JWSRegistry`` and ``"crv": "SM2"`` JWKs import as
:class:`SM2JWK`, so ``joserfc.jws``/``joserfc.jwt`` — and Authlib's ID-token code given
``joserfc_key(sm2_key)`` — sign and verify SM2 like any other algorithm.

The package by job: ``common`` (names, errors, base64url), ``jwk``, ``sm2alg`` (the SM2 algorithm
and its joserfc registration), ``jws`` (sign and verify), ``claims``.

Refused outright, whatever a caller allows: ``alg: none`` and every HS* algorithm (an HMAC
"verified" with a public key's bytes is the classic key-confusion forgery), ``crit`` and the
RFC 7797 ``b64`` header (we implement no extensions), and keys whose type does not fit the alg.
"""

from __future__ import annotations

from keys.jose.claims import (
    check_claims,
)
from keys.jose.common import (
    PRIVATE_JWK_MEMBERS,
    SM2_ALG,
    SM2_CRV,
    SUPPORTED_ALGORITHMS,
    InvalidClaims,
    InvalidJWS,
    JoseError,
    b64url,
    b64url_decode,
)
from keys.jose.jwk import (
    alg_for_key,
    jwk_thumbprint,
    jwk_to_public_key,
    jwks,
    public_jwk,
)
from keys.jose.jws import (
    check_algorithms,
    decode_header,
    half_hash,
    sign_compact,
    sign_jwt,
    verify_jwt,
    verify_with_jwk,
)
from keys.jose.sm2alg import (
    SM2JWK,
    SM2Algorithm,
    joserfc_key,
)

__all__ = [
    "PRIVATE_JWK_MEMBERS",
    "SM2JWK",
    "SM2_ALG",
    "SM2_CRV",
    "SUPPORTED_ALGORITHMS",
    "InvalidClaims",
    "InvalidJWS",
    "JoseError",
    "SM2Algorithm",
    "alg_for_key",
    "b64url",
    "b64url_decode",
    "check_algorithms",
    "check_claims",
    "decode_header",
    "half_hash",
    "joserfc_key",
    "jwk_thumbprint",
    "jwk_to_public_key",
    "jwks",
    "public_jwk",
    "sign_compact",
    "sign_jwt",
    "verify_jwt",
    "verify_with_jwk",
]

"""keys/: the cryptographic core under idp/, seal/ and verify/.

SM2/SM3/SM4 and ECDSA/RSA behind one sign/verify interface, GM OIDs, the keystore (private
keys only ever stored wrapped under the master key) and the runtime interfaces every room
shares (replay cache, rate limits, job queue). May import only the standard library and
third-party libraries — never Flask, and never yitong/, idp/, seal/, verify/ or baselib/.
"""

from keys import oids as _oids  # noqa: F401  (registers the GM OIDs with asn1crypto once)
from keys.errors import BackendUnavailable, DecryptionError, InvalidKey, InvalidSignature, KeysError

__all__ = ["BackendUnavailable", "DecryptionError", "InvalidKey", "InvalidSignature", "KeysError"]

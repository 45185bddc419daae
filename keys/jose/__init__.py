"""JOSE for our keys (moved to keys/jose/sm2alg.py; split by job next)."""

from keys.jose import sm2alg as _sm2alg

globals().update({name: value for name, value in vars(_sm2alg).items() if not name.startswith("__")})

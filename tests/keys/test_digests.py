"""keys.digests.digest: one function names every digest, SM3 included."""

import hashlib

import pytest

from keys.digests import digest

# GB/T 32905-2016 Appendix A.1: SM3("abc").
SM3_ABC = "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"


def test_sm3_by_name_matches_the_standard_vector():
    assert digest("sm3", b"abc").hex() == SM3_ABC


@pytest.mark.parametrize("name", ["sha1", "sha256", "sha384", "sha512"])
def test_hashlib_names_give_hashlib_digests(name):
    assert digest(name, b"abc") == hashlib.new(name, b"abc").digest()


def test_an_unknown_name_is_refused():
    with pytest.raises(ValueError, match="unsupported hash type"):
        digest("md-nothing", b"abc")

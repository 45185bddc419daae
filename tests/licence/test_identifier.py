"""GB/T 36904 licence identifiers and their ISO 7064 MOD 37,36 check character, checked against
python-stdnum's independent implementation of the same ISO 7064 system."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from stdnum.iso7064 import mod_37_36 as stdnum_mod_37_36

from licence.identifier import ALPHABET, IdentifierError, make_identifier, mod_37_36, parse_identifier

TYPE = "11100000MB0A00018B001"
ISSUER = "11120000MB1A0001XT"


@given(st.text(alphabet=ALPHABET, min_size=1, max_size=80))
def test_check_character_agrees_with_python_stdnum(text):
    assert mod_37_36(text) == stdnum_mod_37_36.calc_check_digit(text)
    assert stdnum_mod_37_36.is_valid(text + mod_37_36(text))


def test_identifier_has_the_standard_shape_and_round_trips():
    ident = make_identifier(TYPE, ISSUER, 42)
    text = str(ident)
    body = f"{TYPE}{ISSUER}000000000042001"
    assert text == f"1.2.156.3005.2.{TYPE}.{ISSUER}.000000000042.001.{stdnum_mod_37_36.calc_check_digit(body)}"
    assert parse_identifier(text) == ident
    assert str(ident.next_version()).split(".")[-2] == "002"


def test_every_single_character_change_is_caught():
    text = str(make_identifier(TYPE, ISSUER, 7))
    body_start = len("1.2.156.3005.2.")
    caught = 0
    for pos in range(body_start, len(text) - 2):
        if text[pos] == ".":
            continue
        for replacement in "0123456789ABCDEFGHJKLMNPQRTUWXY":
            if replacement == text[pos]:
                continue
            changed = text[:pos] + replacement + text[pos + 1:]
            with pytest.raises(IdentifierError):
                parse_identifier(changed)
            caught += 1
    assert caught > 1000


@pytest.mark.parametrize("bad", ["", "1.2.156.3005.2", "1.2.156.3005.2.X.Y.1.001.A", "<script>",
                                 "1.2.156.3005.1." + TYPE + "." + ISSUER + ".000000000001.001.A"])
def test_malformed_identifiers_are_refused(bad):
    with pytest.raises(IdentifierError):
        parse_identifier(bad)


def test_make_refuses_bad_parts():
    for args in ((TYPE[:-1], ISSUER, 1), (TYPE, "123", 1), (TYPE, ISSUER, 0), (TYPE, ISSUER, 10 ** 12)):
        with pytest.raises(IdentifierError):
            make_identifier(*args)

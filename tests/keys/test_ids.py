"""keys.ids.new_id: identifiers operators type never look like command-line options."""

from __future__ import annotations

from keys.ids import new_id


def test_ids_never_start_with_a_dash_or_underscore_and_do_not_repeat():
    ids = [new_id() for _ in range(4000)]  # with token_urlsafe, ~125 of these would start with - or _
    assert all(value[0].isalnum() for value in ids)
    assert len(set(ids)) == len(ids) and {len(value) for value in ids} == {22}

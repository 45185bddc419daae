"""One set-up home (SQLite, PKI, two seals) per test session: PKI set-up is the slow part."""

from __future__ import annotations

import pytest

from tests.seal.support import ORG_NAME, ORG_USCC, open_seal_home


@pytest.fixture(scope="session")
def seal_home(tmp_path_factory):
    return open_seal_home(tmp_path_factory.mktemp("seal-home"))


@pytest.fixture(scope="session")
def sm2_seal(seal_home):
    return seal_home.registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=4,
                                     algorithm="sm2", actor="test", reason="test seal")


@pytest.fixture(scope="session")
def p256_seal(seal_home):
    return seal_home.registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=6,
                                     algorithm="p256", actor="test", reason="test seal")

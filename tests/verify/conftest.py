"""One PKI and its sealed PDFs for the whole verify/ test session (verify/ itself has no storage)."""

from __future__ import annotations

import pytest

from tests.verify.support import World


@pytest.fixture(scope="session")
def world(tmp_path_factory, _sqlite_template) -> World:
    return World(tmp_path_factory.mktemp("verify-world"), _sqlite_template)

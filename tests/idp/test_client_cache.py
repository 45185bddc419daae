"""The client registry's cache (idp/oauth/clients.py): a change made through another registry — another
worker, or the CLI in another process — is seen by the next lookup, on SQLite (no cache) and on
PostgreSQL + Redis (cached while the shared change stamp stands still)."""

from __future__ import annotations

from datetime import timedelta

from idp.oauth.clients import ClientRegistry, build_metadata
from idp.oauth.tokens import SigningKeys
from keys.keystore import Keystore, MasterKey


def _registries(storage) -> tuple[ClientRegistry, ClientRegistry]:
    pepper = b"p" * 32
    return (ClientRegistry(storage.engine, pepper, storage.runtime.change_stamp("clients")),
            ClientRegistry(storage.engine, pepper, storage.runtime.change_stamp("clients")))


def test_a_rotated_secret_an_update_and_a_deletion_elsewhere_are_seen_at_once(storage):
    worker, operator = _registries(storage)
    metadata = build_metadata(redirect_uris=[], grant_types=["client_credentials"], scope="seal:read",
                              token_endpoint_auth_method=None, public=False)
    client, secret = operator.create("Batch job", metadata)
    for _ in range(2):  # the second lookup is the cached one, with Redis
        assert worker.get(client.client_id).check_client_secret(secret)

    new_secret = operator.rotate_secret(client.client_id)
    seen = worker.get(client.client_id)
    assert seen.check_client_secret(new_secret) and not seen.check_client_secret(secret)

    operator.update(client.client_id, "Nightly batch", {**metadata, "scope": "seal:read seal:sign"})
    seen = worker.get(client.client_id)
    assert (seen.name, seen.scope) == ("Nightly batch", "seal:read seal:sign")

    operator.delete(client.client_id)
    assert worker.get(client.client_id) is None


def test_what_a_caller_does_to_a_client_it_got_does_not_change_the_next_lookup(storage):
    worker, operator = _registries(storage)
    metadata = build_metadata(redirect_uris=["https://portal.example.cn/cb"], grant_types=["authorization_code"],
                              scope="openid", token_endpoint_auth_method=None, public=True)
    client, _ = operator.create("Portal", metadata)
    worker.get(client.client_id).metadata["redirect_uris"].append("https://attacker.example/cb")
    assert worker.get(client.client_id).redirect_uris == ["https://portal.example.cn/cb"]


def test_a_key_rotation_elsewhere_is_in_the_jwks_as_soon_as_the_keys_stamp_moves(storage):
    """With Redis, `yitong keys rotate` bumps the keys' change stamp and every host's JWKS has the
    new key at once; without it (SQLite here: no stamp) the minute's cache holds."""
    store = Keystore.open(storage.engine, MasterKey.generate())
    store.generate("token", "p256")
    stamp = storage.runtime.change_stamp("keys")
    host = SigningKeys(store, stamp=stamp)
    before = {k["kid"] for k in host.jwks()["keys"]}
    [pending] = store.rotate("token", activate_after=timedelta(hours=1))
    assert {k["kid"] for k in host.jwks()["keys"]} == before  # cached, the stamp stands still
    if stamp is None:
        return
    stamp.bump()  # what the CLI does after rotating
    assert {k["kid"] for k in host.jwks()["keys"]} == before | {pending.kid}

"""The keystore on real databases (SQLite, and PostgreSQL under CI): custody, rotation, rewrap."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select, text, update

from keys.errors import DecryptionError, InvalidSignature
from keys.keystore import Keystore, KeystoreError, MasterKey, MasterKeyError
from keys.keystore.models import keys_table, meta_table
from keys.sm2 import SM2PrivateKey
from keys.storage import utcnow


def secret_bytes(private_key) -> list[bytes]:
    """Byte strings that must never appear at rest: scalars, primes, the PKCS#8 itself."""
    secrets = [private_key.private_bytes_der()]
    if isinstance(private_key, SM2PrivateKey):
        secrets.append(private_key._d.to_bytes(32, "big"))
    elif private_key.algorithm == "p256":
        secrets.append(private_key.cryptography_key.private_numbers().private_value.to_bytes(32, "big"))
    else:
        numbers = private_key.cryptography_key.private_numbers()
        for value in (numbers.d, numbers.p, numbers.q):
            secrets.append(value.to_bytes((value.bit_length() + 7) // 8, "big"))
    return secrets


def database_bytes(storage) -> bytes:
    if storage.kind == "sqlite":
        storage.engine.dispose()  # closes connections, checkpointing the WAL into the file
        path = storage.url.database
        data = open(path, "rb").read()
        for suffix in ("-wal", "-journal"):
            try:
                data += open(path + suffix, "rb").read()
            except FileNotFoundError:
                pass
        return data
    with storage.engine.connect() as conn:
        rows = conn.execute(select(keys_table)).all() + conn.execute(select(meta_table)).all()
    return b"".join(value if isinstance(value, bytes) else str(value).encode() for row in rows for value in row)


@pytest.fixture
def master() -> MasterKey:
    return MasterKey.generate()


@pytest.fixture
def store(storage, master) -> Keystore:
    return Keystore.open(storage.engine, master)


def test_no_private_scalar_appears_in_the_database_bytes(storage, store):
    for algorithm in ("sm2", "p256", "rsa2048"):
        store.generate("token", algorithm)
    store.rotate("token", activate_after=timedelta(0))
    secrets = []
    for record in store.list():
        assert record.custody == "software"
        if record.state == "active":
            secrets += secret_bytes(store.private_key(record.kid))
    assert len(secrets) >= 3 * 2
    raw = database_bytes(storage)
    assert len(raw) > 0
    for secret in secrets:
        assert secret not in raw
        assert secret.hex().encode() not in raw


def test_wrapped_key_signs_after_reopening_with_the_same_master_key(storage, master):
    record = Keystore.open(storage.engine, master).generate("token", "sm2")
    reopened = Keystore.open(storage.engine, MasterKey.from_text(master._key.hex()))
    signature = reopened.private_key(record.kid).sign(b"id token")
    record.public_key().verify(signature, b"id token")


def test_opening_with_another_master_key_is_refused(storage, store):
    store.generate("token", "p256")
    with pytest.raises(MasterKeyError, match="does not match"):
        Keystore.open(storage.engine, MasterKey.generate())


def test_tampered_wrapped_key_is_refused(storage, store):
    record = store.generate("token", "sm2")
    with storage.engine.begin() as conn:
        wrapped = conn.execute(select(keys_table.c.private_key_ref).where(keys_table.c.kid == record.kid)).scalar()
        tampered = wrapped[:-1] + bytes([wrapped[-1] ^ 1])
        conn.execute(update(keys_table).where(keys_table.c.kid == record.kid).values(private_key_ref=tampered))
    with pytest.raises(DecryptionError):
        store.private_key(record.kid)


def test_wrapped_key_moved_to_another_record_is_refused(storage, store):
    """The AAD binds kid and algorithm: swapping two rows' wrapped keys breaks both."""
    first, second = store.generate("token", "sm2"), store.generate("token", "p256")
    with storage.engine.begin() as conn:
        ref = {r.kid: r.private_key_ref for r in conn.execute(select(keys_table.c.kid, keys_table.c.private_key_ref))}
        conn.execute(update(keys_table).where(keys_table.c.kid == first.kid).values(private_key_ref=ref[second.kid]))
    with pytest.raises(DecryptionError):
        store.private_key(first.kid)


def test_pending_key_is_published_but_never_signs(store):
    current = store.generate("token", "p256")
    (successor,) = store.rotate("token", activate_after=timedelta(hours=1))
    assert successor.state == "pending"
    assert {r.kid for r in store.published("token")} == {current.kid, successor.kid}
    signing_record, signer = store.signing_key("token", "p256")
    assert signing_record.kid == current.kid
    current.public_key().verify(signer.sign(b"t"), b"t")
    with pytest.raises(InvalidSignature):
        successor.public_key().verify(signer.sign(b"t"), b"t")
    with pytest.raises(KeystoreError, match="pending"):
        store.private_key(successor.kid)


def test_rotation_activates_the_successor_and_retires_the_old_key(store):
    old = store.generate("token", "sm2")
    (new,) = store.rotate("token", activate_after=timedelta(hours=1))
    store.promote_due(now=utcnow() + timedelta(hours=2))
    states = {r.kid: r.state for r in store.list(purpose="token")}
    assert states == {old.kid: "retiring", new.kid: "active"}
    assert store.signing_key("token", "sm2")[0].kid == new.kid
    assert old.kid in {r.kid for r in store.published("token")}  # tokens it signed still verify
    store.promote_due(now=utcnow() + timedelta(days=3))
    assert store.get(old.kid).state == "retired"
    assert old.kid not in {r.kid for r in store.published("token")}


def test_rotate_refuses_ca_and_seal_keys(store):
    store.generate("ca", "sm2", owner="sm2-root")
    store.generate("seal", "sm2", owner="120000000000001")
    for purpose in ("ca", "seal", "seal-maker"):
        with pytest.raises(KeystoreError, match="PKI rollover"):
            store.rotate(purpose, activate_after=timedelta(0))


def test_rotate_with_nothing_active_says_so(store):
    with pytest.raises(KeystoreError, match="no active"):
        store.rotate("token", activate_after=timedelta(0))


def test_unknown_purpose_and_algorithm_are_refused(store):
    with pytest.raises(KeystoreError, match="unknown key purpose"):
        store.generate("email", "sm2")
    with pytest.raises(KeystoreError, match="unknown algorithm"):
        store.generate("token", "ed25519")


def test_rewrap_moves_every_key_to_the_new_master_key(storage, store, master):
    kids = [store.generate("token", algorithm).kid for algorithm in ("sm2", "p256", "rsa2048")]
    new_master = MasterKey.generate()
    assert store.rewrap(new_master) == 3
    with pytest.raises(MasterKeyError):
        Keystore.open(storage.engine, master)
    reopened = Keystore.open(storage.engine, new_master)
    for kid in kids:
        reopened.get(kid).public_key().verify(reopened.private_key(kid).sign(b"m"), b"m")


def test_rewrap_with_a_wrong_old_key_changes_nothing(storage, store):
    store.generate("token", "sm2")
    store.generate("token", "p256")
    before = _snapshot(storage)
    impostor = Keystore(storage.engine, type(store.custody)(MasterKey.generate()))
    with pytest.raises(MasterKeyError, match="nothing was changed"):
        impostor.rewrap(MasterKey.generate())
    assert _snapshot(storage) == before


def test_rewrap_failing_half_way_rolls_back(storage, store):
    good = store.generate("token", "sm2")
    bad = store.generate("token", "p256")
    with storage.engine.begin() as conn:  # corrupt the second key: the rewrap must fail on it
        conn.execute(update(keys_table).where(keys_table.c.kid == bad.kid).values(private_key_ref=b"\x01" + bytes(40)))
    before = _snapshot(storage)
    with pytest.raises(MasterKeyError, match="nothing was changed"):
        store.rewrap(MasterKey.generate())
    assert _snapshot(storage) == before
    assert store.private_key(good.kid).sign(b"still works")


def _snapshot(storage):
    with storage.engine.connect() as conn:
        keys_rows = conn.execute(text("SELECT kid, private_key_ref FROM keys_keys ORDER BY kid")).all()
        meta_rows = conn.execute(text("SELECT name, value FROM keys_meta ORDER BY name")).all()
    return [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in keys_rows + meta_rows]


def test_named_secret_is_stable_wrapped_and_follows_a_rewrap(storage, store):
    pepper = store.secret("client-secret-pepper")
    assert len(pepper) == 32 and store.secret("client-secret-pepper") == pepper
    assert store.secret("cookie-signing") != pepper
    assert pepper not in database_bytes(storage)
    new_master = MasterKey.generate()
    store.rewrap(new_master)
    assert Keystore.open(storage.engine, new_master).secret("client-secret-pepper") == pepper

"""Opening (and on first use, setting up) a Yitong home: master key, database, initial keys."""

from __future__ import annotations

import logging
import os
import sys
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from functools import cached_property

from sqlalchemy import Engine

from keys.auditchain import AuditChain, ChainPolicy, open_chain
from keys.keystore import Keystore, MasterKey, MasterKeyError
from keys.pki.authority import Pki
from keys.runtime import Runtime, open_runtime
from yitong import db, public_url
from yitong.seal_idp import provision_seal_client
from yitong.settings import Settings, SettingsError

log = logging.getLogger("yitong")

# Token signing keys made on first start: ES256 for everyone, SM2 for clients that ask for it.
INITIAL_KEYS = (("token", "p256"), ("token", "sm2"))


def load_master_key(settings: Settings, *, create: bool) -> MasterKey:
    """The configured master key; in the embedded default, generated on first use (0600)."""
    try:
        if settings.master_key_inline:
            return MasterKey.from_text(settings.master_key_inline)
        if settings.master_key_file:
            return MasterKey.from_file(settings.master_key_file)
        path = settings.default_master_key_file
        if not path.exists():
            if not create:
                raise MasterKeyError(f"no master key at {path}: run `yitong db upgrade` to set this home up")
            MasterKey.generate().write_new_file(path)
            print(
                f"WARNING: generated a new master key at {path} (mode 0600). It protects every private "
                "key in the database: back it up apart from the database, and in production set "
                "YITONG_MASTER_KEY_FILE to a key held outside YITONG_HOME (or use an HSM).",
                file=sys.stderr,
            )
        return MasterKey.from_file(path)
    except MasterKeyError as exc:
        raise SettingsError(str(exc)) from None


@dataclass
class Home:
    settings: Settings
    _keystore: Keystore | None = field(default=None, init=False, repr=False)
    _audit_chain: AuditChain | None = field(default=None, init=False, repr=False)

    @cached_property
    def engine(self) -> Engine:
        return db.make_engine(self.settings.database_url)

    @cached_property
    def runtime(self) -> Runtime:
        return open_runtime(self.settings.redis_url, prefix=self.settings.redis_prefix)

    def close(self) -> None:
        """Close the database connections this home holds (a command's last step: the server then sees a
        client say goodbye, not a dropped socket)."""
        if "engine" in self.__dict__:
            self.engine.dispose()

    def keystore(self, *, create_master: bool = False) -> Keystore:
        """The keystore, opened once per Home (the master key is read and checked once)."""
        if self._keystore is None:
            master = load_master_key(self.settings, create=create_master)
            try:
                self._keystore = Keystore.open(self.engine, master)
            except MasterKeyError as exc:
                raise SettingsError(str(exc)) from None
        return self._keystore

    def adopt_public_url(self, *, record: bool = False) -> Settings:
        """Make the URL recorded in this home the issuer; ``record``: record one first if none is.

        Raises SettingsError when YITONG_ISSUER names another URL than the recorded one.
        """
        url = public_url.recorded(self.engine)
        if url is None and record:  # a new home; or one set up before URLs were recorded, whose CAs name theirs
            url = public_url.record(self.engine, public_url.named_by_cas(self.engine) or self.settings.issuer)
        self.settings = public_url.settle(self.settings, url)
        return self.settings

    def audit_chain(self) -> AuditChain:
        """The audit chain (keys/auditchain) every room's audit records are appended through."""
        if self._audit_chain is None:
            policy = ChainPolicy(self.settings.audit_checkpoint_events,
                                 timedelta(minutes=self.settings.audit_checkpoint_minutes))
            self._audit_chain = open_chain(self.keystore(), self.pki(), tsa_algorithm=self.settings.tsa_algorithm,
                                           policy=policy)
        return self._audit_chain

    def pki(self, keystore: Keystore | None = None) -> Pki:
        return Pki(self.engine, keystore or self.keystore(), f"{self.settings.issuer}/pki", self.settings.pki_dir)

    def initialise(self, *, with_pki: bool = True) -> list[str]:
        """`yitong db upgrade`: migrate, then create the master key, initial keys and CAs if absent.

        ``with_pki=False`` skips the CA hierarchy (tests that do not need it save seconds).
        """
        with _private_files():
            self.settings.home.mkdir(parents=True, exist_ok=True)
            self.settings.home.chmod(0o700)
            db.upgrade(self.engine)
            self.adopt_public_url(record=True)  # before the CAs: their certificates name it
            store = self.keystore(create_master=True)
            made = []
            for purpose, algorithm in INITIAL_KEYS:
                if not [r for r in store.published(purpose) if r.algorithm == algorithm]:
                    made.append(f"key {store.generate(purpose, algorithm).kid}")
            made += provision_seal_client(self)  # the seal API's introspection client (yitong/seal_idp.py)
            from yitong.console import provision_console_client

            made += provision_console_client(self)  # the operator console's public client (yitong/console.py)
            from yitong.wallet import provision_wallet_client

            made += provision_wallet_client(self)  # the holder's wallet's public client (yitong/wallet.py)
            if with_pki:
                made += [f"CA {name}" for name in self.pki(store).init()]
                made += self._licence_samples(store)
        return made

    def _licence_samples(self, store: Keystore) -> list[str]:
        """The sample licence types and their authorities' stand-in seals (licence/samples.py); without a
        CJK font for seal images they wait for the next `db upgrade`, with a warning."""
        from licence.catalogue import Catalogue
        from licence.samples import provision_samples
        from seal.image import FontMissing
        from seal.registry import SealRegistry

        seals = SealRegistry(self.engine, store, self.pki(store), region=self.settings.seal_region,
                             font=self.settings.seal_font, audit_chain=self.audit_chain())
        try:
            return provision_samples(Catalogue(self.engine, seals.audit_chain), seals)
        except FontMissing as exc:
            log.warning("sample licence types not set up: %s", exc)
            return []

    def check_ready_to_serve(self) -> None:
        db.check_at_head(self.engine)
        self.adopt_public_url(record=True)
        self.keystore()
        if self.settings.redis_url:
            try:
                self.runtime.store.ping()
            except Exception as exc:  # redis raises many connection error types
                raise SettingsError(f"YITONG_REDIS_URL: Redis is unreachable: {exc}") from None


@contextmanager
def _private_files():
    """Files and folders made while setting a home up are the operator's only (0600 / 0700): the
    database holds wrapped keys and personal data, the home the master key."""
    previous = os.umask(0o077)
    try:
        yield
    finally:
        os.umask(previous)

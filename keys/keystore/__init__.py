"""Key custody: records in keys_keys, private keys wrapped under the master key (or in an HSM)."""

from keys.keystore.custody import KeyCustody, MasterKey, MasterKeyError, SoftwareCustody, key_id
from keys.keystore.store import PURPOSES, KeyRecord, Keystore, KeystoreError

__all__ = [
    "PURPOSES",
    "KeyCustody",
    "KeyRecord",
    "Keystore",
    "KeystoreError",
    "MasterKey",
    "MasterKeyError",
    "SoftwareCustody",
    "key_id",
]

"""The one exception hierarchy of keys/ (callers catch ``KeysError`` or a subclass)."""


class KeysError(Exception):
    """Base class of every error raised by keys/."""


class InvalidSignature(KeysError):
    """A signature did not verify (wrong key, wrong data, wrong uid or malformed)."""


class InvalidKey(KeysError):
    """Key material could not be parsed or is not acceptable (off-curve, wrong algorithm...)."""


class DecryptionError(KeysError):
    """Ciphertext was malformed or failed its integrity check (SM2 C3, GCM tag)."""


class BackendUnavailable(KeysError):
    """The requested SM2 backend cannot be loaded on this machine."""

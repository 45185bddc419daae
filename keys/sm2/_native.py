"""Native SM2 backend: the operating system's OpenSSL 3 libcrypto, reached through cffi.

Why libcrypto rather than tongsuopy: both run at OpenSSL speed (``make bench`` shows the
figures), but tongsuopy 1.0.1 fixes the user ID to the default, has no SM2 encryption and no
Linux aarch64 wheel, while the OS's libcrypto is maintained by the distribution, exists on
x86_64 and aarch64 (信创) servers, takes any distinguishing ID and does SM2 encryption.

cffi is used in ABI mode (``dlopen``), so nothing is compiled at install time. Calls follow
OpenSSL's SM2(7) manual page: the distinguishing ID is set on an EVP_PKEY_CTX that is attached
to the EVP_MD_CTX before ``EVP_DigestSignInit``.
"""

from __future__ import annotations

import ctypes.util
import threading

from cffi import FFI

from keys.errors import BackendUnavailable, DecryptionError, InvalidKey
from keys.sm2 import curve

_CDEF = """
typedef struct evp_pkey_st EVP_PKEY;
typedef struct evp_pkey_ctx_st EVP_PKEY_CTX;
typedef struct evp_md_ctx_st EVP_MD_CTX;
typedef struct evp_md_st EVP_MD;
typedef struct ossl_lib_ctx_st OSSL_LIB_CTX;

unsigned long OpenSSL_version_num(void);
const char *OpenSSL_version(int type);
unsigned long ERR_get_error(void);
void ERR_clear_error(void);
void ERR_error_string_n(unsigned long e, char *buf, size_t len);
void CRYPTO_free(void *ptr, const char *file, int line);

EVP_PKEY *d2i_AutoPrivateKey(EVP_PKEY **a, const unsigned char **pp, long length);
EVP_PKEY *d2i_PUBKEY(EVP_PKEY **a, const unsigned char **pp, long length);
int i2d_PUBKEY(const EVP_PKEY *a, unsigned char **pp);
int EVP_PKEY_is_a(const EVP_PKEY *pkey, const char *name);
void EVP_PKEY_free(EVP_PKEY *pkey);

const EVP_MD *EVP_sm3(void);
EVP_MD_CTX *EVP_MD_CTX_new(void);
void EVP_MD_CTX_free(EVP_MD_CTX *ctx);
void EVP_MD_CTX_set_pkey_ctx(EVP_MD_CTX *ctx, EVP_PKEY_CTX *pctx);
EVP_PKEY_CTX *EVP_PKEY_CTX_new(EVP_PKEY *pkey, void *e);
void EVP_PKEY_CTX_free(EVP_PKEY_CTX *ctx);
int EVP_PKEY_CTX_set1_id(EVP_PKEY_CTX *ctx, const void *id, int len);
int EVP_DigestSignInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, void *e,
                       EVP_PKEY *pkey);
int EVP_DigestSign(EVP_MD_CTX *ctx, unsigned char *sigret, size_t *siglen,
                   const unsigned char *tbs, size_t tbslen);
int EVP_DigestVerifyInit(EVP_MD_CTX *ctx, EVP_PKEY_CTX **pctx, const EVP_MD *type, void *e,
                         EVP_PKEY *pkey);
int EVP_DigestVerify(EVP_MD_CTX *ctx, const unsigned char *sigret, size_t siglen,
                     const unsigned char *tbs, size_t tbslen);

int EVP_PKEY_encrypt_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_encrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen,
                     const unsigned char *in, size_t inlen);
int EVP_PKEY_decrypt_init(EVP_PKEY_CTX *ctx);
int EVP_PKEY_decrypt(EVP_PKEY_CTX *ctx, unsigned char *out, size_t *outlen,
                     const unsigned char *in, size_t inlen);
"""

_MAX_SIG = 80  # DER SEQUENCE of two 33-byte INTEGERs fits in 72


class _Key:
    """An EVP_PKEY plus, per thread, a ready EVP_MD_CTX for the default ID.

    Creating the two contexts and setting the ID costs a provider fetch in OpenSSL 3.0; like
    `openssl speed`, we keep them and only re-run EVP_DigestSign/VerifyInit per operation.
    Contexts for other IDs are made and freed per call.
    """

    __slots__ = ("__weakref__", "local", "pkey")

    def __init__(self, pkey) -> None:
        self.pkey = pkey
        self.local = threading.local()


def _load_library():
    ffi = FFI()
    ffi.cdef(_CDEF)
    candidates = ["libcrypto.so.3", ctypes.util.find_library("crypto"), "libcrypto.3.dylib"]
    errors = []
    for name in filter(None, candidates):
        try:
            lib = ffi.dlopen(name)
        except OSError as exc:
            errors.append(f"{name}: {exc}")
            continue
        try:
            version = lib.OpenSSL_version_num()
        except AttributeError:
            errors.append(f"{name}: not OpenSSL 1.1+/3")
            continue
        if version < 0x30000000:
            errors.append(f"{name}: OpenSSL {version:#x} is older than 3.0")
            continue
        return ffi, lib
    raise BackendUnavailable("no usable OpenSSL 3 libcrypto: " + "; ".join(errors or ["not found"]))


class NativeBackend:
    """SM2 through libcrypto. Key handles are ``EVP_PKEY*`` freed with their Python owner."""

    name = "native"

    def __init__(self) -> None:
        self._ffi, self._lib = _load_library()
        self._sm3 = self._lib.EVP_sm3()
        self.version = self._ffi.string(self._lib.OpenSSL_version(0)).decode()
        # Self-test: a key must load as an SM2 key and sign/verify with a custom ID.
        d = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
        handle = self.load_private(d, *self.public_point(d))
        sig = self.sign(handle, b"self-test", b"abc")
        if not self.verify(self.load_public(*self.public_point(d)), b"self-test", b"abc", sig):
            raise BackendUnavailable(f"{self.version} failed the SM2 self-test")

    # -- errors ---------------------------------------------------------------------------
    def _error(self) -> str:
        code = self._lib.ERR_get_error()
        self._lib.ERR_clear_error()
        if not code:
            return "unknown OpenSSL error"
        buf = self._ffi.new("char[256]")
        self._lib.ERR_error_string_n(code, buf, 256)
        return self._ffi.string(buf).decode(errors="replace")

    # -- keys -----------------------------------------------------------------------------
    def _owned(self, pkey):
        if pkey == self._ffi.NULL:
            raise InvalidKey(f"OpenSSL refused the SM2 key: {self._error()}")
        if not self._lib.EVP_PKEY_is_a(pkey, b"SM2"):
            self._lib.EVP_PKEY_free(pkey)
            raise InvalidKey("OpenSSL did not load the key as an SM2 key")
        return _Key(self._ffi.gc(pkey, self._lib.EVP_PKEY_free))

    def load_private(self, d: int, x: int, y: int):
        from keys.sm2.encoding import pkcs8_der

        der = pkcs8_der(d, x, y)
        buf = self._ffi.new("unsigned char[]", der)
        pp = self._ffi.new("unsigned char **", buf)
        return self._owned(self._lib.d2i_AutoPrivateKey(self._ffi.NULL, pp, len(der)))

    def load_public(self, x: int, y: int):
        from keys.sm2.encoding import spki_der

        der = spki_der(x, y)
        buf = self._ffi.new("unsigned char[]", der)
        pp = self._ffi.new("unsigned char **", buf)
        return self._owned(self._lib.d2i_PUBKEY(self._ffi.NULL, pp, len(der)))

    def public_point(self, d: int) -> tuple[int, int]:
        """Q = dG, computed by OpenSSL from a private-key-only SEC1 encoding."""
        from keys.sm2.encoding import pkcs8_der

        der = pkcs8_der(d, None, None)
        buf = self._ffi.new("unsigned char[]", der)
        pp = self._ffi.new("unsigned char **", buf)
        pkey = self._owned(self._lib.d2i_AutoPrivateKey(self._ffi.NULL, pp, len(der))).pkey
        out = self._ffi.new("unsigned char **")
        length = self._lib.i2d_PUBKEY(pkey, out)
        if length <= 0:
            raise InvalidKey(f"OpenSSL could not derive the public key: {self._error()}")
        try:
            spki = bytes(self._ffi.buffer(out[0], length))
        finally:
            self._lib.CRYPTO_free(out[0], self._ffi.NULL, 0)  # OPENSSL_free is a macro
        from keys.sm2.encoding import point_from_spki

        return point_from_spki(spki)

    # -- signatures -------------------------------------------------------------------------
    def _new_md_ctx(self, pkey, uid: bytes):
        """A fresh (EVP_MD_CTX, EVP_PKEY_CTX) pair with the SM2 ID set, as in OpenSSL's SM2(7)."""
        lib, ffi = self._lib, self._ffi
        mctx = lib.EVP_MD_CTX_new()
        pctx = lib.EVP_PKEY_CTX_new(pkey, ffi.NULL)
        if mctx == ffi.NULL or pctx == ffi.NULL or lib.EVP_PKEY_CTX_set1_id(pctx, uid, len(uid)) <= 0:
            lib.EVP_MD_CTX_free(mctx)
            lib.EVP_PKEY_CTX_free(pctx)
            raise ValueError(f"OpenSSL could not set up an SM2 context: {self._error()}")
        lib.EVP_MD_CTX_set_pkey_ctx(mctx, pctx)  # does not transfer ownership: free both
        return mctx, pctx

    def _free_md_ctx(self, mctx, pctx) -> None:
        self._lib.EVP_MD_CTX_free(mctx)
        self._lib.EVP_PKEY_CTX_free(pctx)

    def _with_md_ctx(self, key: _Key, uid: bytes, operation):
        if uid == curve.DEFAULT_UID:
            mctx = getattr(key.local, "mctx", None)
            if mctx is None:
                raw_mctx, pctx = self._new_md_ctx(key.pkey, uid)
                mctx = self._ffi.gc(raw_mctx, lambda m, p=pctx: self._free_md_ctx(m, p))
                key.local.mctx = mctx
            return operation(mctx)
        mctx, pctx = self._new_md_ctx(key.pkey, uid)
        try:
            return operation(mctx)
        finally:
            self._free_md_ctx(mctx, pctx)

    def sign(self, key: _Key, uid: bytes, data: bytes) -> bytes:
        lib, ffi = self._lib, self._ffi
        sig = ffi.new("unsigned char[]", _MAX_SIG)
        siglen = ffi.new("size_t *", _MAX_SIG)

        def operation(mctx):
            if (
                lib.EVP_DigestSignInit(mctx, ffi.NULL, self._sm3, ffi.NULL, key.pkey) <= 0
                or lib.EVP_DigestSign(mctx, sig, siglen, data, len(data)) <= 0
            ):
                raise ValueError(f"OpenSSL SM2 signing failed: {self._error()}")
            return ffi.buffer(sig, siglen[0])[:]

        return self._with_md_ctx(key, uid, operation)

    def verify(self, key: _Key, uid: bytes, data: bytes, signature: bytes) -> bool:
        lib, ffi = self._lib, self._ffi

        def operation(mctx):
            if lib.EVP_DigestVerifyInit(mctx, ffi.NULL, self._sm3, ffi.NULL, key.pkey) <= 0:
                raise ValueError(f"OpenSSL SM2 verify init failed: {self._error()}")
            if lib.EVP_DigestVerify(mctx, signature, len(signature), data, len(data)) == 1:
                return True
            lib.ERR_clear_error()
            return False

        return self._with_md_ctx(key, uid, operation)

    # -- encryption -------------------------------------------------------------------------
    def _pkey_op(self, key: _Key, init, op, data: bytes, out_len: int) -> bytes | None:
        lib, ffi = self._lib, self._ffi
        pctx = lib.EVP_PKEY_CTX_new(key.pkey, ffi.NULL)
        if pctx == ffi.NULL:
            raise MemoryError("OpenSSL could not allocate a context")
        try:
            out = ffi.new("unsigned char[]", out_len)
            outlen = ffi.new("size_t *", out_len)
            if init(pctx) <= 0 or op(pctx, out, outlen, data, len(data)) <= 0:
                return None
            return bytes(ffi.buffer(out, outlen[0]))
        finally:
            lib.EVP_PKEY_CTX_free(pctx)

    def encrypt(self, key: _Key, plaintext: bytes) -> bytes:
        """Raw C1C3C2, converted from the DER SM2Cipher that OpenSSL emits."""
        der = self._pkey_op(
            key, self._lib.EVP_PKEY_encrypt_init, self._lib.EVP_PKEY_encrypt,
            plaintext, len(plaintext) + 160,
        )
        if der is None:
            raise ValueError(f"OpenSSL SM2 encryption failed: {self._error()}")
        return curve.cipher_der_to_raw(der)

    def decrypt(self, key: _Key, raw: bytes) -> bytes:
        der = curve.cipher_raw_to_der(raw)
        plain = self._pkey_op(
            key, self._lib.EVP_PKEY_decrypt_init, self._lib.EVP_PKEY_decrypt,
            der, len(der),
        )
        if plain is None:
            self._lib.ERR_clear_error()
            raise DecryptionError("SM2 decryption failed (wrong key or tampered ciphertext)")
        return plain

"""`yitong crypto`: SM2/SM3/SM4 for operators and interop checks. Keys in PEM, signatures DER."""

from __future__ import annotations

import click

from keys.errors import DecryptionError, InvalidKey, InvalidSignature
from keys.sm2 import DEFAULT_UID, SM2PrivateKey, SM2PublicKey
from keys.sm3 import sm3, sm3_file
from keys.sm4 import SM4GCM
from yitong.cli.common import read_input, write_output

_UID_HELP = "SM2 user ID as text [default: 1234567812345678]; prefix with hex: for bytes."


def _uid(value: str | None) -> bytes:
    if value is None:
        return DEFAULT_UID
    if value.startswith("hex:"):
        try:
            return bytes.fromhex(value[4:])
        except ValueError:
            raise click.BadParameter("hex: must be followed by hex digits", param_hint="--uid") from None
    return value.encode()


def _password(path: str | None) -> bytes | None:
    if path is None:
        return None
    return read_input(path).rstrip(b"\r\n")


def _private_key(path: str, password_file: str | None) -> SM2PrivateKey:
    try:
        return SM2PrivateKey.from_pem(read_input(path), password=_password(password_file))
    except InvalidKey as exc:
        raise click.UsageError(f"{path}: {exc}") from None


@click.group()
def crypto() -> None:
    """SM2 signatures and keys, SM3 digests, SM4-GCM encryption."""


@crypto.command("sm2-keygen")
@click.option("--out", required=True, help="Private key file to create (PKCS#8 PEM, mode 0600).")
@click.option("--pub", "pub_out", help="Also write the public key (SubjectPublicKeyInfo PEM) here.")
@click.option("--password-file", help="Encrypt the private key with the password in this file (PBES2).")
def sm2_keygen(out: str, pub_out: str | None, password_file: str | None) -> None:
    """Generate an SM2 key pair."""
    key = SM2PrivateKey.generate()
    write_output(out, key.private_bytes_pem(password=_password(password_file)), private=True, overwrite=False)
    if pub_out:
        write_output(pub_out, key.public_key().public_bytes_pem())


@crypto.command("sm2-pub")
@click.option("--key", "key_path", required=True, help="Private key PEM.")
@click.option("--out", default="-", show_default=True, help="Where to write the public key PEM.")
@click.option("--password-file", help="Password of an encrypted private key.")
def sm2_pub(key_path: str, out: str, password_file: str | None) -> None:
    """Print the public key of an SM2 private key."""
    write_output(out, _private_key(key_path, password_file).public_key().public_bytes_pem())


@crypto.command("sm2-sign")
@click.option("--key", "key_path", required=True, help="Private key PEM.")
@click.option("--in", "in_path", required=True, help="File to sign (- for stdin).")
@click.option("--out", required=True, help="Signature file (DER SEQUENCE{r, s}; - for stdout).")
@click.option("--uid", help=_UID_HELP)
@click.option("--password-file", help="Password of an encrypted private key.")
def sm2_sign(key_path: str, in_path: str, out: str, uid: str | None, password_file: str | None) -> None:
    """Sign a file with SM2-with-SM3: e = SM3(Z ‖ M)."""
    key = _private_key(key_path, password_file)
    write_output(out, key.sign(read_input(in_path), uid=_uid(uid)))


@crypto.command("sm2-verify")
@click.option("--pub", "pub_path", required=True, help="Public key PEM.")
@click.option("--in", "in_path", required=True, help="The signed file (- for stdin).")
@click.option("--sig", "sig_path", required=True, help="Signature file (DER).")
@click.option("--uid", help=_UID_HELP)
def sm2_verify(pub_path: str, in_path: str, sig_path: str, uid: str | None) -> None:
    """Verify an SM2 signature. Exit 0 valid, 1 invalid, 2 unreadable input."""
    try:
        public_key = SM2PublicKey.from_pem(read_input(pub_path))
    except InvalidKey as exc:
        raise click.UsageError(f"{pub_path}: {exc}") from None
    try:
        public_key.verify(read_input(sig_path), read_input(in_path), uid=_uid(uid))
    except InvalidSignature as exc:
        click.echo(f"invalid: {exc}", err=True)
        raise click.exceptions.Exit(1) from None
    click.echo("valid")


@crypto.command("sm3")
@click.argument("files", nargs=-1, required=True)
def sm3_command(files: tuple[str, ...]) -> None:
    """Print the SM3 digest (hex) of each FILE (- for stdin), like sha256sum."""
    for path in files:
        if path == "-":
            digest = sm3(read_input("-"))
        else:
            try:
                digest = sm3_file(path)
            except OSError as exc:
                raise click.UsageError(f"cannot read {path}: {exc.strerror}") from None
        click.echo(digest.hex() if len(files) == 1 else f"{digest.hex()}  {path}")


def _sm4_key(path: str) -> SM4GCM:
    text = read_input(path).strip()
    try:
        return SM4GCM(bytes.fromhex(text.decode("ascii")))
    except (ValueError, UnicodeDecodeError):
        raise click.UsageError(f"{path}: an SM4 key file holds 32 hex digits") from None


@crypto.command("sm4-keygen")
@click.option("--out", required=True, help="Key file to create (32 hex digits, mode 0600).")
def sm4_keygen(out: str) -> None:
    """Generate a random SM4 key."""
    write_output(out, (SM4GCM.generate_key().hex() + "\n").encode(), private=True, overwrite=False)


@crypto.command("sm4-encrypt")
@click.option("--key", "key_path", required=True, help="SM4 key file (32 hex digits).")
@click.option("--in", "in_path", required=True, help="Plaintext file (- for stdin).")
@click.option("--out", required=True, help="Output: 12-byte nonce ‖ ciphertext ‖ 16-byte tag.")
@click.option("--aad", default="", help="Associated data, authenticated but not encrypted.")
def sm4_encrypt(key_path: str, in_path: str, out: str, aad: str) -> None:
    """Encrypt with SM4-GCM under a fresh random nonce."""
    write_output(out, _sm4_key(key_path).seal(read_input(in_path), aad.encode() or None))


@crypto.command("sm4-decrypt")
@click.option("--key", "key_path", required=True, help="SM4 key file (32 hex digits).")
@click.option("--in", "in_path", required=True, help="Input written by sm4-encrypt (- for stdin).")
@click.option("--out", required=True, help="Plaintext file (- for stdout); not written on failure.")
@click.option("--aad", default="", help="The associated data given when encrypting.")
def sm4_decrypt(key_path: str, in_path: str, out: str, aad: str) -> None:
    """Decrypt SM4-GCM; exit 1 without writing anything if the data was tampered with."""
    try:
        plain = _sm4_key(key_path).open(read_input(in_path), aad.encode() or None)
    except DecryptionError as exc:
        click.echo(f"yitong: {exc}", err=True)
        raise click.exceptions.Exit(1) from None
    write_output(out, plain)

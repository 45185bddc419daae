"""`yitong cert-login sign`: what a USB-key driver does for certificate login (no database, no settings)."""

from __future__ import annotations

import sys

import click

from idp.certlogin.certificates import CertLoginError, load_certificate, sign_challenge
from keys.asymmetric import load_private_key
from keys.errors import InvalidKey


@click.group("cert-login")
def cert_login() -> None:
    """Certificate login (loa:4) from the person's side."""


@cert_login.command("sign")
@click.option("--key", "key_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The certificate's private key (PEM or DER PKCS#8; SM2, P-256 or RSA).")
@click.option("--cert", "cert_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The certificate (PEM or DER).")
@click.option("--challenge", required=True, help="The challenge shown on the sign-in page.")
@click.option("--password-stdin", is_flag=True, help="Read the key's password from the first line of stdin.")
def sign(key_path: str, cert_path: str, challenge: str, password_stdin: bool) -> None:
    """Sign the sign-in page's challenge; prints the answer to paste back into the page."""
    password = sys.stdin.readline().rstrip("\r\n").encode() if password_stdin else None
    try:
        with open(key_path, "rb") as handle:
            key = load_private_key(handle.read(), password)
        with open(cert_path, "rb") as handle:
            certificate = load_certificate(handle.read())
    except (InvalidKey, ValueError, TypeError) as exc:
        raise click.UsageError(f"cannot read the key: {exc}") from None
    except CertLoginError as exc:
        raise click.UsageError(exc.en) from None
    if key.public_key().public_bytes_der() != certificate.public_key.dump():
        raise click.UsageError("the key does not belong to the certificate")
    click.echo(sign_challenge(key, certificate.dump(), challenge.strip()))

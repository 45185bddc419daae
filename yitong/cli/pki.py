"""`yitong pki`: certificate authorities, issuance, revocation, CRLs and the trust bundle."""

from __future__ import annotations

import click

from keys.pki.authority import FAMILIES, fingerprint
from keys.pki.certificates import certificate_pem, load_certificate, load_csr
from keys.pki.crl import REASONS, REMOVE_FROM_CRL
from keys.pki.profiles import END_ENTITY_PROFILES
from yitong.cli.common import emit_json, open_home, read_input, write_output


@click.group()
def pki() -> None:
    """Certificate authorities (sm2-*, p256-*), certificates, revocation, CRLs, trust bundle."""


@pki.command("init")
@click.option("--rsa", is_flag=True, help="Also create rsa-root and rsa-issuing (RSA-3072).")
def init(rsa: bool) -> None:
    """Create the CA hierarchy, OCSP responder and TSA certificates if absent; write trust.pem."""
    home = open_home()
    made = home.pki().init((*FAMILIES, "rsa") if rsa else FAMILIES)
    for name in made:
        click.echo(f"created CA {name}")
    click.echo(f"trust bundle: {home.settings.pki_dir / 'trust.pem'}")


@pki.command("issue")
@click.option("--profile", "profile_name", required=True, type=click.Choice(END_ENTITY_PROFILES))
@click.option("--csr", "csr_path", help="PKCS#10 request (PEM or DER); its signature is checked.")
@click.option("--kid", help="Issue for this keystore key instead of a CSR.")
@click.option("--subject", help="Subject, e.g. 'CN=某某有限公司,O=某某有限公司,C=CN,serialNumber=<USCC>' "
                                "(overrides the CSR's).")
@click.option("--ca", help="Issuing CA [default: sm2-issuing or p256-issuing, by the key's algorithm].")
@click.option("--days", type=click.IntRange(1, 3650), help="Validity in days [default: the profile's].")
@click.option("--out", required=True, help="Where to write the certificate (PEM; - for stdout).")
@click.option("--json", "as_json", is_flag=True, help="Print {serial, ca, not_after} as JSON.")
def issue(profile_name, csr_path, kid, subject, ca, days, out, as_json) -> None:
    """Issue a certificate from a CSR or for a keystore key."""
    if bool(csr_path) == bool(kid):
        raise click.UsageError("give exactly one of --csr or --kid")
    request = load_csr(read_input(csr_path)) if csr_path else None
    issued = open_home().pki().issue(profile_name, request=request, kid=kid, subject=subject, ca=ca, days=days)
    write_output(out, certificate_pem(issued.certificate))
    if as_json:
        emit_json(issued.as_dict())
    elif out != "-":
        click.echo(f"issued {profile_name} certificate {issued.serial} by {issued.ca}, valid to "
                   f"{issued.not_after.isoformat()}")


@pki.command("revoke")
@click.option("--ca", required=True, help="The CA that issued the certificate.")
@click.argument("serial")
@click.option("--reason", required=True, type=click.Choice([*REASONS, REMOVE_FROM_CRL]),
              help="certificateHold suspends (reversible); removeFromCRL lifts a hold.")
@click.option("--json", "as_json", is_flag=True, help="Print the new status as JSON.")
def revoke(ca: str, serial: str, reason: str, as_json: bool) -> None:
    """Revoke a certificate, put it on hold, or lift a hold. SERIAL is hex (either case)."""
    record = open_home().pki().revoke(ca, serial, reason)
    if as_json:
        emit_json({"serial": record.serial, "ca": record.ca, "status": record.status, "reason": record.reason})
    else:
        click.echo(f"{record.ca} {record.serial}: {record.status}" + (f" ({record.reason})" if record.reason else ""))


@pki.command("crl-refresh")
def crl_refresh() -> None:
    """Regenerate every CA's CRL now (run from cron; CRLs are also renewed lazily)."""
    for ca, number in open_home().pki().refresh_crls().items():
        click.echo(f"{ca}: CRL number {number}")


@pki.command("export-trust")
@click.option("--out", required=True, help="Where to write the trust bundle (PEM; - for stdout).")
def export_trust(out: str) -> None:
    """Copy the trust bundle (root certificates) and print their SHA-256 fingerprints."""
    home = open_home()
    bundle = home.pki().trust_bundle()
    write_output(out, bundle)
    if out != "-":
        from asn1crypto import pem

        for _label, _headers, der in pem.unarmor(bundle, multiple=True):
            certificate = load_certificate(der)
            click.echo(f"{fingerprint(certificate)}  {certificate.subject.human_friendly}")

"""seal/sealing.py: a B-LT seal's CRLs and OCSP response are reused across sealings, never past a
change of the seal certificate's status."""

from __future__ import annotations

from asn1crypto import ocsp

from seal.sealing import sealer_for
from tests.seal.support import ORG_NAME, ORG_USCC


def _status(der: bytes) -> str:
    basic = ocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed
    return basic["tbs_response_data"]["responses"][0]["cert_status"].name


def test_revocation_material_is_reused_until_the_seal_is_suspended(seal_home):
    registry = seal_home.registry
    record = registry.create(holder_kind="org", holder_id=ORG_USCC, holder_name=ORG_NAME, seal_type=4,
                             algorithm="sm2", actor="test", reason="revocation reuse")
    sealer = sealer_for(registry, record.esid)
    crls, ocsps = sealer.revocation()
    assert _status(ocsps[0]) == "good"
    again = sealer_for(registry, record.esid).revocation()  # another request, same seal: the same material
    assert again == (crls, ocsps)

    registry.suspend(record.esid, actor="test", reason="lost")
    _crls, after = sealer.revocation()  # a sealer built before the suspension asks again
    assert after != ocsps
    assert _status(after[0]) == "revoked"  # certificateHold: never the cached "good"

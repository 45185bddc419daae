"""Three sample licence types (licence/samples/*.json) and a stand-in seal for each sample
authority, made when a home is set up (`yitong db upgrade`) so a new user can issue at once.

The authorities and their codes are invented (their USCCs merely pass GB 32100's check
characters); a deployment replaces them with its real catalogue and the authorities' real seals.
"""

from __future__ import annotations

import json
from importlib import resources

from licence.catalogue import Catalogue, CatalogueError
from seal.registry import SealRegistry

SEAL_TYPE = 6  # 公章: the authority's official seal stands in for its licence seal (证照专用章)


def sample_types() -> list[dict]:
    folder = resources.files("licence") / "samples"
    return [json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(folder.iterdir(), key=lambda p: p.name) if path.name.endswith(".json")]


def _authority_seal(seals: SealRegistry, uscc: str, name: str, actor: str) -> str:
    for record in seals.list(holder_kind="org", holder_id=uscc):
        if record.status == "active" and record.type == SEAL_TYPE:
            return record.esid
    record = seals.create(holder_kind="org", holder_id=uscc, holder_name=name, seal_type=SEAL_TYPE,
                          algorithm="sm2", actor=actor, reason="stand-in seal of a sample licence authority")
    return record.esid


def provision_samples(catalogue: Catalogue, seals: SealRegistry, *, actor: str = "system/setup") -> list[str]:
    """Add each sample type that is absent, with its authority's stand-in seal; returns what was made."""
    made = []
    for definition in sample_types():
        try:
            catalogue.get(definition["code"])
            continue
        except CatalogueError:
            pass
        esid = _authority_seal(seals, definition["authority_uscc"], definition["authority_name"], actor)
        catalogue.add({**definition, "esid": esid}, actor=actor, reason="sample licence type")
        made.append(f"licence type {definition['code']} ({definition['name']}, seal {esid})")
    return made

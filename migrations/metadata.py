"""Every room's MetaData, for Alembic and for the schema-drift test."""

import keys.auditchain.models
import keys.pki.models  # noqa: F401  (the PKI tables live in the keystore's MetaData)
from baselib.models import metadata as baselib_metadata
from idp.models import metadata as idp_metadata
from keys.keystore.models import metadata as keys_metadata
from licence.models import metadata as licence_metadata
from seal.models import metadata as seal_metadata

# Each room owns its tables (prefix keys_, idp_, seal_, licence_, baselib_); add its MetaData here.
target_metadata = [keys_metadata, idp_metadata, seal_metadata, licence_metadata, baselib_metadata]

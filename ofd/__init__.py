"""ofd/: OFD (GB/T 33190-2016) documents as bytes in, bytes out — the package format that seal/
seals, verify/ checks and licence/ renders licences into.

May import keys/ (digests, SES and CMS formats) and third-party libraries only; never seal/,
verify/, idp/, licence/, yitong/, Flask or a database. It is a room of its own rather than part of
keys/ because it is a document format (zip container, XML, pages, fonts, images), not
cryptography; seal/ and verify/ both need it and neither may import the other.
"""

from ofd.package import OfdError, OfdLimitError, OfdLimits, OfdPackage

__all__ = ["OfdError", "OfdLimitError", "OfdLimits", "OfdPackage"]

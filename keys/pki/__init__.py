"""PKI in keys/: certificate authorities, profiles, CRLs, OCSP and RFC 3161 time-stamping.

Everything here takes and returns bytes or asn1crypto objects; the HTTP face is yitong/'s
/pki/ blueprint. SM2 certificates are signed SM2-with-SM3 with the standard ID.
"""

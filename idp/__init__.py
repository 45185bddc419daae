"""idp/: the OpenID Connect provider — accounts, real name, assurance levels, MFA, SSO.

May import keys/ (crypto, keystore, runtime) and third-party libraries (Flask, Authlib).
Never seal/, verify/ or yitong/; reaches baselib/ only over HTTP.
"""

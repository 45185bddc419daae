"""idp/: the OpenID Connect provider — accounts, real name, assurance levels, MFA, SSO.

May import keys/ (crypto, keystore, runtime) and third-party libraries (Flask, Authlib).
Never seal/, verify/ or yitong/; reaches baselib/ only over HTTP.

Feature packages, each with its pages and endpoints in one ``routes.py``: oauth/ (protocol),
signin/, accounts/, realname/, agents/, certlogin/, federation/; and identity/, connectors/,
security/ without routes. app.py builds the services (services.py) and registers every blueprint.
"""

"""Passkeys (WebAuthn Level 2, FIDO2) for signing in without a password or as the second factor
(issue 18 item 5), on py_webauthn: ``store.py`` keeps the credentials (idp_passkeys),
``ceremony.py`` runs registration and authentication, ``routes.py`` holds the pages and endpoints.

May import idp.models, idp.services, idp.web, idp.signin.routes (begin a session), keys.storage
and webauthn; nothing imports it but idp.app and other routes modules.
"""

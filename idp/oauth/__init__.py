"""OAuth 2.0 / OpenID Connect: the protocol endpoints (routes.py), Authlib's server and grants
(server.py), tokens, clients and their registration (RFC 7591/7592), consent, pairwise subjects,
PAR, resource indicators, RP-initiated and back-channel logout, and CAS service tickets."""

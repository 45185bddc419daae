"""seal/: seal registry, GB/T 38540 seal making and PDF sealing (an OAuth resource server).

May import keys/ and third-party libraries (Flask, pyhanko). Never idp/ (it trusts the IdP
only through OIDC: JWKS, token claims, introspection), verify/ or yitong/.
"""

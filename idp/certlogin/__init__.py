"""Certificate sign-in (loa:4): the challenge signature and TLS client-certificate checks
(certificates.py); the pages (routes.py) for certificates and for proving an organisation with
its electronic business licence."""

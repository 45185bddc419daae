"""baselib/: reference base-library service (population, legal-person, e-licence stand-ins).

May import keys/ and third-party libraries; owns the baselib_ tables. idp/ reaches it only
over HTTP, as it would reach the real libraries.
"""

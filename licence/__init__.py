"""licence/: electronic licences (电子证照): catalogue, GB/T 36904 identifiers, issuance as sealed
PDF (OFD to follow), the licence library with its lifecycle, batch import, and the licence API.

May import keys/, seal/ (its sealing library: registry, Sealer, seal_pdf, token checks) and ofd/,
and third-party libraries (Flask, SQLAlchemy, segno). Never idp/ (it trusts the IdP through
tokens, as seal/ does), verify/, baselib/ or yitong/.
"""

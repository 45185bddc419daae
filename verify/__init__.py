"""verify/: third-party verification of sealed documents with only the published trust anchors.

May import keys/ and third-party libraries. Never seal/, idp/, yitong/ or a database: a bank
or another province runs it with nothing but our trust bundle.
"""

"""Real name (issue 5): natural persons at /account/realname (persons.py) and organisations —
legal persons registered by their legal representative — at /account/organisations
(organisations.py). Importing this package registers both pages on the IdP blueprint."""

from idp.realname import organisations, persons
from idp.realname.persons import ATTEMPTS, WINDOW

__all__ = ["ATTEMPTS", "WINDOW", "organisations", "persons"]

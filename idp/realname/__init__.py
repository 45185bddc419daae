"""Real name (issue 5): natural persons at /account/realname (persons.py) and organisations —
legal persons registered by their legal representative — at /account/organisations
(organisations.py); strong real name (loa:3: bank-card 4-factor or carrier 3-factor) at
/account/realname/strong (strong.py). Importing this package registers the pages on the IdP blueprint."""

from idp.realname import organisations, persons, strong
from idp.realname.persons import ATTEMPTS, WINDOW

__all__ = ["ATTEMPTS", "WINDOW", "organisations", "persons", "strong"]

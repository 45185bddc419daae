"""Real name (issue 5): natural persons (persons.py) and organisations — legal persons registered by
their legal representative — (organisations.py); strong real name (loa:3: bank-card 4-factor or
carrier 3-factor, strong.py). Their pages: routes.py."""

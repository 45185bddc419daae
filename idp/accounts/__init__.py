"""People's accounts: the account store (store.py), SSO sessions, the account lifecycle (export,
deletion), SMS one-time codes; their pages (routes.py): sign-up, password reset, phone change,
my data, and the account console at /account."""

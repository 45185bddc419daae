"""The admin REST API's access rule (operator roles, 三员分立) and its users, audit and operators
resources at /admin/api/v1 (clients stay in idp/oauth/routes.py). Imports idp/ and keys/ only;
seals are managed through seal/'s own API, never from here."""

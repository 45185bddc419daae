"""Agents (经办人) acting for an organisation: the rules (store.py) and their pages (routes.py):
/account/agents and the organisation chooser of /authorize (scope ``org``)."""

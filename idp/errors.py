"""The one exception root of idp/: every refusal idp/ raises is an ``IdpError`` (callers catch it or a
subclass: ``AccountError``, ``AgentError``, ``ClientError``, ``CertLoginError``, ...). The OAuth
protocol errors stay Authlib's ``OAuth2Error`` subclasses (Authlib renders them as RFC 6749 error
JSON). Imports nothing of the project, so every idp/ module may use it."""

from __future__ import annotations


class IdpError(Exception):
    """Base class of every error raised by idp/ (other than Authlib's protocol errors)."""

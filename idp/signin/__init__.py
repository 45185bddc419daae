"""Signing in (routes.py): the password sign-in page with CAPTCHA and throttling, the second
factor, TOTP enrolment, and starting the SSO session other sign-in methods reuse."""

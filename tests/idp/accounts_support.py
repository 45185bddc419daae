"""Helpers for the self-service tests (sign-up, reset, phone change, privacy): forms through the real
app, the CAPTCHA answered by fixing its random code, SMS codes read from the real outbox file."""

from __future__ import annotations

import html
import json

import pytest

from idp.security import captcha

CAPTCHA = "AB2CD"


@pytest.fixture
def known_captcha(monkeypatch) -> str:
    """Fix the CAPTCHA's random code (the picture, token and check stay the real ones)."""
    monkeypatch.setattr(captcha, "_new_code", lambda: CAPTCHA)
    return CAPTCHA


def field(page: str, name: str) -> str:
    return html.unescape(page.split(f'name="{name}" value="')[1].split('"')[0])


def outbox(idp) -> list[dict]:
    path = idp.app.config["YITONG_SETTINGS"].sms_outbox
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def ask_code(web, start: str, post: str, phone: str, *, ip: str = "198.51.100.7", answer: str = CAPTCHA,
             **extra):
    """Open ``start`` (a page with the phone + CAPTCHA form) and post it to ``post``."""
    page = web.get(start, environ_base={"REMOTE_ADDR": ip}).get_data(as_text=True)
    form = {"csrf": field(page, "csrf"), "phone": phone, "captcha_token": field(page, "captcha_token"),
            "captcha_answer": answer, **extra}
    if 'name="return_to"' in page:
        form.setdefault("return_to", field(page, "return_to"))
    return web.post(post, data=form, environ_base={"REMOTE_ADDR": ip})


def last_code(idp, phone: str) -> str:
    sent = [m for m in outbox(idp) if m["to"] == phone and m.get("code")]
    assert sent, f"no code was sent to {phone}"
    return sent[-1]["code"]


def csrf_of(response) -> str:
    return field(response.get_data(as_text=True), "csrf")

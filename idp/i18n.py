"""Page language: Simplified Chinese by default, English by Accept-Language or the page's switch.

The choice, in order: ``?lang=zh-CN|en`` (the switch link on every page; remembered in the
``yitong_lang`` cookie), that cookie, then the browser's Accept-Language (``en`` when English is
preferred over Chinese), else zh-CN. Texts live next to their use as ``t("中文", "English")``
pairs, in templates and in Python alike: two languages do not need a catalogue.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import g, request

LANGUAGES = ("zh-CN", "en")
COOKIE = "yitong_lang"
_YEAR = 365 * 24 * 3600


def language() -> str:
    cached = g.get("yitong_lang")
    if cached:
        return cached
    chosen = request.args.get("lang")
    if chosen not in LANGUAGES:
        chosen = request.cookies.get(COOKIE)
    if chosen not in LANGUAGES:
        best = request.accept_languages.best_match(["zh-CN", "zh", "en"], default="zh-CN")
        chosen = "en" if best == "en" else "zh-CN"
    g.yitong_lang = chosen
    return chosen


def t(zh: str, en: str) -> str:
    return en if language() == "en" else zh


def switch_url() -> str:
    """This page in the other language (same path and query, ``lang`` replaced); GET pages only."""
    other = "zh-CN" if language() == "en" else "en"
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "lang"] + [("lang", other)]
    return f"{request.path}?{urlencode(query)}"


def remember_choice(response, *, secure: bool):
    """after_request: keep an explicit ``?lang=`` choice in a cookie (Secure when the issuer is https)."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=_YEAR, httponly=True, samesite="Lax", secure=secure)
    return response


def template_globals() -> dict:
    return {"t": t, "lang": language(), "switch_url": switch_url}

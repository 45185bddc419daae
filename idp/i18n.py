"""Page language: Simplified Chinese by default, English by Accept-Language or the page's switch.

The choice, in order: ``?lang=zh-CN|en`` (the switch link on every page; remembered in the
``yitong_lang`` cookie), that cookie, then the browser's Accept-Language (``en`` when English is
preferred over Chinese), else zh-CN. Texts live next to their use as ``t("中文", "English")``
pairs, in templates and in Python alike: two languages do not need a catalogue.

The elder-friendly (适老化) large-text mode is chosen the same way (issue 18 item 7): ``?elder=1``
or ``?elder=0`` (the switch on every page), remembered in the ``yitong_elder`` cookie.
"""

from __future__ import annotations

from urllib.parse import urlencode

from flask import g, request

LANGUAGES = ("zh-CN", "en")
COOKIE = "yitong_lang"
ELDER_COOKIE = "yitong_elder"
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


def elder_mode() -> bool:
    """The large-text mode: ``?elder=1|0`` on this request, else the remembered choice."""
    chosen = request.args.get("elder")
    if chosen in ("0", "1"):
        return chosen == "1"
    return request.cookies.get(ELDER_COOKIE) == "1"


def elder_switch_url() -> str:
    """This page with the large-text mode switched (same path and query, ``elder`` replaced)."""
    query = [(k, v) for k, v in request.args.items(multi=True) if k != "elder"]
    query.append(("elder", "0" if elder_mode() else "1"))
    return f"{request.path}?{urlencode(query)}"


def remember_choice(response, *, secure: bool):
    """after_request: keep an explicit ``?lang=`` or ``?elder=`` choice in a cookie (Secure with an https issuer)."""
    chosen = request.args.get("lang")
    if chosen in LANGUAGES and request.cookies.get(COOKIE) != chosen:
        response.set_cookie(COOKIE, chosen, max_age=_YEAR, httponly=True, samesite="Lax", secure=secure)
    elder = request.args.get("elder")
    if elder in ("0", "1") and request.cookies.get(ELDER_COOKIE, "0") != elder:
        response.set_cookie(ELDER_COOKIE, elder, max_age=_YEAR, httponly=True, samesite="Lax", secure=secure)
    return response


def template_globals() -> dict:
    return {"t": t, "lang": language(), "switch_url": switch_url, "elder": elder_mode(),
            "elder_switch_url": elder_switch_url}

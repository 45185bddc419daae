"""Error pages for people, problem details for programs (issue 18, item 2).

One mechanism for every HTTP error of the app (yitong/app.py's error handlers): a request whose
Accept prefers ``text/html`` (a browser) gets the IdP's error page (idp/templates/idp/error.html)
in the page's language, inside the site frame, with what happened, what to do (the wait of a 429,
the request id of a 500) and a way back; anything else keeps RFC 7807 problem+json.
"""

from __future__ import annotations

import secrets

from flask import g, render_template, request
from werkzeug.exceptions import HTTPException

from idp.i18n import t
from keys import observe


def wants_html() -> bool:
    """The client prefers an HTML page to JSON: browsers name ``text/html`` (Chromium's navigation
    Accept also lists ``application/signed-exchange;v=b3``, which Werkzeug's ``best`` would pick), APIs
    name JSON, and curl's ``*/*`` likes both alike, so it gets JSON."""
    accept = request.accept_mimetypes
    return accept["text/html"] > max(accept["application/json"], accept["application/problem+json"])


def request_id() -> str:
    """This request's id: the one yitong/observability.py gave it (in X-Request-Id, the access log and
    every log line), else — outside that middleware — the client's X-Request-Id or a new one."""
    given = observe.request_id()
    if given:
        return given
    if "request_id" not in g:
        g.request_id = request.headers.get("X-Request-Id", "")[:64] or secrets.token_hex(8)
    return g.request_id


def _texts(exc: HTTPException) -> tuple[str, str]:
    code = exc.code
    if code == 404:
        return t("页面不存在", "Page not found"), t("您要找的页面不存在或已移走，请检查地址。",
                                                    "The page does not exist or has moved; check the address.")
    if code == 403:
        return t("无权访问", "Not allowed"), t("您没有访问此页面的权限。如需办理，请先登录或联系管理员。",
                                               "You may not open this page. Sign in, or ask the site's administrator.")
    if code == 405:
        return t("无法这样打开此页面", "This page cannot be opened this way"), \
            t("请从网站的链接或按钮进入此页面。", "Open this page through the site's links and buttons.")
    if code == 413:
        return t("文件太大", "File too large"), t("上传的文件超过了大小限制。", "The file is larger than allowed.")
    if code in (429, 503):
        wait = getattr(exc, "retry_after", None)
        seconds = int(wait.total_seconds()) if hasattr(wait, "total_seconds") else wait
        title = t("操作过于频繁", "Too many requests") if code == 429 else t("服务暂时不可用", "Briefly unavailable")
        if seconds:
            return title, t(f"请等待 {seconds} 秒后再试。", f"Please wait {seconds} seconds and try again.")
        return title, t("请稍后再试。", "Please try again in a moment.")
    return t("请求无法完成", "The request cannot be completed"), t("请返回上一页重试。", "Go back and try again.")


def http_error_page(exc: HTTPException) -> str:
    title, detail = _texts(exc)
    return render_template("idp/error.html", title=title, detail=detail, technical=f"HTTP {exc.code}",
                           back_href="/", back_label=t("返回首页", "Back to the home page"))


def internal_error_page(request_id: str) -> str:
    return render_template(
        "idp/error.html", title=t("服务器出错了", "Something went wrong on our side"),
        detail=t("这不是您的问题。错误已记录，请稍后再试；如需咨询，请提供下面的请求编号。",
                 "This is not your fault. The error is logged; try again later, and quote the request id "
                 "below if you ask for help."),
        technical=t(f"请求编号 {request_id}", f"Request id {request_id}"),
        back_href="/", back_label=t("返回首页", "Back to the home page"))

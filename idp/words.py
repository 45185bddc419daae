"""Plain words for what a citizen reads on our pages (issue 18, item 1): assurance levels and
sign-in methods as names with what each allows, times in the deployment's time zone in one
format, and OAuth error codes as a sentence with a next step.

Every page takes these through the Jinja filters :func:`install` registers (``level_name``,
``level_allows``, ``methods``, ``local_time``), so a level or a time reads the same everywhere.
Imports only idp.acr and idp.i18n (texts are ``t("中文", "English")`` pairs like the rest).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import Flask, current_app

from idp.acr import LOA_1, LOA_2, LOA_3, LOA_4
from idp.i18n import t

DEFAULT_TIME_ZONE = "Asia/Shanghai"
TIME_ZONE_KEY = "YITONG_TIME_ZONE"  # app.config: the IANA name yitong/app.py takes from the settings
TIME_FORMAT = "%Y-%m-%d %H:%M"
DATE_FORMAT = "%Y-%m-%d"


@dataclass(frozen=True)
class Words:
    zh: str
    en: str

    def __str__(self) -> str:
        return t(self.zh, self.en)


LEVEL_NAMES = {
    LOA_1: Words("基础账号", "Basic account"),
    LOA_2: Words("实名认证", "Real-name account"),
    LOA_3: Words("强实名", "Strong real name"),
    LOA_4: Words("数字证书", "Digital certificate"),
}
LEVEL_ALLOWS = {
    LOA_1: Words("已验证手机号，可办理无需实名的事项（如查询、咨询）。",
                 "Mobile number checked: services that need no real name (enquiries, information)."),
    LOA_2: Words("姓名与身份证号已与人口库核对，可办理大多数需要实名的事项。",
                 "Name and ID number matched in the population library: most services that need your real name."),
    LOA_3: Words("已通过银行卡或手机号运营商核验，登录时使用两步验证，可办理涉及资金、证照等重要事项。",
                 "Checked with your bank card or mobile operator and signed in with a second step: "
                 "important services (payments, licences)."),
    LOA_4: Words("使用数字证书登录，可办理要求最高安全等级的事项（如电子签章）。",
                 "Signed in with a digital certificate: services that need the highest level (e.g. electronic seals)."),
}
# RFC 8176 authentication method references, as the person knows them.
METHOD_NAMES = {
    "pwd": Words("密码", "password"),
    "sms": Words("短信验证码", "text-message code"),
    "otp": Words("动态验证码", "authenticator app code"),
    "kba": Words("恢复码", "recovery code"),
    "pop": Words("数字证书", "digital certificate"),
    "fed": Words("国家政务服务平台", "national government-service platform"),
    "hwk": Words("通行密钥", "passkey"),
    "swk": Words("通行密钥", "passkey"),
    "user": Words("本人确认", "user presence"),
    "mfa": Words("两步验证", "two-step verification"),
}


def level_name(acr: str | None) -> str:
    words = LEVEL_NAMES.get(acr or "")
    return str(words) if words else t("未知等级", "unknown level")


def level_allows(acr: str | None) -> str:
    words = LEVEL_ALLOWS.get(acr or "")
    return str(words) if words else ""


def methods(amr) -> str:
    """``["pwd", "otp"]`` → 密码 + 动态验证码 (unknown references are left out, "mfa" when others say more)."""
    names = [str(METHOD_NAMES[m]) for m in (amr or ()) if m in METHOD_NAMES and not (m == "mfa" and len(amr) > 1)]
    return " + ".join(dict.fromkeys(names)) or t("未知方式", "unknown method")


def time_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get(TIME_ZONE_KEY) or DEFAULT_TIME_ZONE)


def check_time_zone(name: str) -> str:
    """The IANA name if this system knows it, else ValueError (for the settings' one-line message)."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r} (an IANA name such as Asia/Shanghai)") from None
    return name


def local_time(value: datetime | date | int | float | str | None, with_time: bool = True) -> str:
    """One format for every time a person reads: ``2026-12-05 10:17`` in the deployment's zone.
    Naive datetimes are UTC (what the stores keep); ints are Unix seconds; ISO strings are parsed."""
    if value is None or value == "":
        return "—"
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, int | float):
        value = datetime.fromtimestamp(value, UTC)
    if not isinstance(value, datetime):  # a date has no zone
        return value.strftime(DATE_FORMAT)
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    local = value.astimezone(time_zone())
    return local.strftime(TIME_FORMAT if with_time else DATE_FORMAT)


def local_date(value) -> str:
    return local_time(value, with_time=False)


def time_zone_label() -> str:
    """What the times on a page are in, said once (e.g. 北京时间 for Asia/Shanghai)."""
    name = time_zone().key
    if name in ("Asia/Shanghai", "Asia/Chongqing", "Asia/Harbin", "PRC"):
        return t("北京时间", "China Standard Time")
    return name


def install(app: Flask) -> None:
    app.jinja_env.filters.update(level_name=level_name, level_allows=level_allows, methods=methods,
                                 local_time=local_time, local_date=local_date)
    app.jinja_env.globals.update(time_zone_label=time_zone_label)


# -- OAuth errors on pages (RFC 6749 §4.1.2.1: errors that cannot go back to the client) ----------------
OAUTH_ERRORS = {
    "invalid_request": Words("业务系统发来的登录请求不完整或有误。",
                             "The service sent a sign-in request that is incomplete or wrong."),
    "invalid_request_uri": Words("登录请求已过期或已使用过。", "The sign-in request has expired or was already used."),
    "invalid_request_object": Words("业务系统发来的登录请求无法核验。",
                                    "The service's sign-in request could not be checked."),
    "invalid_client": Words("该业务系统未在本平台登记。", "This service is not registered with us."),
    "unauthorized_client": Words("该业务系统无权使用这种登录方式。", "This service may not sign you in this way."),
    "invalid_redirect_uri": Words("业务系统的返回地址未登记，为保护您的账号，无法返回。",
                                  "The service's return address is not registered; to protect your account "
                                  "we cannot send you there."),
    "invalid_scope": Words("业务系统请求了未获准的信息。", "The service asked for information it is not allowed."),
    "unsupported_response_type": Words("业务系统使用了本平台不支持的登录方式。",
                                       "The service uses a sign-in method we do not support."),
    "access_denied": Words("您拒绝了授权。", "You declined."),
    "login_required": Words("您需要先登录。", "You need to sign in first."),
    "invalid_target": Words("业务系统请求了未知的资源。", "The service asked for an unknown resource."),
}
NEXT_STEP = Words("请返回业务系统重新开始；如果问题仍然存在，请联系该业务系统。",
                  "Go back to the service and start again; if it happens again, contact that service.")


def oauth_error_words(code: str) -> str:
    words = OAUTH_ERRORS.get(code) or Words("业务系统发来的登录请求有误。", "The service's sign-in request is wrong.")
    return str(words)

"""A deployment's own look (issue 18, items 1 and 4): site name, logo, colour, time zone and the
footer a Chinese government website must carry, from ``YITONG_SITE_*`` settings.

Templates of every room read it as the Jinja global ``site`` (installed by yitong/app.py), so
idp/ and verify/ need not import yitong/. The footer items follow the government-website
specification (国务院办公厅《政府网站发展指引》, 2017): the organiser (主办单位), contact, the ICP
filing number (ICP备案号), the public-security filing number (公安机关备案号) and the government
website identification code (政府网站标识码); each appears only when set.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

LOGO_MAX_BYTES = 64 * 1024  # a logo is a small mark, not a photograph
LOGO_TYPES = {b"\x89PNG\r\n\x1a\n": "image/png", b"\xff\xd8\xff": "image/jpeg"}
DEFAULT_COLOUR = "#b71c1c"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


class LookError(ValueError):
    """A YITONG_SITE_* value an operator must fix (the settings turn it into SettingsError)."""


@dataclass(frozen=True)
class SiteLook:
    name_zh: str = "一通 统一身份认证平台"
    name_en: str = "Yitong unified sign-in"
    colour: str = DEFAULT_COLOUR
    logo: bytes | None = None
    logo_type: str | None = None
    time_zone: str = "Asia/Shanghai"
    organiser: str | None = None  # 主办单位
    contact: str | None = None  # 联系方式 (address, e-mail)
    hotline: str | None = None  # 服务热线: shown next to the CAPTCHA and on error pages when set
    icp_filing: str | None = None  # e.g. 津ICP备12345678号
    psb_filing: str | None = None  # e.g. 津公网安备 12010102000001号
    gov_site_code: str | None = None  # 政府网站标识码, 10 characters

    @property
    def has_footer(self) -> bool:
        return any((self.organiser, self.contact, self.hotline, self.icp_filing, self.psb_filing,
                    self.gov_site_code))

    @classmethod
    def from_env(cls, env) -> SiteLook:
        def text(name: str, limit: int = 120) -> str | None:
            value = (env.get(name) or "").strip()
            if len(value) > limit:
                raise LookError(f"{name} is longer than {limit} characters")
            return value or None

        colour = (env.get("YITONG_SITE_COLOUR") or DEFAULT_COLOUR).strip()
        if not _COLOUR.match(colour):
            raise LookError(f"YITONG_SITE_COLOUR must be a colour like #b71c1c; got {colour!r}")
        zone = (env.get("YITONG_TIME_ZONE") or "Asia/Shanghai").strip()
        try:
            ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError):
            raise LookError(f"YITONG_TIME_ZONE: unknown time zone {zone!r} (an IANA name such as Asia/Shanghai)") \
                from None
        code = text("YITONG_SITE_GOV_CODE", 10)
        if code and not re.fullmatch(r"[0-9A-Za-z]{10}", code):
            raise LookError("YITONG_SITE_GOV_CODE is the 10-character government website identification code")
        logo, logo_type = _logo(env.get("YITONG_SITE_LOGO"))
        name_zh = text("YITONG_SITE_NAME", 40)
        # A deployment that names itself only in Chinese keeps that name on English pages too.
        name_en = text("YITONG_SITE_NAME_EN", 60) or name_zh
        return cls(name_zh=name_zh or cls.name_zh, name_en=name_en or cls.name_en,
                   colour=colour, logo=logo, logo_type=logo_type, time_zone=zone,
                   organiser=text("YITONG_SITE_ORGANISER"), contact=text("YITONG_SITE_CONTACT"),
                   hotline=text("YITONG_SITE_HOTLINE", 30), icp_filing=text("YITONG_SITE_ICP"),
                   psb_filing=text("YITONG_SITE_PSB"), gov_site_code=code)


def image_type(data: bytes) -> str | None:
    """PNG or JPEG by their magic numbers (never SVG: a script could ride in it)."""
    return next((kind for magic, kind in LOGO_TYPES.items() if data.startswith(magic)), None)


def _logo(path: str | None) -> tuple[bytes | None, str | None]:
    if not path:
        return None, None
    try:
        data = Path(path).expanduser().read_bytes()
    except OSError as exc:
        raise LookError(f"YITONG_SITE_LOGO: cannot read {path}: {exc.strerror}") from None
    if len(data) > LOGO_MAX_BYTES:
        raise LookError(f"YITONG_SITE_LOGO is {len(data)} bytes; at most {LOGO_MAX_BYTES} (a PNG or JPEG mark)")
    kind = image_type(data)
    if kind is None:
        raise LookError("YITONG_SITE_LOGO must be a PNG or JPEG file")
    return data, kind

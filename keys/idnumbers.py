"""Identity numbers: resident ID (GB 11643-1999), USCC (GB 32100-2015 with GB 11714), mobile.

idp/ (real name) and licence/ (holders of licences) both check with these.

Each check answers with the normalised value and what it found, or raises
:class:`IdentifierError` with a machine code and a message in Chinese and English. These are
local plausibility checks that run before any base library is asked; the library decides
whether the identity exists.

What "plausible" means for a resident ID here (DESIGN.md, "Identity numbers"):

- 18 characters after normalisation (NFKC, so full-width digits are read; spaces removed; a
  lower-case ``x`` read as ``X``): 17 digits and a check character ``0-9`` or ``X``. The
  15-digit first-generation numbers (replaced by 2013) are refused.
- Check character: S = Σ aᵢ·Wᵢ with W = 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2; the check is
  "10X98765432"[S mod 11].
- Address code (digits 1–6): the first two digits must name a province-level division of GB/T
  2260 (:data:`PROVINCES`: 11–15, 21–23, 31–37, 41–46, 50–54, 61–65, and 71 Taiwan), or be one
  of the residence-permit codes for residents of Hong Kong, Macao and Taiwan, which are exactly
  810000, 820000 and 830000 (港澳台居民居住证, 2018). Beyond the province we deliberately do NOT
  consult a county table: counties are re-coded every year while old cards keep their old codes,
  so a table wrongly refuses real people as it goes stale. The population library decides.
- Birth date (digits 7–14): a real calendar date, not before :data:`EARLIEST_BIRTH` and not
  after today in China Standard Time (UTC+8).
- Sequence (digits 15–17): any; odd = male, even = female.

USCC: 18 characters of the GB 32100 alphabet ``0123456789ABCDEFGHJKLMNPQRTUWXY`` (no I O S V Z),
digits 3–8 a region code (digits). Two checksums: the USCC check character (weights 1 3 9 27
19 26 16 17 20 29 25 13 8 24 10 30 28, C = (31 − Σ mod 31) mod 31) and the GB 11714
organisation code in characters 9–17 (weights 3 7 9 10 5 8 4 2, C = 11 − Σ mod 11, 10 → X,
11 → 0). Real pilot-period codes fail the mod-31 check (e.g. 91350100M0001TGQXM), so checksum
failures are WARNINGS for the legal-person library to decide, never a local refusal.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

CHINA_TIME = timezone(timedelta(hours=8), "CST")
EARLIEST_BIRTH = date(1890, 1, 1)

RESIDENT_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
RESIDENT_CHECK = "10X98765432"
# GB/T 2260 province-level divisions (first two digits of an address code).
PROVINCES = {
    "11": "北京", "12": "天津", "13": "河北", "14": "山西", "15": "内蒙古",
    "21": "辽宁", "22": "吉林", "23": "黑龙江",
    "31": "上海", "32": "江苏", "33": "浙江", "34": "安徽", "35": "福建", "36": "江西", "37": "山东",
    "41": "河南", "42": "湖北", "43": "湖南", "44": "广东", "45": "广西", "46": "海南",
    "50": "重庆", "51": "四川", "52": "贵州", "53": "云南", "54": "西藏",
    "61": "陕西", "62": "甘肃", "63": "青海", "64": "宁夏", "65": "新疆",
    "71": "台湾",
}
# Residence permits for residents of Hong Kong, Macao and Taiwan: fixed address codes.
PERMIT_REGIONS = {"810000": "hk", "820000": "mo", "830000": "tw"}

USCC_ALPHABET = "0123456789ABCDEFGHJKLMNPQRTUWXY"
USCC_WEIGHTS = (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
ORG_CODE_WEIGHTS = (3, 7, 9, 10, 5, 8, 4, 2)

MOBILE = re.compile(r"^1[3-9]\d{9}$")


class IdentifierError(ValueError):
    """A number that cannot be what it claims to be; ``code`` is stable, the messages are for people."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.code = code
        self.zh = zh
        self.en = en


@dataclass(frozen=True)
class ResidentId:
    number: str  # normalised: 17 digits + check character
    kind: str  # "resident" (mainland), or "hk" / "mo" / "tw" residence permit
    birth_date: date
    sex: str  # "male" (odd sequence) or "female"
    address_code: str

    @property
    def masked(self) -> str:
        return mask_id_number(self.number)


@dataclass(frozen=True)
class UsccWarning:
    code: str  # "uscc_checksum" or "org_code_checksum"
    zh: str
    en: str


@dataclass(frozen=True)
class Uscc:
    code: str  # normalised
    warnings: tuple[UsccWarning, ...]

    @property
    def checksums_ok(self) -> bool:
        return not self.warnings

    @property
    def registration_authority(self) -> str:
        return self.code[0]

    @property
    def entity_type(self) -> str:
        return self.code[1]

    @property
    def region_code(self) -> str:
        return self.code[2:8]

    @property
    def organisation_code(self) -> str:
        return self.code[8:17]


def normalise(text: str) -> str:
    """NFKC (full-width → ASCII), drop spaces and hyphens, upper-case."""
    folded = unicodedata.normalize("NFKC", text or "")
    return re.sub(r"[\s\-]", "", folded).upper()


# -- resident ID (GB 11643-1999) ------------------------------------------------------------------------
def resident_check_character(body: str) -> str:
    """The check character for the first 17 digits."""
    total = sum(int(digit) * weight for digit, weight in zip(body, RESIDENT_WEIGHTS, strict=True))
    return RESIDENT_CHECK[total % 11]


def china_today() -> date:
    return datetime.now(CHINA_TIME).date()


def check_resident_id(text: str, *, today: date | None = None) -> ResidentId:
    number = normalise(text)
    if not number:
        raise IdentifierError("id_empty", "请输入身份证号码", "Enter the ID number")
    if len(number) == 15 and number.isdigit():
        raise IdentifierError("id_first_generation", "不支持15位旧身份证号码，请输入18位号码",
                              "15-digit first-generation numbers are not accepted; enter the 18-character number")
    if len(number) != 18:
        raise IdentifierError("id_length", "身份证号码应为18位", "An ID number has 18 characters")
    if not number[:17].isascii() or not number[:17].isdigit() or number[17] not in "0123456789X":
        raise IdentifierError("id_format", "身份证号码前17位应为数字，最后一位为数字或X",
                              "An ID number is 17 digits followed by a digit or X")
    if resident_check_character(number[:17]) != number[17]:
        raise IdentifierError("id_checksum", "身份证号码校验位不正确，请核对",
                              "The ID number's check character is wrong; please check the number")
    address = number[:6]
    if address in PERMIT_REGIONS:
        kind = PERMIT_REGIONS[address]
    elif address[:2] in PROVINCES:
        kind = "resident"
    else:
        raise IdentifierError("id_address", "身份证号码的地址码不正确",
                              "The ID number's address code (first 6 digits) names no province")
    try:
        born = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        raise IdentifierError("id_birth_date", "身份证号码中的出生日期不存在",
                              "The ID number's birth date (digits 7-14) is not a real date") from None
    if born > (today or china_today()):
        raise IdentifierError("id_birth_future", "身份证号码中的出生日期晚于今天",
                              "The ID number's birth date is in the future")
    if born < EARLIEST_BIRTH:
        raise IdentifierError("id_birth_date", "身份证号码中的出生日期不合理",
                              f"The ID number's birth date is before {EARLIEST_BIRTH.isoformat()}")
    sex = "male" if int(number[14:17]) % 2 else "female"
    return ResidentId(number, kind, born, sex, address)


# -- USCC (GB 32100-2015) and the organisation code inside it (GB 11714) --------------------------------------
def uscc_check_character(body: str) -> str:
    total = sum(USCC_ALPHABET.index(ch) * weight for ch, weight in zip(body, USCC_WEIGHTS, strict=True))
    return USCC_ALPHABET[(31 - total % 31) % 31]


def org_code_check_character(body: str) -> str:
    """GB 11714 check for 8 characters (digits 0–9, letters A=10 … Z=35)."""
    total = sum((int(ch) if ch.isdigit() else ord(ch) - 55) * weight
                for ch, weight in zip(body, ORG_CODE_WEIGHTS, strict=True))
    check = 11 - total % 11
    return {10: "X", 11: "0"}.get(check, str(check))


def check_uscc(text: str) -> Uscc:
    code = normalise(text)
    if not code:
        raise IdentifierError("uscc_empty", "请输入统一社会信用代码", "Enter the unified social credit code")
    if len(code) != 18:
        raise IdentifierError("uscc_length", "统一社会信用代码应为18位",
                              "A unified social credit code has 18 characters")
    bad = sorted({ch for ch in code if ch not in USCC_ALPHABET})
    if bad:
        raise IdentifierError("uscc_format", f"统一社会信用代码含有不允许的字符：{''.join(bad)}",
                              f"A unified social credit code cannot contain {''.join(bad)} "
                              "(letters I, O, S, V and Z are never used)")
    if not code[2:8].isdigit():
        raise IdentifierError("uscc_region", "统一社会信用代码第3-8位应为行政区划码（数字）",
                              "Characters 3-8 of a unified social credit code are a region code (digits)")
    warnings = []
    if uscc_check_character(code[:17]) != code[17]:
        warnings.append(UsccWarning("uscc_checksum", "校验位不符合 GB 32100（部分试点期代码如此，以法人库核验为准）",
                                    "The check character does not satisfy GB 32100 (some pilot-period codes do "
                                    "not; the legal-person library decides)"))
    if org_code_check_character(code[8:16]) != code[16]:
        warnings.append(UsccWarning("org_code_checksum",
                                    "第9-17位组织机构代码校验位不符合 GB 11714（以法人库核验为准）",
                                    "The organisation code in characters 9-17 fails the GB 11714 check (the "
                                    "legal-person library decides)"))
    return Uscc(code, tuple(warnings))


# -- mobile numbers ------------------------------------------------------------------------------------------
def check_mobile(text: str) -> str:
    number = normalise(text)
    if number.startswith("+86"):
        number = number[3:]
    if not MOBILE.match(number):
        raise IdentifierError("mobile_format", "请输入11位大陆手机号码",
                              "Enter an 11-digit mainland mobile number (starting 13-19)")
    return number


# -- display ------------------------------------------------------------------------------------------------------
def mask_phone(phone: str | None) -> str:
    """The one way a mobile number is shown: 138****8000 (empty for anything but 11 characters)."""
    return f"{phone[:3]}****{phone[-4:]}" if phone and len(phone) == 11 else ""


def mask_name(name: str) -> str:
    """The one way a person's name is shown: 张三 → 张*, 欧阳娜娜 → 欧**娜.

    The first character and (from three characters) the last stay."""
    if len(name) <= 1:
        return name
    if len(name) == 2:
        return name[0] + "*"
    return name[0] + "*" * (len(name) - 2) + name[-1]


def mask_id_number(value: str | None) -> str:
    """The one way an ID number (or USCC) is shown: 110101********1234.

    18 characters keep the 6-character address code and the last 4; other lengths keep at most
    a third at the front and a sixth at the back, so a short value never shows most of itself.
    """
    text = normalise(value or "")
    n = len(text)
    if n == 0:
        return ""
    head, tail = (6, 4) if n >= 18 else (n // 3, n // 6)
    return text[:head] + "*" * (n - head - tail) + (text[n - tail:] if tail else "")

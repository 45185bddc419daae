"""Human renderings of reports: a terminal summary and a printable, self-contained HTML page.

The HTML shows the seal picture and a thumbnail of the page with a box where the seal sits: PDF
pages through poppler's ``pdftoppm`` (without it the thumbnail is omitted and the page says so),
OFD pages through ofd/render.py (Pillow, in process, within a time budget; what it does not draw is
listed there). Only Jinja2 is needed (no Flask app), and no external assets are referenced.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

from jinja2 import Environment, PackageLoader, select_autoescape

from keys.budget import BudgetExceeded, time_budget
from verify import report as r

THUMBNAIL_WIDTH = 360
THUMBNAIL_SECONDS = 10

_env = Environment(loader=PackageLoader("verify", "templates"), autoescape=select_autoescape(["html"]),
                   trim_blocks=True, lstrip_blocks=True)

LABELS = {
    r.TOTAL_PASSED: ("验证通过", "Passed"),
    r.TOTAL_FAILED: ("验证失败", "Failed"),
    r.INDETERMINATE: ("无法确定", "Indeterminate"),
}
# The verdict first, in one sentence a clerk acts on (issue 18 item 8).
VERDICTS = {
    r.TOTAL_PASSED: ("本文件上的印章真实有效，盖章后文件未被改动。",
                     "The seals on this document are genuine and it has not been changed since it was sealed."),
    r.TOTAL_FAILED: ("本文件的印章无效，请勿采信本文件。",
                     "A seal on this document is invalid: do not rely on this document."),
    r.INDETERMINATE: ("暂时无法确认本文件的印章是否有效，请勿仅凭本文件办理。",
                      "Whether the seals on this document are valid cannot be confirmed now: do not rely on it alone."),
}
# Why, in both languages, by ETSI EN 319 102-1 sub-indication.
REASONS = {
    "FORMAT_FAILURE": ("文件格式有误或被篡改，无法按标准读取签章。", "The file is malformed or tampered with."),
    "HASH_FAILURE": ("盖章后文件内容被改动过。", "The document was changed after it was sealed."),
    "SIG_CRYPTO_FAILURE": ("签名值不正确，签章是伪造的或已损坏。", "The signature does not match: forged or damaged."),
    "REVOKED": ("印章证书已被吊销或挂失。", "The seal's certificate has been revoked or suspended."),
    "REVOKED_NO_POE": ("印章证书已被吊销，且无法证明盖章发生在吊销之前。",
                       "The certificate was revoked and nothing proves the seal was applied before that."),
    "EXPIRED": ("盖章时印章证书已过期。", "The seal's certificate had expired when it was applied."),
    "NOT_YET_VALID": ("盖章时印章证书尚未生效。", "The seal's certificate was not yet valid when it was applied."),
    "NO_CERTIFICATE_CHAIN_FOUND": ("印章证书不是由受信任的机构颁发的。",
                                   "The seal's certificate was not issued by a trusted authority."),
    "CERTIFICATE_CHAIN_GENERAL_FAILURE": ("印章证书链无法核验。", "The seal's certificate chain cannot be checked."),
    "CHAIN_CONSTRAINTS_FAILURE": ("印章证书不符合使用要求。", "The certificate does not meet the rules for its use."),
    "OUT_OF_BOUNDS_NO_POE": ("无法证明盖章时证书仍在有效期内。",
                             "Nothing proves the certificate was valid when the seal was applied."),
    "TRY_LATER": ("暂时无法取得证书状态，请稍后再试。", "The certificate status cannot be fetched now; try later."),
    "NO_SIGNING_CERTIFICATE_FOUND": ("文件中没有印章证书。", "The document carries no seal certificate."),
    "SIG_CONSTRAINTS_FAILURE": ("签章不符合验证策略。", "The seal does not meet the verification policy."),
    "POLICY_PROCESSING_ERROR": ("验证过程出错。", "The verification could not be completed."),
    "GENERIC": ("签章未通过检查。", "The seal did not pass a check."),
}
# A licence that fails on its own (the seal may be intact): by (step, sub-indication).
LICENCE_VERDICT = ("本电子证照无效，请勿采信。", "This electronic licence is not valid: do not rely on it.")
LICENCE_REASONS = {
    ("licence_status", "REVOKED"): ("颁发机构已吊销、注销或更新本证照：印章完好，但证照已不再有效。",
                                    "The issuer has revoked or replaced this licence: its seal is intact, the licence "
                                    "is no longer in force."),
    ("licence_status", "EXPIRED"): ("本证照已过有效期。", "This licence has expired."),
    ("licence_status", "TRY_LATER"): ("暂时无法向颁发机构核实证照的当前状态。",
                                      "The licence's current status cannot be had from its issuer now."),
    ("licence_identifier", "FORMAT_FAILURE"): ("证照标识的校验位不正确，证照信息可能被篡改。",
                                               "The licence identifier's check character is wrong: the licence "
                                               "data may have been tampered with."),
    ("licence_metadata", "FORMAT_FAILURE"): ("盖章后证照信息被改动过。",
                                             "The licence data was changed after the licence was sealed."),
}
MARKS = {r.TOTAL_FAILED: ("无效", "INVALID"), r.INDETERMINATE: ("无法确认", "UNCONFIRMED")}
DEFAULT_TIME_ZONE = "Asia/Shanghai"


def local_time(value, zone: str) -> str:
    """An ISO time of a report in ``zone`` as 2026-12-05 10:17 (the reports themselves keep UTC)."""
    if not value:
        return ""
    try:
        moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return str(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def pdftoppm() -> str | None:
    return shutil.which("pdftoppm")


def thumbnail(data: bytes, page: int) -> bytes | None:
    """A PNG of page ``page`` (0-based), THUMBNAIL_WIDTH px wide, or None (no pdftoppm, or it failed)."""
    tool = pdftoppm()
    if tool is None or page is None or page < 0:
        return None
    with tempfile.TemporaryDirectory(prefix="yitong-verify-") as tmp:
        source = Path(tmp) / "in.pdf"
        source.write_bytes(data)
        target = Path(tmp) / "page"
        # prlimit bounds memory and CPU of the renderer (hostile PDFs); no preexec_fn in threaded servers.
        limit = shutil.which("prlimit")
        prefix = [limit, "--as=1073741824", f"--cpu={THUMBNAIL_SECONDS}", "--"] if limit else []
        try:
            subprocess.run([*prefix, tool, "-q", "-f", str(page + 1), "-l", str(page + 1), "-png", "-singlefile",
                            "-scale-to-x", str(THUMBNAIL_WIDTH), "-scale-to-y", "-1", str(source), str(target)],
                           check=True, timeout=THUMBNAIL_SECONDS, capture_output=True)
        except (subprocess.SubprocessError, OSError):
            return None
        png = target.with_suffix(".png")
        return png.read_bytes() if png.is_file() else None


def ofd_thumbnail(data: bytes, page: int) -> bytes | None:
    """A PNG of OFD page ``page`` (0-based), THUMBNAIL_WIDTH px wide, stamps drawn; None if it cannot be drawn."""
    from ofd.render import render_page

    try:
        with time_budget(THUMBNAIL_SECONDS, "the page thumbnail"):
            return render_page(data, page, THUMBNAIL_WIDTH, stamps=True)
    except BudgetExceeded:
        return None
    except Exception:  # a hostile page is a missing picture, never a failed report
        return None


def seal_box(widget: dict | None) -> dict | None:
    """The widget rectangle as CSS percentages of the page (origin top-left), or None."""
    if not widget or not widget.get("page_box") or not widget.get("rect"):
        return None
    x0, y0, x1, y1 = widget["page_box"]
    width, height = x1 - x0, y1 - y0
    if width <= 0 or height <= 0:
        return None
    left, bottom, right, top = widget["rect"]
    left, right = sorted((left, right))
    bottom, top = sorted((bottom, top))
    return {"left": 100 * (left - x0) / width, "top": 100 * (y1 - top) / height,
            "width": max(1.0, 100 * (right - left) / width), "height": max(1.0, 100 * (top - bottom) / height)}


def _views(reports: list[r.Report], documents: dict[str, bytes] | None, thumbnails: bool,
           zone: str = DEFAULT_TIME_ZONE) -> list[dict]:
    views = []
    drawn: dict[tuple[str, str, int], bytes | None] = {}  # two seals on one page: the page is drawn once
    for report in reports:
        data = report.as_dict()
        data["verdict"] = VERDICTS[data["indication"]]
        data["reason"] = REASONS.get(data.get("sub_indication") or "", REASONS["GENERIC"]) \
            if data["indication"] != r.TOTAL_PASSED else None
        data["local_validation_time"] = local_time(data.get("validation_time"), zone)
        licence_failure = next((s for s in data["document_steps"] if not s["passed"]
                                and s["name"].startswith("licence_")), None)
        if licence_failure and data["sub_indication"] == licence_failure["sub_indication"]:
            data["reason"] = LICENCE_REASONS.get((licence_failure["name"], licence_failure["sub_indication"]),
                                                 data["reason"])
            if data["indication"] == r.TOTAL_FAILED:
                data["verdict"] = LICENCE_VERDICT
        for sig, sig_report in zip(data["signatures"], report.signatures, strict=True):
            sig["mark"] = MARKS.get(sig["indication"])
            sig["reason"] = REASONS.get(sig.get("sub_indication") or "", REASONS["GENERIC"]) if sig["mark"] else None
            if sig.get("signing_time"):
                sig["signing_time"]["local"] = local_time(sig["signing_time"].get("time"), zone)
            if sig.get("seal"):  # the seal's validity in the same zone and format as every other time
                sig["seal"]["valid_local"] = (local_time(sig["seal"].get("valid_start"), zone),
                                              local_time(sig["seal"].get("valid_end"), zone))
            sig["box"] = seal_box(sig_report.widget)
            sig["thumbnail"] = None
            if thumbnails and documents and report.format in ("pdf", "ofd") and sig_report.widget \
                    and sig_report.widget.get("page") is not None:
                draw = ofd_thumbnail if report.format == "ofd" else thumbnail
                key = (report.file, report.sha256, sig_report.widget["page"])
                if key not in drawn:
                    drawn[key] = draw(documents.get(report.file, b""), sig_report.widget["page"])
                png = drawn[key]
                if png:
                    sig["thumbnail"] = "data:image/png;base64," + base64.b64encode(png).decode()
        data["label"] = LABELS[data["indication"]]
        views.append(data)
    return views


def html(reports: list[r.Report], documents: dict[str, bytes] | None = None, *, thumbnails: bool = True,
         standalone: bool = True, time_zone: str | None = None) -> str:
    """The reports as one HTML page (``standalone``) or as a fragment for the /verify/ page; times in
    ``time_zone`` (else YITONG_TIME_ZONE, else Asia/Shanghai)."""
    zone = time_zone or os.environ.get("YITONG_TIME_ZONE") or DEFAULT_TIME_ZONE
    template = _env.get_template("verify/report.html")
    return template.render(files=_views(reports, documents, thumbnails, zone), standalone=standalone,
                           thumbnails_possible=thumbnails and pdftoppm() is not None, schema=r.SCHEMA,
                           zone_label="北京时间 China Standard Time" if zone == DEFAULT_TIME_ZONE else zone)


def summary(report: r.Report) -> str:
    """A few lines for the terminal."""
    indication, sub = report.indication
    zh, en = LABELS[indication]
    lines = [f"{report.file}: {indication}{' / ' + sub if sub else ''} ({zh})"]
    if report.licence:
        lic = report.licence
        lines.append(f"  licence {lic['licence_id']} ({lic['type']['name']}) check character {lic['check_character']}"
                     f"; holder {lic['holder']['name']}; valid {lic['validity']['from']} to {lic['validity']['to']}"
                     f"; status {lic['status'] or 'not checked'}")
    for step in report.document_steps:
        if not step.passed:
            lines.append(f"  document: {step.name} failed: {step.reason}")
    for sig in report.signatures:
        ind, sub = sig.indication
        who = ""
        if sig.signer:
            who = sig.signer.get("organisation") or sig.signer.get("person") or sig.signer.get("common_name") or ""
            if sig.signer.get("uscc"):
                who += f" (USCC {sig.signer['uscc']})"
        lines.append(f"  {sig.kind} {sig.name}: {ind}{' / ' + sub if sub else ''}{' — ' + who if who else ''}")
        if sig.seal:
            lines.append(f"    seal {sig.seal.get('es_id')} \"{sig.seal.get('name')}\" (V{sig.seal.get('version')})")
        if sig.signing_time:
            lines.append(f"    signed {sig.signing_time.get('time')} [{sig.signing_time.get('source')}]")
        for step in sig.steps:
            if not step.passed:
                lines.append(f"    {step.name}: {step.sub_indication}: {step.reason}")
        for warning in sig.warnings:
            lines.append(f"    warning: {warning}")
        for deviation in sig.deviations:
            lines.append(f"    vendor deviation {deviation['name']} ({deviation.get('check')}): {deviation['what']}")
    del en
    return "\n".join(lines)

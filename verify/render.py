"""Human renderings of reports: a terminal summary and a printable, self-contained HTML page.

The HTML shows the seal picture and a thumbnail of the page with a box where the seal sits: PDF
pages through poppler's ``pdftoppm`` (without it the thumbnail is omitted and the page says so),
OFD pages through ofd/render.py (Pillow, in process, within a time budget; what it does not draw is
listed there). Only Jinja2 is needed (no Flask app), and no external assets are referenced.
"""

from __future__ import annotations

import base64
import shutil
import subprocess
import tempfile
from pathlib import Path

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


def _views(reports: list[r.Report], documents: dict[str, bytes] | None, thumbnails: bool) -> list[dict]:
    views = []
    drawn: dict[tuple[str, str, int], bytes | None] = {}  # two seals on one page: the page is drawn once
    for report in reports:
        data = report.as_dict()
        for sig, sig_report in zip(data["signatures"], report.signatures, strict=True):
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
         standalone: bool = True) -> str:
    """The reports as one HTML page (``standalone``) or as a fragment for the /verify/ page."""
    template = _env.get_template("verify/report.html")
    return template.render(files=_views(reports, documents, thumbnails), standalone=standalone,
                           thumbnails_possible=thumbnails and pdftoppm() is not None, schema=r.SCHEMA)


def summary(report: r.Report) -> str:
    """A few lines for the terminal."""
    indication, sub = report.indication
    zh, en = LABELS[indication]
    lines = [f"{report.file}: {indication}{' / ' + sub if sub else ''} ({zh})"]
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

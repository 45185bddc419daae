"""The holder's wallet (我的证照) at /licences/wallet and showing a licence (亮证), issue 15 item 5.

It lives in yitong/ for the console's reason: it is a client of the IdP (an OIDC public client
with PKCE, through yitong/oidc_signin.py, so a person already signed in passes straight
through) and a reader of licence/'s library, and neither room imports the other. The holder is
matched by the ID number the IdP asserts in ``verified_claims`` (the wallet's client may receive
``id_number``); a person without real name is told how to get it. A person who acts for an
organisation (idp/agents: its legal representative, or an active agent whose mandate names the
``licence`` role or every service) also sees, downloads and shows that organisation's licences
(holder kind organisation, holder id = its USCC), one section per organisation. The agent
relation is looked up in-process at every request, here in the composition root (licence/ never
imports idp/), so a revoked or expired agent loses access at once. The clerk's scan page
(/licences/show?c=<code>) needs no sign-in: the code is the permission, for minutes.
"""

from __future__ import annotations

import base64
import io
import json
import secrets
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

import segno
from flask import Blueprint, abort, current_app, make_response, redirect, render_template, request, session, url_for
from sqlalchemy.exc import IntegrityError

from idp.agents.store import ALL, LICENCE_ROLE, REPRESENTATIVE_ROLES
from idp.assurance import ID_NUMBER_CLAIM
from idp.i18n import t
from idp.oauth.clients import ClientRegistry, build_metadata
from idp.services import EXTENSION as IDP
from keys.idnumbers import mask_id_number
from licence.display import mask_face
from licence.library import Licence, LicenceError, LicenceLibrary
from licence.showing import FACE, SHOWING_MINUTES, ShowingRefused, Showings, default_items
from ofd.package import OfdError
from ofd.render import render_page
from yitong import oidc_signin

WALLET_CLIENT_ID = "yitong-wallet"
SCOPE = "openid verified_claims"
FACE_WIDTH = 900  # pixels: sharp on a phone, small enough to send
MANDATES = frozenset({ALL, LICENCE_ROLE, *REPRESENTATIVE_ROLES})  # roles that reach an organisation's licences

bp = Blueprint("wallet", __name__)


def provision_wallet_client(home) -> list[str]:
    """Register the wallet as a public client (PKCE) that may receive the ID number (`yitong db upgrade`)."""
    clients = ClientRegistry(home.engine, home.keystore().secret("client-secret-pepper"))
    if clients.get(WALLET_CLIENT_ID) is not None:
        return []
    metadata = build_metadata(redirect_uris=[f"{home.settings.issuer}/licences/wallet/callback"],
                              grant_types=["authorization_code"], scope=SCOPE, token_endpoint_auth_method=None,
                              public=True, release=["verified_claims", "id_number"])
    try:
        clients.create("我的证照 Licence wallet", metadata, client_id=WALLET_CLIENT_ID)
    except IntegrityError:
        return []
    return [f"client {WALLET_CLIENT_ID}"]


def _library() -> LicenceLibrary:
    return current_app.extensions["yitong.licence"]["library"]()


def _showings() -> Showings:
    state = current_app.extensions["yitong.licence"]
    if "showings" not in state:
        home = current_app.extensions["yitong.home"]
        state["showings"] = Showings(home.engine, home.keystore().secret("licence-showing", 32),
                                     audit_chain=home.audit_chain())
    return state["showings"]


# -- sign-in -------------------------------------------------------------------------------------------
def _callback_uri() -> str:
    return f"{oidc_signin.issuer()}/licences/wallet/callback"


def _person() -> dict | None:
    """{sub, name, id_number} from the IdP's userinfo with the wallet's token, or None (sign in again)."""
    token = session.get("wallet_token")
    if not token or oidc_signin.token_claims(token).get("exp", 0) < time.time() + 5:
        return None
    status, body = oidc_signin.transport()(f"{oidc_signin.issuer()}/userinfo", None,
                                           {"Authorization": f"Bearer {token}"})
    if status != 200:
        return None
    info = json.loads(body)
    claims = (info.get("verified_claims") or {}).get("claims") or {}
    return {"sub": info["sub"], "name": claims.get("name"), "id_number": claims.get(ID_NUMBER_CLAIM)}


def _sign_in():
    session["wallet_next"] = request.full_path if request.method == "GET" else url_for("wallet.home")
    return oidc_signin.start("wallet_flow", client_id=WALLET_CLIENT_ID, redirect_uri=_callback_uri(), scope=SCOPE)


@bp.get("/licences/wallet/callback")
def callback():
    answer, _, why = oidc_signin.finish("wallet_flow", client_id=WALLET_CLIENT_ID, redirect_uri=_callback_uri())
    if why == "expired":
        return _message(t("登录已失效，请重新打开我的证照。", "The sign-in expired; open the wallet again."), 400)
    if why and why.startswith("refused:"):
        return _message(t("未能登录：", "Not signed in: ") + why.split(":", 1)[1], 403)
    if why:
        return _message(t("令牌交换失败，请稍后再试。", "The token exchange failed; try again later."), 502)
    session["wallet_token"] = answer["access_token"]
    session["wallet_csrf"] = secrets.token_urlsafe(16)
    target = session.pop("wallet_next", None) or url_for("wallet.home")
    return redirect(target if target.startswith("/licences/wallet") else url_for("wallet.home"))


def _message(text: str, status: int):
    return make_response(render_template("wallet/message.html", text=text), status)


def _signed_in_holder():
    """(person, None) or (None, a response: sign in, or the page telling how to get real name)."""
    person = _person()
    if person is None:
        return None, _sign_in()
    if not person["id_number"]:
        return None, make_response(render_template("wallet/no_realname.html"), 200)
    return person, None


def _organisations(person: dict) -> dict[str, str]:
    """USCC → name of the organisations whose licences this person may use now (asked at every request)."""
    agents = current_app.extensions[IDP].agents
    return {acting.organisation.uscc: acting.organisation.name for acting in agents.acting_options(person["sub"])
            if MANDATES.intersection(acting.roles)}


def _may_use(person: dict, licence: Licence) -> bool:
    if licence.holder_kind == "person":
        return licence.holder_id == person["id_number"]
    return licence.holder_kind == "org" and licence.holder_id in _organisations(person)


def _own(person: dict, licence_id: str) -> Licence:
    try:
        licence = _library().get(licence_id)
    except LicenceError:
        abort(404)
    if not _may_use(person, licence):
        abort(404)  # a licence this person may not use does not exist, as far as they can tell
    return licence


def _check_csrf() -> None:
    expected = session.get("wallet_csrf")
    if not expected or not secrets.compare_digest(request.form.get("csrf", ""), expected):
        abort(_message(t("表单已失效，请返回重试。", "The form expired; go back and try again."), 400))


# -- the wallet -----------------------------------------------------------------------------------------
@bp.get("/licences/wallet")
def home():
    person, answer = _signed_in_holder()
    if answer is not None:
        return answer
    library = _library()
    own = [lic for lic in library.list(holder_id=person["id_number"]) if lic.holder_kind == "person"]
    sections = [{"uscc": None, "name": person["name"], "licences": own}]
    for uscc, name in _organisations(person).items():
        held = [lic for lic in library.list(holder_id=uscc) if lic.holder_kind == "org"]
        sections.append({"uscc": uscc, "name": name, "licences": held})
    licences = [lic for section in sections for lic in section["licences"]]
    names = {}
    for lic in licences:
        kind = library.catalogue.get(lic.type_code)
        names[lic.type_code] = (kind.name, kind.name_en or kind.name)
    uses = _showings().uses([lic.licence_id for lic in licences], limit=50)
    numbers = {lic.licence_id: lic.number for lic in licences}
    clients = {}  # the departments that used a licence through the sharing service, by name
    for client_id in {use["client_id"] for use in uses if use["client_id"]}:
        client = current_app.extensions["yitong.idp"].clients.get(client_id)
        clients[client_id] = client.name if client else client_id
    return render_template("wallet/home.html", sections=sections, names=names, uses=uses, numbers=numbers,
                           clients=clients,
                           holder_name=person["name"], holder_id=mask_id_number(person["id_number"]))


@bp.get("/licences/wallet/<licence_id>/face.png")
def face(licence_id: str):
    person, answer = _signed_in_holder()
    if answer is not None:
        abort(401)
    licence = _own(person, licence_id)
    return _face_png(licence)


def _face_png(licence: Licence):
    """The face as people see it: drawn from the sealed file, the ID number and sensitive items masked."""
    library = _library()
    _, data = library.file(licence.licence_id)
    png = render_face(licence.format, data)
    if png is None:
        abort(503)
    png = mask_face(png, library.catalogue.get(licence.type_code), licence)
    return png, 200, {"Content-Type": "image/png", "Cache-Control": "private, no-store"}


def render_face(fmt: str, data: bytes) -> bytes | None:
    """The licence's first page as PNG: ofd/render.py for OFD, poppler's pdftoppm for PDF (None if it
    cannot be drawn here: no pdftoppm, or the renderer failed; the page shows the rest)."""
    try:
        return _render(fmt, data)
    except (OfdError, OSError, subprocess.SubprocessError) as exc:
        current_app.logger.warning("licence face not rendered: %s", type(exc).__name__)
        return None


def _render(fmt: str, data: bytes) -> bytes | None:
    if fmt == "ofd":
        return render_page(data, 0, FACE_WIDTH)
    tool = shutil.which("pdftoppm")
    if tool is None:
        return None
    with tempfile.TemporaryDirectory() as folder:
        source = Path(folder) / "licence.pdf"
        source.write_bytes(data)
        subprocess.run([tool, "-png", "-singlefile", "-f", "1", "-l", "1", "-scale-to-x", str(FACE_WIDTH),
                        "-scale-to-y", "-1", str(source), str(Path(folder) / "face")], check=True, timeout=30,
                       capture_output=True)
        return (Path(folder) / "face.png").read_bytes()


@bp.get("/licences/wallet/<licence_id>/file")
def download(licence_id: str):
    person, answer = _signed_in_holder()
    if answer is not None:
        return answer
    licence = _own(person, licence_id)
    _, data = _library().file(licence.licence_id)
    kind = "application/ofd" if licence.format == "ofd" else "application/pdf"
    return data, 200, {"Content-Type": kind, "Cache-Control": "private, no-store",
                       "Content-Disposition": f'attachment; filename="{licence.number}.{licence.format}"'}


# -- showing (亮证) -------------------------------------------------------------------------------------
@bp.get("/licences/wallet/<licence_id>/show")
def choose(licence_id: str):
    person, answer = _signed_in_holder()
    if answer is not None:
        return answer
    licence = _own(person, licence_id)
    kind = _library().catalogue.get(licence.type_code)
    return render_template("wallet/choose.html", licence=licence, kind=kind, chosen=default_items(kind), face=FACE,
                           csrf=session.get("wallet_csrf"), minutes=SHOWING_MINUTES)


@bp.post("/licences/wallet/<licence_id>/show")
def show(licence_id: str):
    person, answer = _signed_in_holder()
    if answer is not None:
        return answer
    _check_csrf()
    licence = _own(person, licence_id)
    if licence.status != "valid":
        return _message(t("只有有效的证照可以出示。", "Only a valid licence can be shown."), 409)
    kind = _library().catalogue.get(licence.type_code)
    showing = _showings().show(licence.licence_id, kind, holder_sub=person["sub"], items=request.form.getlist("item"))
    # The code travels in the query, which the access log redacts (yitong/accesslog.py), never in the path.
    url = f"{oidc_signin.issuer()}/licences/show?{urlencode({'c': showing.token})}"
    buffer = io.BytesIO()
    segno.make(url, error="m").save(buffer, kind="png", scale=8, border=3)
    qr = "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode()
    return render_template("wallet/showing.html", licence=licence, kind=kind, showing=showing, url=url, qr=qr,
                           minutes=SHOWING_MINUTES)


@bp.get("/licences/show")
def scanned():
    """The clerk's page: the face, the items the holder allowed, the live status."""
    token = request.args.get("c", "")
    try:
        showing = _showings().open(token, viewer=request.headers.get("User-Agent", ""))
    except ShowingRefused as exc:
        return render_template("wallet/scan_refused.html", text=str(exc), kind=exc.kind), 410 if \
            exc.kind == "expired" else 400
    library = _library()
    licence = library.get(showing.licence_id)
    kind = library.catalogue.get(licence.type_code)
    items = [(i, licence.data.get(i.name)) for i in kind.items if i.name in showing.items and i.name in licence.data]
    return render_template("wallet/scan.html", licence=licence, kind=kind, items=items, showing=showing,
                           token=token, face=FACE in showing.items,
                           holder_id=mask_id_number(licence.holder_id),
                           status=library.status(licence.licence_id)["status"])


@bp.get("/licences/show/face.png")
def scanned_face():
    """The face for the clerk's page, while the code is valid (not recorded again as a view)."""
    token = request.args.get("c", "")
    showings = _showings()
    try:
        showing = showings.peek(token)
    except ShowingRefused:
        abort(404)
    if FACE not in showing.items:
        abort(404)
    return _face_png(_library().get(showing.licence_id))

"""`yitong org agents` and `yitong org revoke-agent` as an operator runs them."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from idp.accounts.store import Accounts
from idp.agents.store import Agents
from idp.identity import Identities, Organisations
from keys.storage import utcnow
from tests.baselib.server import COMPANY, LI, ZHANG
from tests.helpers import run_yitong
from yitong.home import Home
from yitong.settings import Settings

PASSWORD = b"Tianjin-2026-correct\n"


@pytest.fixture
def env(upgraded_home):
    return upgraded_home.env


def test_an_operator_lists_an_organisations_agents_and_revokes_one(env):
    subs = {}
    for username in ("zhangsan", "lisi"):
        made = run_yitong(["user", "create", "--username", username, "--password-stdin", "--json"], env, input=PASSWORD)
        subs[username] = json.loads(made.stdout)["sub"]
    home = Home(Settings.from_env(env))
    try:  # real names, the organisation and an accepted agent, through the IdP's own services
        identities, accounts = Identities(home.engine, home.keystore()), Accounts(home.engine)
        for username, who in (("zhangsan", ZHANG), ("lisi", LI)):
            identities.bind(subs[username], id_type="resident", name=who[0], id_number=who[1],
                            trust_framework="test", evidence={})
            accounts.set_level(subs[username], "urn:yitong:loa:2")
        organisations = Organisations(home.engine)
        organisations.register(uscc=COMPANY[1], name=COMPANY[0], legal_representative_sub=subs["zhangsan"],
                               acr="urn:yitong:loa:2", uscc_warnings=[], trust_framework="test", evidence={})
        agents = Agents(home.engine, organisations, identities)
        agent = agents.grant(actor=subs["zhangsan"], uscc=COMPANY[1], login="lisi", roles=["seal_keeper"],
                             expires_at=utcnow() + timedelta(days=10))
        agents.decide(actor=subs["lisi"], agent_id=agent.agent_id, accept=True)
    finally:
        home.engine.dispose()

    listed = run_yitong(["org", "agents", COMPANY[1].lower(), "--json"], env)
    assert listed.returncode == 0, listed.stderr
    shown = json.loads(listed.stdout)
    assert (shown["uscc"], shown["legal_representative_sub"]) == (COMPANY[1], subs["zhangsan"])
    assert [(a["agent_id"], a["agent_sub"], a["state"], a["roles"]) for a in shown["agents"]] == [
        (agent.agent_id, subs["lisi"], "active", ["seal_keeper"])]
    revoked = run_yitong(["org", "revoke-agent", agent.agent_id, "--reason", "written request"], env)
    assert revoked.returncode == 0, revoked.stderr
    text = run_yitong(["org", "agents", COMPANY[1]], env).stdout.decode()
    assert f"{agent.agent_id}  revoked" in text
    tail = [json.loads(line) for line in run_yitong(["audit", "tail", "--json"], env).stdout.splitlines()]
    [event] = [e for e in tail if e["event"] == "agent.revoked"]
    assert event["detail"]["reason"] == "written request" and event["detail"]["uscc"] == COMPANY[1]
    again = run_yitong(["org", "revoke-agent", agent.agent_id, "--reason", "x"], env)
    assert again.returncode == 2 and b"already ended" in again.stderr
    assert run_yitong(["org", "agents", "9111"], env).returncode == 2
    unknown = run_yitong(["org", "agents", "91350100M0001TGQXM"], env)
    assert unknown.returncode == 2 and b"no registered organisation" in unknown.stderr

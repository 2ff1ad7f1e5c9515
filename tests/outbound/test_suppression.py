"""`mailgate suppression list | show | lift`: what is suppressed, why, and lifting it with a named
person's authority; opt-outs are also lifted by granting consent again, bounces never are."""

from __future__ import annotations

import json

from sqlalchemy import update

from mailgate import suppression
from mailgate.store.models import Suppression
from tests.mail import PATIENT, Gateway, reply

ALEX = "alex.river@example.net"


def _bounce(gateway: Gateway, address: str) -> None:
    app = gateway.app
    with app.session() as session:
        for _ in range(app.settings.ingest.hard_bounce_limit):
            suppression.record_hard_bounce(
                app, session, address, app.settings.ingest.hard_bounce_limit
            )


def test_list_show_and_lift(gateway: Gateway) -> None:
    inst = gateway.instance
    assert json.loads(inst.ok("suppression", "list", "--json")) == []
    gateway.deliver(reply("STOP"))
    _bounce(gateway, ALEX)
    listed = json.loads(inst.ok("suppression", "list", "--json"))
    assert sorted((item["address"], item["reason"]) for item in listed) == [
        (ALEX, "hard_bounce"),
        (PATIENT, "opt_out"),
    ]
    table = inst.ok("suppression", "list")
    assert "opt_out" in table and PATIENT in table
    shown = json.loads(inst.ok("suppression", "show", ALEX, "--json"))
    assert (shown["suppressed"], shown["hard_bounces"]) == (True, 3)
    # Lifting names who authorised it; the bounce count starts again.
    usage = inst.cli("suppression", "lift", ALEX)
    assert usage.exit_code == 2
    assert inst.ok("suppression", "lift", ALEX, "--by", "dr.okafor@clinic.example").startswith(
        "suppression lifted (hard_bounce)"
    )
    shown = json.loads(inst.ok("suppression", "show", ALEX, "--json"))
    assert (shown["suppressed"], shown["hard_bounces"], shown["lifted_by"]) == (
        False,
        0,
        "dr.okafor@clinic.example",
    )
    assert [i["address"] for i in json.loads(inst.ok("suppression", "list", "--json"))] == [PATIENT]
    again = inst.cli("suppression", "lift", ALEX, "--by", "dr.okafor@clinic.example")
    assert again.exit_code == 1 and again.stderr == "Error: that address is not suppressed\n"
    unknown = inst.cli("suppression", "show", "nobody@example.org")
    assert unknown.exit_code == 1 and "nobody" not in unknown.stderr
    # Alex can be sent to again.
    inst.ok("consent", "grant", ALEX, "--purpose", "checkins")
    inst.ok("send", "checkin", "--patient", ALEX)


def test_granting_consent_lifts_an_opt_out_but_not_a_bounce(gateway: Gateway) -> None:
    inst = gateway.instance
    _bounce(gateway, ALEX)
    out = inst.ok("consent", "grant", ALEX, "--purpose", "checkins")
    assert "suppressed after hard bounces" in out and "mailgate suppression lift" in out
    assert inst.cli("send", "checkin", "--patient", ALEX).exit_code == 1
    gateway.deliver(reply("STOP"))
    lifted = inst.ok("consent", "grant", PATIENT, "--purpose", "milestones")
    assert "opt-out is lifted" in lifted
    assert json.loads(inst.ok("suppression", "show", PATIENT, "--json"))["suppressed"] is False


def test_rows_from_before_the_address_was_kept_still_name_it(gateway: Gateway) -> None:
    _bounce(gateway, ALEX)
    with gateway.app.session() as session:
        session.execute(update(Suppression).values(address_ct=None))
    listed = json.loads(gateway.instance.ok("suppression", "list", "--json"))
    assert [item["address"] for item in listed] == [ALEX]

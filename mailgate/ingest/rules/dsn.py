"""Recognising bounces: RFC 3464 delivery status notifications, and what they say."""

from __future__ import annotations

import re
from dataclasses import dataclass
from email.message import EmailMessage, Message

from mailgate.ingest.context import MessageContext, Route

_STATUS = re.compile(r"^\s*([245])\.(\d{1,3})\.(\d{1,3})")


@dataclass(frozen=True, slots=True)
class DeliveryStatus:
    action: str  # failed | delayed | delivered | relayed | expanded | "" when unknown
    status: str  # e.g. 5.1.1
    permanent: bool


def _status_fields(part: Message) -> list[Message]:
    """The per-recipient field groups of a message/delivery-status part."""
    payload = part.get_payload()
    if isinstance(payload, list):  # the stdlib parses the groups into sub-messages
        return [group for group in payload if isinstance(group, Message)]
    return []


def delivery_status(msg: EmailMessage) -> DeliveryStatus | None:
    """The first recipient's status in a DSN, or None when the message is not a DSN."""
    if msg.get_content_type() != "multipart/report":
        return None
    if msg.get_param("report-type", "").lower() != "delivery-status":  # type: ignore[union-attr]
        return None
    for part in msg.walk():
        if part.get_content_type() in ("message/delivery-status", "message/global-delivery-status"):
            for group in _status_fields(part):
                status = str(group.get("Status", ""))
                match = _STATUS.match(status)
                if match:
                    action = str(group.get("Action", "")).strip().lower()
                    code = ".".join(match.groups())
                    return DeliveryStatus(action, code, match.group(1) == "5")
    return DeliveryStatus("", "", False)


class BounceRule:
    name = "bounce"
    description = "a delivery status notification, or anything sent to a bounce+ (VERP) address"

    def check(self, ctx: MessageContext) -> bool:
        assert ctx.msg is not None
        if delivery_status(ctx.msg) is not None:
            return ctx.decide(self.name, True, "multipart/report; report-type=delivery-status")
        if ctx.route is Route.BOUNCE:
            return ctx.decide(self.name, True, "sent to the VERP bounce address")
        if not ctx.mail_from and ctx.msg.get_content_type() == "multipart/report":
            return ctx.decide(self.name, True, "null sender with a report")
        return ctx.decide(self.name, False, "not a delivery report")

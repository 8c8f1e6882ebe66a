"""A request that reached a canary listener, and the event it becomes."""

from __future__ import annotations

import time
from dataclasses import dataclass

from watchkeeper.events import DnsEvent, NetworkEvent

SOURCE = "canary"
"""``source`` of the events made from listener hits."""
MAX_HEADERS = 32
MAX_VALUE = 512


@dataclass(frozen=True, slots=True)
class CanaryHit:
    """One request to a canary listener.

    Attributes:
        listener: "http" or "dns".
        client: (address, port) of the requester.
        server: (address, port) of the listener.
        ts: Epoch seconds.
        tokens: Ids of the tokens the request named (a secret, a host name).
        method / path / host / user_agent / headers / body: The HTTP request (bounded).
        query_name / query_type: The DNS question.
    """

    listener: str
    client: tuple[str, int]
    server: tuple[str, int]
    ts: float = 0.0
    tokens: tuple[str, ...] = ()
    method: str = ""
    path: str = ""
    host: str = ""
    user_agent: str = ""
    headers: tuple[tuple[str, str], ...] = ()
    body: str = ""
    query_name: str = ""
    query_type: str = ""


def hit_event(
    hit: CanaryHit, *, sandbox_id: str = "", run_id: str = "", episode_id: str = ""
) -> NetworkEvent | DnsEvent:
    """The event of a hit, with the requester as the local (sandbox) side: the runtime then
    finds the requesting process and its step from the client's socket."""
    ts = hit.ts or time.time()
    if hit.listener == "dns":
        return DnsEvent(
            ts=ts, run_id=run_id, episode_id=episode_id, sandbox_id=sandbox_id, source=SOURCE,
            query_name=hit.query_name, query_type=hit.query_type or "A",
            src_ip=hit.client[0], dst_ip=hit.server[0],
        )  # fmt: skip
    detail: list[tuple[str, str]] = [("canary_listener", hit.listener)]
    if hit.tokens:
        detail.append(("canary_tokens", ",".join(hit.tokens)))
    for key, value in (("method", hit.method), ("path", hit.path), ("host", hit.host),
                       ("user_agent", hit.user_agent)):  # fmt: skip
        if value:
            detail.append((key, value[:MAX_VALUE]))
    for name, value in hit.headers[:MAX_HEADERS]:
        detail.append((f"header:{name.lower()}", value[:MAX_VALUE]))
    if hit.body:
        detail.append(("body", hit.body[:MAX_VALUE]))
    return NetworkEvent(
        ts=ts, run_id=run_id, episode_id=episode_id, sandbox_id=sandbox_id, source=SOURCE,
        activity="traffic", initiated=True, protocol="tcp", app_protocol="http",
        src_ip=hit.client[0], src_port=hit.client[1], dst_ip=hit.server[0],
        dst_port=hit.server[1], dst_hostname=hit.host.split(":", 1)[0], detail=tuple(detail),
    )  # fmt: skip

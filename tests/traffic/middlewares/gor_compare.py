"""Seed 002's middleware pattern on the `gor` package (0.2.3), unchanged in shape: on a
request, listen for `response#id`; on that response, listen for `replay#id`; on the replay,
compare the statuses and append a line to the file named by $SHADOWDIFF_COMPARE_LOG."""

import os

from gor.middleware import AsyncioGor

LOG = os.environ["SHADOWDIFF_COMPARE_LOG"]


def on_request(proxy, msg, **kwargs):
    proxy.on("response", on_response, idx=msg.id, req=msg)


def on_response(proxy, msg, **kwargs):
    proxy.on("replay", on_replay, idx=kwargs["req"].id, req=kwargs["req"], resp=msg)


def on_replay(proxy, msg, **kwargs):
    replayed = proxy.http_status(msg.http)
    original = proxy.http_status(kwargs["resp"].http)
    verdict = "same" if replayed == original else "differs"
    path = proxy.http_path(kwargs["req"].http)
    with open(LOG, "a") as log:
        log.write(f"{msg.id} {path} {verdict} {original} {replayed}\n")


if __name__ == "__main__":
    proxy = AsyncioGor()
    proxy.on("request", on_request)
    proxy.run()

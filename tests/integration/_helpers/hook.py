"""A local webhook receiver for the site's notifier (fault notices, one-time PIN codes)."""

from __future__ import annotations

import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.integration._helpers.site import Client, until
from vcc_proto.v1 import site_pb2 as s

_CODE = re.compile(r"\b(\d{6})\b")


class Hook:
    """A webhook receiver that fails the first ``fail_first`` requests with 503."""

    def __init__(self, fail_first: int = 0) -> None:
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                if hook.attempts <= fail_first:
                    self.send_response(503)
                else:
                    hook.received.append(json.loads(body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return None

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/notices"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def codes(self, phone: str) -> list[str]:
        """The one-time PIN codes sent to ``phone`` so far, oldest first."""
        out = []
        for body in list(self.received):
            notice = body.get("notice", {})
            if notice.get("action") == "pin_code" and notice.get("phone") == phone:
                found = _CODE.search(notice.get("text", ""))
                if found:
                    out.append(found.group(1))
        return out

    async def next_code(self, phone: str, seen: int = 0) -> str:
        """Wait for a code to ``phone`` beyond the ``seen`` first ones."""

        async def arrived() -> str:
            got = self.codes(phone)
            return got[seen] if len(got) > seen else ""

        code: str = await until(arrived, f"a one-time code to {phone}")
        return code

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


async def set_pin(client: Client, hook: Hook, caller: str, pin: str, old: str = "") -> str:
    """Option 2 of the 170 line from ``caller``'s own phone: with the current PIN ``old``,
    else with the one-time code the site sends to the phone; the prompts heard after it."""
    seen = len(hook.codes(caller))
    step = await client.offer(caller, "170", "2")
    if step.WhichOneof("next") == "collect":
        proof = old or await hook.next_code(caller, seen)
        for keys in (proof, pin, pin):
            step = await client.digits(step.call_id, keys)
            if step.WhichOneof("next") != "collect":
                break
    await client.access.HangUp(s.CallRef(call_id=step.call_id))
    return " ".join(p.text for p in step.prompts)

"""The SIP side of the site's agent, on sippy (an RFC 3261 B2BUA library).

sippy runs its own event loop (``ED2``) on the main thread; every object here is touched
only from that loop. The site's logic runs on an asyncio loop in another thread
(:mod:`vcc_site.sip.agent`): it calls in through :meth:`SipStack.call` and is called
back through the ``Calls`` methods it hands in. A caller's INVITE is accepted only from
the province's SIP edge (which alone says who is calling, in ``X-VCC-Caller``); agents'
phones are rung through the edge, where they registered.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol

from sippy.CCEvents import (
    CCEventConnect,
    CCEventDisconnect,
    CCEventFail,
    CCEventInfo,
    CCEventRing,
    CCEventTry,
    CCEventUpdate,
)
from sippy.Core.EventDispatcher import ED2
from sippy.MsgBody import MsgBody
from sippy.SipAddress import SipAddress
from sippy.SipCallId import SipCallId
from sippy.SipConf import SipConf
from sippy.SipContact import SipContact
from sippy.SipHeader import SipHeader
from sippy.SipLogger import SipLogger
from sippy.SipTransactionManager import SipTransactionManager
from sippy.SipURL import SipURL
from sippy.UA import UA

from vcc_site.sip.dtmf import digit_of
from vcc_site.sip.media import MediaAnchor

log = logging.getLogger(__name__)


class Calls(Protocol):
    """What the site's side hears from SIP (called on the SIP thread; hand over)."""

    def caller_arrived(self, leg: CallerLeg, caller: str, dialed: str) -> None: ...
    def caller_key(self, leg: CallerLeg, key: str) -> None: ...
    def caller_gone(self, leg: CallerLeg) -> None: ...
    def phone_answered(self, leg: PhoneLeg) -> None: ...
    def phone_gone(self, leg: PhoneLeg, code: int) -> None: ...
    def phone_transferred(self, leg: PhoneLeg, target: str) -> None: ...
    def phone_held(self, leg: PhoneLeg, held: bool) -> None: ...


def sdp_text(host: str, port: int) -> str:
    """Our side of a session: PCMA/PCMU audio and RFC 4733 key events."""
    return (
        "v=0\r\n"
        f"o=vcc 1 1 IN IP4 {host}\r\n"
        "s=vcc\r\n"
        f"c=IN IP4 {host}\r\n"
        "t=0 0\r\n"
        f"m=audio {port} RTP/AVP 8 0 101\r\n"
        "a=rtpmap:8 PCMA/8000\r\n"
        "a=rtpmap:0 PCMU/8000\r\n"
        "a=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\n"
        "a=sendrecv\r\n"
    )


def is_hold(sdp: str) -> bool:
    """An offer putting us on hold: send-only or inactive media, or the old 0.0.0.0."""
    lines = {line.strip() for line in sdp.splitlines()}
    return bool(lines & {"a=sendonly", "a=inactive"}) or any(
        line.startswith("c=") and line.endswith(" 0.0.0.0") for line in lines
    )


class CallerLeg:
    """The caller's side of one call, answered by the site."""

    def __init__(self, stack: SipStack, caller: str) -> None:
        self.stack, self.caller = stack, caller
        self.ua: Any = None
        self.call_id = ""  # the site's call ID once it took the call
        self.gone = False
        self.answer_sdp: str | None = None  # rtpengine's side, when the media is anchored

    @property
    def sip_call_id(self) -> str:
        return str(self.ua.cId) if self.ua is not None else ""

    def event(self, event: Any, ua: Any) -> None:
        if isinstance(event, CCEventTry):
            _cid, _cli, dialed, body, _auth, _name = event.getData()
            if self.stack.media is not None and body is not None:
                self.answer_sdp = self.stack.media.anchor(
                    self.sip_call_id, str(body), self.stack.sdp_text()
                )
            self.ua.recvEvent(CCEventRing((180, "Ringing", None)))
            self.stack.calls.caller_arrived(self, self.caller, str(dialed))
        elif isinstance(event, CCEventInfo):
            body = event.getData()
            if body is not None:
                key = digit_of(str(body.mtype), str(body.content))
                if key is not None:
                    self.stack.calls.caller_key(self, key)
        elif isinstance(event, CCEventDisconnect | CCEventFail) and not self.gone:
            self.gone = True
            self._release_media()
            self.stack.calls.caller_gone(self)

    def answer(self) -> None:
        if not self.gone:
            body = self.stack.our_sdp(self.answer_sdp)
            self.ua.recvEvent(CCEventConnect((200, "OK", body)))

    def record(self, agent_id: str) -> None:
        """An agent answered: rtpengine records the call's media from now on."""
        if self.stack.media is not None and not self.gone:
            self.stack.media.record(self.sip_call_id, self.call_id, agent_id)

    def _release_media(self) -> None:
        if self.stack.media is not None:
            self.stack.media.release(self.sip_call_id)

    def refuse(self, code: int, reason: str) -> None:
        if not self.gone:
            self.gone = True
            self._release_media()
            self.ua.recvEvent(CCEventFail((code, reason)))

    def hang_up(self) -> None:
        if not self.gone:
            self.gone = True
            self._release_media()
            self.ua.recvEvent(CCEventDisconnect())


class PhoneLeg:
    """An agent's phone rung for one call."""

    def __init__(self, stack: SipStack, agent_id: str, call_id: str) -> None:
        self.stack, self.agent_id, self.call_id = stack, agent_id, call_id
        self.ua: Any = None
        self.answered = False
        self.gone = False

    def ring(self, caller: str) -> None:
        self.ua = UA(self.stack.config, self.event, nh_address=self.stack.edge)
        self.ua.lContact = self.stack.contact()
        event = CCEventTry((SipCallId(), caller, self.agent_id, self.stack.our_sdp(), None, caller))
        event.extra_headers = (SipHeader(s=f"X-VCC-Call-ID: {self.call_id}"),)
        self.ua.recvEvent(event)

    def event(self, event: Any, ua: Any) -> None:
        if isinstance(event, CCEventConnect) and not self.answered:
            self.answered = True
            self.stack.calls.phone_answered(self)
        elif isinstance(event, CCEventUpdate) and not self.gone:  # re-INVITE: hold or not
            body = event.getData()
            held = body is not None and is_hold(str(body.content))
            self.ua.recvEvent(CCEventConnect((200, "OK", self.stack.our_sdp())))
            self.stack.calls.phone_held(self, held)
        elif isinstance(event, CCEventDisconnect | CCEventFail) and not self.gone:
            self.gone = True
            data = event.getData()
            if isinstance(event, CCEventDisconnect) and data is not None:  # REFER: blind
                self.stack.calls.phone_transferred(self, str(data.getUrl().username or ""))
                return
            code = data[0] if isinstance(event, CCEventFail) else 0
            self.stack.calls.phone_gone(self, int(code))

    def hang_up(self) -> None:
        if not self.gone and self.ua is not None:
            self.gone = True
            self.ua.recvEvent(CCEventDisconnect())


class SipStack:
    """sippy's transaction manager on ``host:port``, taking INVITEs from ``edge`` only."""

    def __init__(
        self,
        host: str,
        port: int,
        edge: tuple[str, int],
        calls: Calls,
        media: MediaAnchor | None = None,
    ) -> None:
        self.host, self.port, self.edge, self.calls = host, port, edge, calls
        self.media = media
        SipConf.my_uaname = "vcc-site"
        SipConf.my_address, SipConf.my_port = host, port
        self.config: dict[str, Any] = {
            "_sip_address": host,
            "_sip_port": port,
            "_sip_logger": SipLogger("vcc-sip"),
        }
        self.config["_sip_tm"] = SipTransactionManager(self.config, self._request)

    def contact(self) -> Any:
        """Our Contact, a bare URI (some peers take the whole header value as the URI)."""
        return SipContact(address=SipAddress(url=SipURL(host=self.host, port=self.port)))

    def sdp_text(self) -> str:
        return sdp_text(self.host, 40000)

    def our_sdp(self, text: str | None = None) -> Any:
        """``text`` (rtpengine's answer when anchored), else the site's own SDP."""
        return MsgBody(text or self.sdp_text(), mtype="application/sdp")

    def _request(self, req: Any, sip_t: Any) -> Any:
        method = req.getMethod()
        if req.getHFBody("to").getTag() is not None:
            return (req.genResponse(481, "Call Leg/Transaction Does Not Exist"), None, None)
        if method == "OPTIONS":
            return (req.genResponse(200, "OK"), None, None)
        if method != "INVITE":
            return (req.genResponse(501, "Not Implemented"), None, None)
        source = req.getSource()
        if (str(source[0]), int(source[1])) != self.edge:
            log.warning("INVITE from %s:%s refused: not the province's edge", *source)
            return (req.genResponse(403, "Only The Edge"), None, None)
        callers = req.getHFBodys("x-vcc-caller")
        if not callers:
            return (req.genResponse(400, "No Caller From The Trunk"), None, None)
        leg = CallerLeg(self, str(callers[0]).strip())
        leg.ua = UA(self.config, leg.event)
        leg.ua.lContact = self.contact()
        return leg.ua.recvRequest(req, sip_t)

    @staticmethod
    def call(fn: Callable[..., None], *args: Any) -> None:
        """Run ``fn(*args)`` on the SIP thread (from any thread)."""
        ED2.callFromThread(fn, *args)

    @staticmethod
    def loop() -> None:
        ED2.loop()

    @staticmethod
    def stop() -> None:
        ED2.callFromThread(ED2.breakLoop)

"""A call's media anchored at rtpengine, and its recording.

The caller's offer goes to rtpengine (``offer``, from-tag ``caller``) and the site's
side answers it there (``answer``, to-tag ``site``): the SDP the caller gets back names
rtpengine's port, so the caller's audio flows through it from the first packet. When an
agent answers, rtpengine is told to ``start recording`` (it writes the call's packets to
a pcap of its own); at hang-up ``delete`` frees the ports and closes the file.

rtpengine failing must not fail a call: every error is logged and the call goes on with
the site's own SDP (unanchored, unrecorded).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from vcc_site.sip.ng import NgClient, NgError

log = logging.getLogger(__name__)

CALLER_TAG = "caller"
SITE_TAG = "site"


@dataclass
class Recording:
    """One recorded stretch of a call, as the SIP agent saw it."""

    sip_call_id: str
    call_id: str  # the site's call ID
    agent_id: str
    started_at: float  # epoch seconds: the agent answered
    ended_at: float = 0.0  # the call was released at rtpengine

    @property
    def duration_s(self) -> float:
        return max(0.0, self.ended_at - self.started_at)


class MediaAnchor:
    """The SIP agent's use of one rtpengine (blocking calls: on the SIP thread, loopback)."""

    def __init__(self, client: NgClient, clock: Callable[[], float] = time.time) -> None:
        self.client = client
        self.clock = clock
        self.anchored: set[str] = set()
        self.recordings: dict[str, Recording] = {}  # by SIP call ID, while recording
        # told of each finished recording, after rtpengine closed its file (SIP thread)
        self.on_recorded: Callable[[Recording], None] | None = None

    def anchor(self, sip_call_id: str, offer_sdp: str, our_sdp: str) -> str | None:
        """The SDP to answer the caller with, or None when rtpengine failed."""
        try:
            self.client.offer(sip_call_id, CALLER_TAG, offer_sdp)
            answer = self.client.answer(sip_call_id, CALLER_TAG, SITE_TAG, our_sdp)
        except (NgError, OSError, KeyError) as exc:
            log.warning("media of %s not anchored: %s", sip_call_id, exc)
            return None
        self.anchored.add(sip_call_id)
        return answer

    def record(self, sip_call_id: str, call_id: str, agent_id: str) -> Recording | None:
        if sip_call_id not in self.anchored or sip_call_id in self.recordings:
            return None
        try:
            self.client.start_recording(sip_call_id)
        except (NgError, OSError) as exc:
            log.warning("recording of %s not started: %s", sip_call_id, exc)
            return None
        rec = Recording(sip_call_id, call_id, agent_id, started_at=self.clock())
        self.recordings[sip_call_id] = rec
        log.info("recording call %s (SIP %s) answered by %s", call_id, sip_call_id, agent_id)
        return rec

    def release(self, sip_call_id: str) -> Recording | None:
        """Free the call at rtpengine; the finished recording, if it was recorded."""
        if sip_call_id not in self.anchored:
            return None
        self.anchored.discard(sip_call_id)
        rec = self.recordings.pop(sip_call_id, None)
        if rec is not None:
            rec.ended_at = self.clock()
        try:
            self.client.delete(sip_call_id)
        except (NgError, OSError) as exc:
            log.warning("media of %s not released: %s", sip_call_id, exc)
        if rec is not None:
            log.info(
                "recorded call %s (SIP %s) agent %s: %.2f s",
                rec.call_id,
                rec.sip_call_id,
                rec.agent_id,
                rec.duration_s,
            )
            if self.on_recorded is not None:
                self.on_recorded(rec)
        return rec

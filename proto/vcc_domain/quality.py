"""Quality inspection (质检): sampling, scoring on a business's form, disputes, second
review, and work-order correctness checks (pure; times are passed in, scores integer).

* **Form**: each business may carry a scoring form in the province file
  (``[businesses.quality_form]``, see :mod:`vcc_domain.province_quality`): items with a
  maximum of points. A score gives every item 0..max points; the call's score is in basis
  points of the form's total (``points × 10000 // total``, floor), so 0..10000.
* **Sample**: per agent and period, ``ceil(calls × percent / 100)`` of the agent's
  answered calls (at least one when the agent answered any and the percent is not 0),
  chosen by a stable hash of period and call ID (the same draw every time, nobody can
  steer it); every complaint call is always in the sample.
* **Review**: ``sampled`` → ``scored`` (an inspector) → ``disputed`` (the agent, within
  the province's dispute window) → ``reviewed`` (a *different* inspector scores again,
  and that score is final). A scored review nobody disputed counts as it is.
* **Work-order correctness**: an inspector marks an order correct or not and, for an
  inquiry order with key fields, whether its key fields are right; the rates are reported
  against the targets of seed 004 (≥ 99 % of orders correct, ≥ 95 % key fields right).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from vcc_domain.errors import Conflict, Forbidden, InvalidInput

BP = 10_000  # basis points: 10000 = 100 %

SAMPLED, SCORED, DISPUTED, REVIEWED = "sampled", "scored", "disputed", "reviewed"
REVIEW_STATES = (SAMPLED, SCORED, DISPUTED, REVIEWED)
REASON_SAMPLE, REASON_COMPLAINT = "sample", "complaint"
CORRECT_TARGET_BP = 9_900  # work orders correct (seed 004)
KEY_FIELDS_TARGET_BP = 9_500  # key fields of inquiry orders right (seed 004)
MAX_COMMENT = 500


@dataclass(frozen=True, slots=True)
class FormItem:
    id: str
    name: str
    max_points: int


@dataclass(frozen=True, slots=True)
class QualityForm:
    """A business's scoring form: its items and their maximum points."""

    items: tuple[FormItem, ...]

    @property
    def total(self) -> int:
        return sum(i.max_points for i in self.items)

    def score_bp(self, points: Mapping[str, int]) -> int:
        """The score of ``points`` (every item, 0..max), in basis points of the total."""
        known = {i.id: i for i in self.items}
        unknown = sorted(set(points) - set(known))
        if unknown:
            raise InvalidInput(f"no form item {unknown[0]!r}", field="points")
        got = 0
        for item in self.items:
            if item.id not in points:
                raise InvalidInput(f"item {item.id!r} is not scored", field="points")
            value = points[item.id]
            if not 0 <= value <= item.max_points:
                raise InvalidInput(
                    f"item {item.id!r} takes 0..{item.max_points} points, got {value}",
                    field="points",
                )
            got += value
        return got * BP // self.total if self.total else 0


@dataclass(frozen=True, slots=True)
class QualityPolicy:
    """The province's ``[quality]`` table: sampling, disputes and assessment weights."""

    sample_percent: int = 5
    dispute_days: int = 3
    team_size: int = 15
    weights: Mapping[str, int] = field(default_factory=dict)  # see vcc_domain.assessment
    recording_retention_months: int = 3  # call recordings kept, then swept at the site


@dataclass(frozen=True, slots=True)
class Candidate:
    """An answered call that may be drawn for inspection."""

    call_id: str
    agent_id: str
    business_id: str
    complaint: bool = False


def _draw_key(period: str, call_id: str) -> str:
    return hashlib.sha256(f"{period}/{call_id}".encode()).hexdigest()


def draw_sample(
    period: str, calls: Iterable[Candidate], percent: int
) -> list[tuple[Candidate, str]]:
    """The calls to inspect with their reason, ordered by agent then call ID."""
    if not 0 <= percent <= 100:
        raise InvalidInput(f"sample percent must be 0..100, got {percent}", field="percent")
    by_agent: dict[str, list[Candidate]] = {}
    for cand in calls:
        if cand.agent_id:
            by_agent.setdefault(cand.agent_id, []).append(cand)
    chosen: list[tuple[Candidate, str]] = []
    for agent in sorted(by_agent):
        mine = by_agent[agent]
        want = -(-len(mine) * percent // 100) if percent else 0
        picked = {c.call_id for c in mine if c.complaint}
        rest = sorted(
            (c for c in mine if not c.complaint), key=lambda c: _draw_key(period, c.call_id)
        )
        picked |= {c.call_id for c in rest[: max(0, want - len(picked))]}
        for cand in sorted(mine, key=lambda c: c.call_id):
            if cand.call_id in picked:
                chosen.append((cand, REASON_COMPLAINT if cand.complaint else REASON_SAMPLE))
    return chosen


@dataclass(frozen=True, slots=True)
class QaReview:
    """One sampled call under inspection (a row at the serving site)."""

    review_id: str
    site_id: str
    period: str
    call_id: str
    agent_id: str
    business_id: str
    reason: str
    created_at_ms: int
    state: str = SAMPLED
    inspector: str = ""
    points: Mapping[str, int] = field(default_factory=dict)
    score_bp: int = 0
    comment: str = ""
    scored_at_ms: int = 0
    dispute_reason: str = ""
    disputed_at_ms: int = 0
    reviewer: str = ""
    review_points: Mapping[str, int] = field(default_factory=dict)
    review_score_bp: int = 0
    reviewed_at_ms: int = 0

    @property
    def final_score_bp(self) -> int | None:
        """The score that counts: the second review's, else the first; None unscored."""
        if self.state == REVIEWED:
            return self.review_score_bp
        if self.state in (SCORED, DISPUTED):
            return self.score_bp
        return None


def _comment(text: str) -> str:
    if len(text) > MAX_COMMENT:
        raise InvalidInput(f"at most {MAX_COMMENT} characters", field="comment")
    return text


def score(
    r: QaReview,
    form: QualityForm,
    inspector: str,
    points: Mapping[str, int],
    comment: str,
    now_ms: int,
) -> QaReview:
    """The first score, by an inspector (not the agent of the call)."""
    if r.state != SAMPLED:
        raise Conflict(f"review {r.review_id} is {r.state}, not sampled", field="review_id")
    if not inspector:
        raise InvalidInput("the inspector is required", field="inspector")
    if inspector == r.agent_id:
        raise Forbidden("an agent cannot score their own call", field="inspector")
    value = form.score_bp(points)
    return replace(
        r,
        state=SCORED,
        inspector=inspector,
        points=dict(points),
        score_bp=value,
        comment=_comment(comment),
        scored_at_ms=now_ms,
    )


def dispute(r: QaReview, agent_id: str, reason: str, now_ms: int, dispute_days: int) -> QaReview:
    """The agent disputes the score, within the window after it was scored."""
    if agent_id != r.agent_id:
        raise Forbidden("only the agent of the call may dispute its score", field="agent_id")
    if r.state != SCORED:
        raise Conflict(f"review {r.review_id} is {r.state}, not scored", field="review_id")
    if not reason.strip():
        raise InvalidInput("say why the score is disputed", field="reason")
    if now_ms > r.scored_at_ms + dispute_days * 86_400_000:
        raise Conflict(f"disputes close {dispute_days} days after scoring", field="review_id")
    return replace(r, state=DISPUTED, dispute_reason=_comment(reason), disputed_at_ms=now_ms)


def second_review(
    r: QaReview, form: QualityForm, reviewer: str, points: Mapping[str, int], now_ms: int
) -> QaReview:
    """A second inspector scores a disputed call again; that score is final."""
    if r.state != DISPUTED:
        raise Conflict(f"review {r.review_id} is {r.state}, not disputed", field="review_id")
    if not reviewer or reviewer == r.inspector:
        raise Forbidden("the second review needs another inspector", field="reviewer")
    if reviewer == r.agent_id:
        raise Forbidden("an agent cannot review their own call", field="reviewer")
    value = form.score_bp(points)
    return replace(
        r,
        state=REVIEWED,
        reviewer=reviewer,
        review_points=dict(points),
        review_score_bp=value,
        reviewed_at_ms=now_ms,
    )


@dataclass(frozen=True, slots=True)
class OrderCheck:
    """An inspector's verdict on one work order (one per order; a re-check replaces it)."""

    order_id: str
    site_id: str
    period: str
    agent_id: str
    business_id: str
    order_type: str
    correct: bool
    key_checked: bool  # an inquiry order with key fields
    key_correct: bool
    inspector: str
    checked_at_ms: int
    note: str = ""


@dataclass(frozen=True, slots=True)
class Correctness:
    """Work-order correctness against the seed's targets (rates in basis points)."""

    checked: int = 0
    correct: int = 0
    key_checked: int = 0
    key_correct: int = 0

    def add(self, other: Correctness) -> Correctness:
        return Correctness(
            self.checked + other.checked,
            self.correct + other.correct,
            self.key_checked + other.key_checked,
            self.key_correct + other.key_correct,
        )

    @property
    def correct_bp(self) -> int | None:
        return self.correct * BP // self.checked if self.checked else None

    @property
    def key_bp(self) -> int | None:
        return self.key_correct * BP // self.key_checked if self.key_checked else None

    @property
    def meets_target(self) -> bool:
        ok = self.correct_bp is None or self.correct_bp >= CORRECT_TARGET_BP
        return ok and (self.key_bp is None or self.key_bp >= KEY_FIELDS_TARGET_BP)


def correctness(checks: Iterable[OrderCheck]) -> Correctness:
    out = Correctness()
    for c in checks:
        out = out.add(
            Correctness(1, int(c.correct), int(c.key_checked), int(c.key_checked and c.key_correct))
        )
    return out


def quality_sum(reviews: Sequence[QaReview]) -> tuple[int, int]:
    """(sum of final scores in basis points, number of scored reviews)."""
    scores = [s for s in (r.final_score_bp for r in reviews) if s is not None]
    return sum(scores), len(scores)

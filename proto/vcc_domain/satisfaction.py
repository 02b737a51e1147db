"""Post-call satisfaction (满意度): a keypad rating 1–5 after the agent hangs up (pure).

When the business asks for it (``satisfaction_survey = true`` in the province file), a
call the agent hangs up is not released: the caller hears the rating prompt and keys
1 (very dissatisfied) to 5 (very satisfied). An invalid key is answered with the
reprompt, up to ``MAX_TRIES`` keys in all; no key in time (or the caller hanging up)
means no rating, never a guessed one. A rating is one row per call, at the serving site.

Figures are integer sums: ``count``, ``total`` (sum of the keys), ``satisfied`` (4 or
5), per score; the average is shown in hundredths (``avg_centi``) and the satisfied rate
in basis points. For the indexes the attainment is ``(average − 1) / 4`` (1 → 0, 5 → 1).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from vcc_domain.province import Text

BP = 10_000
MAX_TRIES = 3
SCORES = ("1", "2", "3", "4", "5")
PROMPT = Text(
    "请对本次服务评价：非常满意请按5，满意按4，一般按3，不满意按2，非常不满意按1。",
    "Please rate this call: 5 very satisfied, 4 satisfied, 3 fair, 2 dissatisfied, "
    "1 very dissatisfied.",
)
REPROMPT = Text("按键无效，请按1到5评价。", "Invalid key, please press 1 to 5.")
THANKS = Text("感谢您的评价，再见。", "Thank you for your rating, goodbye.")
NO_RATING = Text("感谢您的来电，再见。", "Thank you for calling, goodbye.")

RATED, REPROMPTED, NOT_RATED = "rated", "reprompted", "not_rated"


@dataclass(frozen=True, slots=True)
class Survey:
    """A rating offered to a caller whose agent hung up (kept in memory at the site)."""

    call_id: str
    agent_id: str
    business_id: str
    offered_at_ms: int
    tries: int = 0


@dataclass(frozen=True, slots=True)
class SurveyStep:
    outcome: str  # rated | reprompted | not_rated
    survey: Survey
    score: int = 0
    prompt: Text = THANKS


def press(survey: Survey, digits: str) -> SurveyStep:
    """The caller's key ("" = no key in time): a rating, a reprompt, or no rating."""
    if digits == "":
        return SurveyStep(NOT_RATED, survey, prompt=NO_RATING)
    if digits in SCORES:
        return SurveyStep(RATED, survey, int(digits), THANKS)
    tried = replace(survey, tries=survey.tries + 1)
    if tried.tries >= MAX_TRIES:
        return SurveyStep(NOT_RATED, tried, prompt=NO_RATING)
    return SurveyStep(REPROMPTED, tried, prompt=REPROMPT)


@dataclass(frozen=True, slots=True)
class Rating:
    """A caller's rating of one call (a row at the serving site)."""

    call_id: str
    site_id: str
    agent_id: str
    business_id: str
    score: int
    rated_at_ms: int
    period: str


@dataclass(frozen=True, slots=True)
class RatingFigures:
    count: int = 0
    total: int = 0
    satisfied: int = 0  # 4 or 5

    def add(self, other: RatingFigures) -> RatingFigures:
        return RatingFigures(
            self.count + other.count, self.total + other.total, self.satisfied + other.satisfied
        )

    @property
    def avg_centi(self) -> int | None:
        """The average rating in hundredths (425 = 4.25), None without ratings."""
        return self.total * 100 // self.count if self.count else None

    @property
    def satisfied_bp(self) -> int | None:
        return self.satisfied * BP // self.count if self.count else None

    @property
    def attainment_bp(self) -> int | None:
        """``(average − 1) / 4`` in basis points: 1 → 0, 5 → 10000."""
        if not self.count:
            return None
        return (self.total - self.count) * BP // (4 * self.count)


def of(rating: Rating) -> RatingFigures:
    return RatingFigures(1, rating.score, int(rating.score >= 4))


def figures_by(ratings: Iterable[Rating], key: str) -> dict[str, RatingFigures]:
    """Figures per ``agent_id``, ``business_id`` or ``site_id`` of the ratings."""
    out: dict[str, RatingFigures] = {}
    for r in ratings:
        k = str(getattr(r, key))
        out[k] = out.get(k, RatingFigures()).add(of(r))
    return dict(sorted(out.items()))

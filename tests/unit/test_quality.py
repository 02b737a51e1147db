"""Quality inspection, satisfaction and assessment: the pure rules."""

from __future__ import annotations

from pathlib import Path

import pytest

from vcc_domain import assessment as a
from vcc_domain import quality as q
from vcc_domain import satisfaction as sat
from vcc_domain.errors import ConfigError, Conflict, Forbidden, InvalidInput
from vcc_domain.province import load_province_file, parse_province_mapping

EXAMPLE = Path(__file__).resolve().parents[2] / "ops" / "vcc_ops" / "examples" / "yunnan.toml"
FORM = q.QualityForm((q.FormItem("greeting", "G", 10), q.FormItem("accuracy", "A", 40)))
DAY = 86_400_000


def test_form_scores_in_basis_points_and_refuses_bad_points() -> None:
    assert FORM.score_bp({"greeting": 10, "accuracy": 40}) == 10_000
    assert FORM.score_bp({"greeting": 5, "accuracy": 20}) == 5_000
    assert FORM.score_bp({"greeting": 1, "accuracy": 0}) == 200
    with pytest.raises(InvalidInput, match=r"0\.\.40"):
        FORM.score_bp({"greeting": 1, "accuracy": 41})
    with pytest.raises(InvalidInput, match="not scored"):
        FORM.score_bp({"greeting": 1})
    with pytest.raises(InvalidInput, match="no form item"):
        FORM.score_bp({"greeting": 1, "accuracy": 1, "extra": 0})


def test_sample_takes_a_share_of_each_agent_and_every_complaint() -> None:
    calls = [q.Candidate(f"c{i:03d}", "A1", "general") for i in range(40)]
    calls += [q.Candidate("b1", "A2", "general"), q.Candidate("b2", "A2", "complaint", True)]
    calls += [q.Candidate("x", "", "general")]  # never answered by an agent: not drawn
    drawn = q.draw_sample("2026-12", calls, 5)
    by_agent = {agent: [c for c, _ in drawn if c.agent_id == agent] for agent in ("A1", "A2")}
    assert len(by_agent["A1"]) == 2  # ceil(40 * 5 / 100)
    assert [c.call_id for c in by_agent["A2"]] == ["b2"]  # the complaint covers the share
    assert ("complaint" in {r for c, r in drawn if c.call_id == "b2"}) is True
    assert q.draw_sample("2026-12", calls, 5) == drawn  # stable
    assert [c.call_id for c, _ in q.draw_sample("2026-12", calls, 0)] == ["b2"]
    with pytest.raises(InvalidInput):
        q.draw_sample("2026-12", calls, 101)


def _review() -> q.QaReview:
    return q.QaReview("r1", "KM", "2026-12", "c1", "KM-0001", "general", "sample", 0)


def test_review_scored_disputed_and_reviewed_by_another_inspector() -> None:
    r = q.score(_review(), FORM, "KM-QA-01", {"greeting": 5, "accuracy": 20}, "ok", 1000)
    assert (r.state, r.score_bp, r.final_score_bp) == (q.SCORED, 5000, 5000)
    with pytest.raises(Conflict):
        q.score(r, FORM, "KM-QA-01", {"greeting": 5, "accuracy": 20}, "", 1001)
    with pytest.raises(Forbidden):
        q.dispute(r, "KM-0002", "not mine", 2000, 3)
    with pytest.raises(InvalidInput):
        q.dispute(r, "KM-0001", " ", 2000, 3)
    with pytest.raises(Conflict, match="3 days"):
        q.dispute(r, "KM-0001", "late", 1000 + 3 * DAY + 1, 3)
    d = q.dispute(r, "KM-0001", "the answer was right", 2000, 3)
    assert d.state == q.DISPUTED and d.final_score_bp == 5000
    with pytest.raises(Forbidden, match="another inspector"):
        q.second_review(d, FORM, "KM-QA-01", {"greeting": 10, "accuracy": 40}, 3000)
    done = q.second_review(d, FORM, "KM-QA-02", {"greeting": 10, "accuracy": 36}, 3000)
    assert (done.state, done.final_score_bp) == (q.REVIEWED, 9200)
    with pytest.raises(Conflict):
        q.dispute(done, "KM-0001", "again", 3001, 3)
    assert q.quality_sum([done, _review()]) == (9200, 1)


def test_agent_cannot_score_own_call() -> None:
    with pytest.raises(Forbidden):
        q.score(_review(), FORM, "KM-0001", {"greeting": 1, "accuracy": 1}, "", 1)


def test_correctness_against_the_seed_targets() -> None:
    def check(i: int, ok: bool, key: bool | None) -> q.OrderCheck:
        return q.OrderCheck(
            f"o{i}", "KM", "2026-12", "A", "general", "inquiry", ok, key is not None,
            bool(key), "QA", 0,
        )  # fmt: skip

    checks = [check(i, True, True) for i in range(98)] + [check(98, False, False)]
    c = q.correctness(checks)
    assert (c.checked, c.correct, c.key_checked, c.key_correct) == (99, 98, 99, 98)
    assert c.correct_bp == 9898 and not c.meets_target  # 98.98 % < 99 %
    c2 = q.correctness([*checks, check(99, True, None), check(100, True, None)])
    assert c2.correct_bp == 9900 and c2.key_bp == 9898 and c2.meets_target
    assert q.Correctness().correct_bp is None and q.Correctness().meets_target


def test_keypad_rating_valid_invalid_and_no_answer() -> None:
    s = sat.Survey("c1", "A", "general", 0)
    assert sat.press(s, "4").outcome == sat.RATED and sat.press(s, "4").score == 4
    step = sat.press(s, "9")
    assert step.outcome == sat.REPROMPTED and step.prompt == sat.REPROMPT
    step = sat.press(sat.press(step.survey, "*").survey, "0")
    assert step.outcome == sat.NOT_RATED  # three invalid keys: no rating
    assert sat.press(s, "").outcome == sat.NOT_RATED


def test_rating_figures() -> None:
    rs = [sat.Rating(f"c{i}", "KM", "A" if i < 2 else "B", "general", v, 0, "2026-12")
          for i, v in enumerate((5, 4, 1))]  # fmt: skip
    by = sat.figures_by(rs, "agent_id")
    assert by["A"] == sat.RatingFigures(2, 9, 2) and by["A"].avg_centi == 450
    assert by["A"].attainment_bp == 8750 and by["B"].attainment_bp == 0
    assert sat.figures_by(rs, "site_id")["KM"].satisfied_bp == 6666


def test_assessment_components_and_weighted_score() -> None:
    f = a.KpiFigures(
        answered=10, ring_ms=10 * 6_000, talk_ms=10 * 300_000, transferred=1,
        wrapups=10, acw_ms=10 * 30_000, orders=q.Correctness(10, 10, 0, 0),
        callbacks_due=4, callbacks_on_time=3, quality_total_bp=8000, quality_reviews=1,
        ratings=sat.RatingFigures(1, 5, 1),
    )  # fmt: skip
    got = a.assess("agent", "A", f, a.weights_of(None))
    att = {c.name: c.attainment_bp for c in got.components}
    assert att == {
        "acw": 10_000, "ring": 10_000, "talk": 5_000, "transfer": 3_000, "work_orders": 10_000,
        "callbacks": 7_500, "quality": 8_000, "satisfaction": 10_000,
    }  # fmt: skip
    expected = 10 * 10_000 * 2 + 10 * 5_000 + 10 * 3_000 + 15 * 10_000 + 10 * 7_500
    expected += 25 * 8_000 + 10 * 10_000
    assert got.score_bp == expected // 100
    empty = a.assess("agent", "B", a.KpiFigures(), a.weights_of(None))
    assert empty.score_bp is None
    only_q = a.assess("agent", "C", a.KpiFigures(quality_total_bp=6000, quality_reviews=1), {})
    assert only_q.score_bp is None  # no weight on anything measured
    weighted = a.assess("agent", "C", a.KpiFigures(quality_total_bp=6000, quality_reviews=1),
                        a.weights_of({"quality": 50}))  # fmt: skip
    assert weighted.score_bp == 6000


def test_roll_up_sums_agents_into_teams_sites_and_province() -> None:
    one = a.KpiFigures(answered=1, ring_ms=1000, talk_ms=1000)
    teams = a.teams(["KM-0003", "KM-0001", "KM-0002"], "KM", 2)
    assert teams == {"KM-0001": "KM-T01", "KM-0002": "KM-T01", "KM-0003": "KM-T02"}
    rows = a.roll_up({k: one for k in teams}, teams.__getitem__, lambda _a: "KM", {})
    levels = [(r.level, r.subject, r.figures.answered) for r in rows]
    assert levels[3:] == [("team", "KM-T01", 2), ("team", "KM-T02", 1), ("site", "KM", 3),
                          ("province", "", 3)]  # fmt: skip


def test_province_file_reads_forms_surveys_and_quality_policy() -> None:
    p = load_province_file(EXAMPLE)
    general = p.business("general")
    assert general.satisfaction_survey and general.quality_form is not None
    assert general.quality_form.total == 100
    assert p.quality.sample_percent == 5 and p.quality.weights["quality"] == 25


def _doc_with(edit: dict[str, object]) -> dict[str, object]:
    import tomllib

    doc = tomllib.loads(EXAMPLE.read_text(encoding="utf-8"))
    doc.update(edit)
    return doc


def test_province_file_refuses_bad_quality_parts_naming_the_field() -> None:
    with pytest.raises(ConfigError, match=r"quality.sample_percent"):
        parse_province_mapping(_doc_with({"quality": {"sample_percent": 101}}))
    with pytest.raises(ConfigError, match=r"quality.weights.speed"):
        parse_province_mapping(_doc_with({"quality": {"weights": {"speed": 1}}}))
    doc = _doc_with({})
    businesses = doc["businesses"]
    assert isinstance(businesses, list)
    businesses[0]["quality_form"] = {
        "items": [{"id": "a", "name": "A", "max_points": 0}, {"id": "a", "name": "B",
                                                             "max_points": 5}]
    }  # fmt: skip
    with pytest.raises(ConfigError) as err:
        parse_province_mapping(doc)
    text = str(err.value)
    assert "businesses[0].quality_form.items[0].max_points" in text
    assert "duplicate form item 'a'" in text


def test_sqi_takes_the_callers_ratings_when_there_are_some() -> None:
    from vcc_domain.province import SLTarget
    from vcc_domain.sqi import SqiConfig, compute_sqi
    from vcc_domain.stats import AgentFigures, Figures

    figs = {"ordinary": Figures(answered=10, talk_ms=10 * 100_000, ring_ms=10 * 5_000)}
    agents = AgentFigures()

    def target(_tier: str) -> SLTarget:
        return SLTarget(85, 20)

    before = compute_sqi(figs, agents, target, SqiConfig())
    same = compute_sqi(figs, agents, target, SqiConfig(), ratings=(0, 0))
    rated = compute_sqi(figs, agents, target, SqiConfig(), ratings=(2, 6))  # average 3
    assert before.value == same.value
    names = [c.name for c in rated.components]
    assert "satisfaction" in names and "satisfaction" not in [c.name for c in before.components]
    sat_c = next(c for c in rated.components if c.name == "satisfaction")
    assert sat_c.attainment == 0.5 and rated.value is not None and before.value is not None
    assert rated.value < before.value


def test_assessment_table_and_a_bad_period_refused() -> None:
    from click.testing import CliRunner

    from vcc_ops.assessment_cli import assessment, render

    one = a.KpiFigures(answered=2, ring_ms=2000, talk_ms=2000, quality_total_bp=9000,
                       quality_reviews=1)  # fmt: skip
    rows = a.roll_up({"KM-0001": one}, lambda _a: "KM-T01", lambda _a: "KM", a.weights_of(None))
    data = {
        "sites": [r.as_dict() for r in rows if r.level == "site"],
        "teams": [r.as_dict() for r in rows if r.level == "team"],
        "province": next(r.as_dict() for r in rows if r.level == "province"),
        "missing_sites": ["DL"],
    }
    text = render(data)
    assert "PROVINCE" in text and "KM-T01" in text and "MISSING: DL" in text
    result = CliRunner().invoke(assessment, ["2026-13", "--site-endpoints", "KM=127.0.0.1:1"])
    assert result.exit_code == 2 and "period must be YYYY-MM" in result.output

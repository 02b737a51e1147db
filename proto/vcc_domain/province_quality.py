"""Readers of the province file's quality parts (pure, error-collecting like the rest).

* ``[businesses.quality_form]``: the business's scoring form for quality inspection::

      [businesses.quality_form]
      items = [
        { id = "greeting", name = "Greeting and closing", max_points = 10 },
        { id = "accuracy", name = "Accurate answer", max_points = 40 },
      ]

  At least one item; item IDs unique; ``max_points`` 1..100.
* ``[quality]`` (optional): ``sample_percent`` (0..100, default 5) of each agent's
  answered calls drawn per month, ``dispute_days`` (0..31, default 3) an agent has to
  dispute a score, ``team_size`` (1..200, default 15), ``recording_retention_months``
  (1..120, default 3: call recordings are kept this long at the serving site, then swept)
  and ``[quality.weights]`` of the assessment (integers 0..100 per component of
  :mod:`vcc_domain.assessment`).
"""

from __future__ import annotations

import re

from vcc_domain.assessment import COMPONENTS, DEFAULT_TEAM_SIZE
from vcc_domain.province_schema import Table
from vcc_domain.quality import FormItem, QualityForm, QualityPolicy
from vcc_domain.recordings import MAX_RETENTION_MONTHS

ITEM_ID = re.compile(r"[a-z][a-z0-9_]{0,31}")


def read_quality_form(t: Table | None) -> QualityForm | None:
    if t is None:
        return None
    items: list[FormItem] = []
    tables = t.tables("items", required=True)
    seen: set[str] = set()
    for it in tables:
        item = FormItem(
            it.string("id", pattern=ITEM_ID),
            it.string("name"),
            it.integer("max_points", lo=1, hi=100),
        )
        if item.id in seen:
            it.problem("id", f"duplicate form item {item.id!r}")
        seen.add(item.id)
        items.append(item)
        it.close()
    t.close()
    return QualityForm(tuple(items))


def read_quality_policy(t: Table | None) -> QualityPolicy:
    if t is None:
        return QualityPolicy(team_size=DEFAULT_TEAM_SIZE)
    policy = QualityPolicy(
        sample_percent=t.integer("sample_percent", 5, lo=0, hi=100),
        dispute_days=t.integer("dispute_days", 3, lo=0, hi=31),
        team_size=t.integer("team_size", DEFAULT_TEAM_SIZE, lo=1, hi=200),
        weights=t.number_map("weights", 0, 100, integer=True, key_choices=frozenset(COMPONENTS)),
        recording_retention_months=t.integer(
            "recording_retention_months", 3, lo=1, hi=MAX_RETENTION_MONTHS
        ),
    )
    t.close()
    return policy

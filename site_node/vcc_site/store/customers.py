"""Deterministic synthetic customers for demos, benchmarks and tests.

``synthetic_customers(site_id, area_code, count, seed)`` returns the same customers for the
same arguments, on any machine and Python run:

- ``customer_id`` is ``f"{site_id}-C{index:06d}"``;
- ``phone`` is an 11-digit mobile-like number ``19`` + the area code without its leading
  zero (3 digits) + a 6-digit number that is a bijection of the index
  (:func:`phone_for`). Sites have distinct area codes, so phones never collide across
  the province; within a site they are unique for up to 1,000,000 customers. The
  number depends only on the area code and the index, not on the seed;
- ``account_no`` is ``f"{area_code}{index:08d}"``, unique across the province too;
- tiers: index 0 is ``vip``, 1 ``blacklist``, 2 ``high``, 3 ``middle`` (so small tests can
  rely on them), then a seeded mix of about 2 % vip, 8 % high, 20 % middle, 68 % ordinary
  and 2 % blacklist;
- money is integer fen: a latest bill of 10–500 yuan (VIPs more), a balance of 0–200 yuan,
  the bill due 25 days after ``as_of_ms``;
- **no PIN**: ``pin_hash`` is ``None`` (a customer sets it from their own line; tests that
  need one hash a PIN and upsert the record). Names are Chinese-style, drawn from
  common surnames and given-name characters.
"""

from __future__ import annotations

import random

from vcc_site.store.api import CustomerRecord

AS_OF_MS = 1_735_689_600_000  # 2025-01-01T00:00:00Z: a fixed "now" keeps output stable
DAY_MS = 86_400_000
PHONE_SPACE = 1_000_000
_STEP = 387_749  # coprime with PHONE_SPACE: index -> number is a bijection
_OFFSET = 271_828

FIRST_TIERS = ("vip", "blacklist", "high", "middle")
TIER_SHARES = (("vip", 0.02), ("high", 0.08), ("middle", 0.20), ("ordinary", 0.68))
# the remaining 2 % is blacklist

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤"
GIVEN = "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华建国志红玉文春云海燕梅晨晓鹏飞宇浩然欣怡思雨佳琪子涵梓轩博文雅婷俊杰天佑丹凤"


def phone_for(area_code: str, index: int) -> str:
    """The synthetic phone number of customer ``index`` in area ``area_code``."""
    block = area_code.lstrip("0")
    if not block.isdigit() or len(block) > 3:
        raise ValueError(f"area code {area_code!r} must be digits, at most 3 after the 0")
    if not 0 <= index < PHONE_SPACE:
        raise ValueError(f"index {index} out of range 0..{PHONE_SPACE - 1}")
    number = (index * _STEP + _OFFSET) % PHONE_SPACE
    return f"19{int(block):03d}{number:06d}"


def _tier(index: int, rng: random.Random) -> str:
    if index < len(FIRST_TIERS):
        return FIRST_TIERS[index]
    draw = rng.random()
    for tier, share in TIER_SHARES:
        if draw < share:
            return tier
        draw -= share
    return "blacklist"


def _name(rng: random.Random) -> str:
    given = "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return rng.choice(SURNAMES) + given


def synthetic_customers(
    site_id: str, area_code: str, count: int, seed: int = 0, *, as_of_ms: int = AS_OF_MS
) -> list[CustomerRecord]:
    """``count`` customers homed at ``site_id``; same arguments, same customers."""
    if count > PHONE_SPACE:
        raise ValueError(f"at most {PHONE_SPACE} synthetic customers per site")
    rng = random.Random(f"vcc-customers:{site_id}:{area_code}:{seed}")
    customers = []
    for index in range(count):
        tier = _tier(index, rng)
        bill_yuan = rng.randint(10, 500) * (4 if tier == "vip" else 1)
        customers.append(
            CustomerRecord(
                customer_id=f"{site_id}-C{index:06d}",
                home_site=site_id,
                phone=phone_for(area_code, index),
                account_no=f"{area_code}{index:08d}",
                name=_name(rng),
                tier=tier,
                pin_hash=None,
                balance_fen=rng.randint(0, 20_000),
                bill_fen=bill_yuan * 100 + rng.randint(0, 99),
                bill_due_at_ms=as_of_ms + 25 * DAY_MS,
                open_work_orders=1 if rng.random() < 0.05 else 0,
                updated_at_ms=as_of_ms,
            )
        )
    return customers

"""Who is calling: the checks of a caller's number and dialed code, a customer tier's
priority class, and the site owning a number's area code."""

from __future__ import annotations

import re

from vcc_domain.errors import NotFound
from vcc_domain.province import Province
from vcc_site.domain.queue import Priority
from vcc_site.service.core import SiteCore
from vcc_site.service.customers import area_code_of

NUMBER = re.compile(r"^\+?[0-9]{3,20}$")
CODE = re.compile(r"^[0-9]{3,8}$")

PRIORITY_OF_TIER = {
    "vip": Priority.VIP,
    "high": Priority.HIGH,
    "middle": Priority.MIDDLE,
    "ordinary": Priority.ORDINARY,
    "blacklist": Priority.BLACKLIST,
}


# the province's area codes, longest first, with the province they were read from (a
# province is never changed in place: a new directory version is a new object)
_codes: tuple[Province | None, list[str]] = (None, [])


def _area_codes(province: Province) -> list[str]:
    global _codes
    seen, codes = _codes
    if seen is not province:
        every = sorted({code for site in province.sites for code in site.area_codes})
        codes = sorted(every, key=len, reverse=True)
        _codes = (province, codes)
    return codes


def caller_home(core: SiteCore, number: str) -> str:
    """The site owning the number's area code ("" for a number from outside the province)."""
    area = area_code_of(number, _area_codes(core.province))
    if area is None:
        return ""
    try:
        return core.province.home_site(area).id
    except NotFound:
        return ""


def caller_area(core: SiteCore, number: str) -> str:
    """The province area code of a caller's number ("" for a number from outside)."""
    return area_code_of(number, _area_codes(core.province)) or ""

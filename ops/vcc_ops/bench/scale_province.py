"""The example province grown to N cities, for ``vcc bench scale``.

The first five sites are the example's (Kunming, Qujing, Dali, Yuxi, Honghe); up to 16
the other eleven prefectures of Yunnan follow (their own area codes and positions); past
16 the cities are made up (``C17``...: area codes ``0917``..., placed on a grid over the
province). Added sites have no agents and no seats: they take no calls here, they only
hold leases, report figures, replicate events and follow the directory.
"""

from __future__ import annotations

from pathlib import Path

# id, name, area code, latitude, longitude of Yunnan's other prefectures
YUNNAN_MORE = (
    ("ZT", "Zhaotong", "0870", 27.34, 103.72),
    ("LJ", "Lijiang", "0888", 26.86, 100.23),
    ("PE", "Pu'er", "0879", 22.78, 100.97),
    ("LC", "Lincang", "0883", 23.88, 100.09),
    ("CX", "Chuxiong", "0878", 25.04, 101.55),
    ("WS", "Wenshan", "0876", 23.37, 104.24),
    ("BN", "Xishuangbanna", "0691", 22.01, 100.80),
    ("DH", "Dehong", "0692", 24.43, 98.58),
    ("NJ", "Nujiang", "0886", 25.82, 98.86),
    ("DQ", "Diqing", "0887", 27.83, 99.71),
    ("BS", "Baoshan", "0875", 25.11, 99.16),
)
EXAMPLE_SITES = ("KM", "QJ", "DL", "YX", "HH")
MAX_SITES = 99


def extra_sites(n: int) -> list[tuple[str, str, str, float, float]]:
    """The sites beyond the example's five, for a province of ``n``."""
    if not len(EXAMPLE_SITES) <= n <= MAX_SITES:
        raise ValueError(f"a scaled province has {len(EXAMPLE_SITES)}..{MAX_SITES} sites")
    out = list(YUNNAN_MORE[: n - len(EXAMPLE_SITES)])
    for i in range(len(EXAMPLE_SITES) + len(YUNNAN_MORE) + 1, n + 1):
        row, col = divmod(i, 8)
        out.append((f"C{i:02d}", f"City {i}", f"09{i:02d}", 21.5 + row * 0.6, 98.0 + col * 0.8))
    return out


def site_ids(n: int) -> list[str]:
    return [*EXAMPLE_SITES, *(s[0] for s in extra_sites(n))]


def scaled_province(example: Path, n: int, out: Path) -> Path:
    """The example province file with ``n`` sites, written to ``out``."""
    blocks = [
        f'\n[[sites]]\nid = "{sid}"\nname = "{name}"\narea_codes = ["{code}"]\n'
        f"seats = 0\nlat = {lat}\nlon = {lon}\n"
        for sid, name, code, lat, lon in extra_sites(n)
    ]
    out.write_text(example.read_text() + "".join(blocks))
    return out

"""Number formatting of the views (terminal and HTML): one place decides how a time,
a share or a count reads, and what "not known" looks like."""

import math

MISSING = "—"  # a number that is not known (None / NaN), never shown as 0


def _missing(x):
    return x is None or (isinstance(x, float) and math.isnan(x))


def ms(us):
    """Microseconds as milliseconds: '0.866 ms', '11.6 ms'."""
    if _missing(us):
        return MISSING
    v = us / 1000.0
    return f"{v:,.3f} ms" if v < 10 else f"{v:,.1f} ms"


def duration(us):
    """Microseconds in the unit a person reads best: '0.0 µs', '279.4 µs', '1.12 ms', '2.50 s'."""
    if _missing(us):
        return MISSING
    if us >= 1e6:
        return f"{us / 1e6:.2f} s"
    if us >= 1e3:
        return f"{us / 1e3:.2f} ms"
    return f"{us:.1f} µs"


def pct(p):
    """A share in percent; small nonzero shares keep a second digit (0.03% is not 0.0%)."""
    if _missing(p):
        return MISSING
    return f"{p:.2f}%" if 0 < abs(p) < 0.1 else f"{p:.1f}%"


def num(x, digits=0):
    """A number with thousands separators and `digits` decimals; a whole number (a count,
    or a median of counts) never gets decimals: 'Launches per step 5,470', not '5,470.0'."""
    if _missing(x):
        return MISSING
    return f"{x:,.0f}" if float(x).is_integer() else f"{x:,.{digits}f}"


def size(n):
    """Bytes in binary units: 134217728 -> '128 MiB' (a terminal cell; the JSON keeps the count)."""
    if _missing(n):
        return MISSING
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" or n.is_integer() else f"{n:.1f} {unit}"
        n /= 1024


def plain(x, spec):
    """`format(x, spec)` (terminal table cells), MISSING when not known."""
    return MISSING if _missing(x) else format(x, spec)


def auto(x, digits=None):
    """A measured value with the decimals its size deserves (sweep tables): 1,234 / 12.3 / 1.23 / 0.123."""
    try:
        value = float(x)
    except (TypeError, ValueError):  # None, pandas NA
        return MISSING
    if math.isnan(value):
        return MISSING
    if digits is None:
        size = abs(value)
        digits = 0 if size >= 100 or value.is_integer() else 1 if size >= 10 else 2 if size >= 1 else 3
    return f"{value:,.{digits}f}"


def evidence(key, v):
    """(label, value) of one number of a finding's evidence, by its unit suffix:
    'host_bound_us' -> ('host bound', '10.80 ms'), 'idle_pct' -> ('idle', '65.6%')."""
    name = key.replace("_", " ")
    if key.endswith("_us"):
        return name[:-3], duration(v)
    if key.endswith("_pct"):
        return name[:-4], pct(v)
    return name, num(v, 2) if isinstance(v, (int, float)) else str(v)

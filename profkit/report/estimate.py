"""What `profkit roofline` prints: a model's memory, FLOPs and roofline limits, no capture needed."""

from rich.console import Console
from rich.markup import escape

from profkit.report.metrics import fmt_num

PHASES = (("prefill", "prefill"), ("decode/token", "decode_step"))


def _ms(v):
    return "—" if v is None else f"{v:,.4f}" if v < 1 else f"{v:,.2f}"


def _gb(n):
    return f"{n / 1e9:,.3f} GB" if n >= 1e8 else f"{n / 1e6:,.2f} MB"


def render_estimate(name, est, console=None):
    """Print a Roofline (profkit.analysis.cost.roofline.estimate) for the model called `name`."""
    con = console or Console()
    p = est.params
    con.print(f"[bold]{escape(name)}[/bold] ({est.family}): {fmt_num(p.total)} parameters, "
              f"{est.n_kv_head} K/V heads (G = {est.kv_groups}); {est.dtype}, batch {est.batch}, "
              f"prompt {est.prompt_len}, {est.new_tokens} new tokens", highlight=False)
    con.print(f"weights {_gb(est.weight_bytes)}, KV cache {_gb(est.kv_cache_bytes)} "
              f"({fmt_num(est.kv_cache_bytes)} bytes for {est.batch * (est.prompt_len + est.new_tokens)}"
              " tokens), together " + _gb(est.weight_bytes + est.kv_cache_bytes), highlight=False)
    dev = est.device
    if dev:
        con.print(f"device: {escape(dev.name)}: {fmt_num(dev.bandwidth_gbs)} GB/s, "
                  f"{dev.peak_tflops or '—'} TFLOP/s in {est.dtype}"
                  + (f" ({escape(dev.note)})" if dev.note else ""), highlight=False)
    rows = [("", "GFLOP", "MB moved", "compute ms", "memory ms", "limit ms", "bound", "tokens/s")]
    for label, key in PHASES:
        ph = getattr(est, key)
        tokens = est.batch * (1 if key == "decode_step" else est.prompt_len)
        rows.append((label, fmt_num(ph.flops / 1e9, 2), fmt_num(ph.bytes / 1e6, 1), _ms(ph.compute_ms),
                     _ms(ph.memory_ms), _ms(ph.limit_ms), ph.bound or "—",
                     fmt_num(tokens / ph.limit_ms * 1e3) if ph.limit_ms else "—"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    for r in rows:
        con.print("  ".join(c.ljust(w) if i in (0, 6) else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))),
                  highlight=False, soft_wrap=True)
    con.print("tokens/s: at the limit (prefill: prompt tokens per second).", highlight=False)
    if est.unavailable:
        con.print(f"[yellow]no limits:[/yellow] {escape(est.unavailable)}")

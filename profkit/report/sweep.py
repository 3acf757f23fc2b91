"""`profkit report runs/NAME`: one HTML page for a sweep folder (results.csv + manifest.json).

Plots of time and memory against batch and sequence length, throughput per mode,
measured/limit ratios when the roofline limits are known, and tables in the
published form: rows = batch, columns = sequence length (or matrix size) per model.
Same page style, scripts and escaping as the trace report.
"""

import datetime as _dt
from importlib import resources
from pathlib import Path

import pandas as pd
from jinja2 import Environment, PackageLoader, select_autoescape
from markupsafe import Markup

from profkit import __version__
from profkit.common.noise import NOISE_RULE
from profkit.errors import ProfkitError
from profkit.fileio import write_text_atomic
from profkit.report.fmt import auto as fmt
from profkit.report.render import script_json
from profkit.report.sweep_figures import by, panels
from profkit.sweep.store import COLUMNS, is_sweep, read_manifest, read_rows

TEXT = {"point", "status", "mode", "model", "dtype", "peak_memory_kind", "trace", "finished", "note", "noise"}
# Columns measured by the timed runs: the cells a noisy point marks.
TIMED = {"ttft_ms", "decode_ms_per_token", "tokens_per_s", "total_ms", "attention_ms", "gflops_per_s"}
STATUS = {"oom": "OOM", "skipped": "skipped", "killed": "killed", "error": "error"}
MAX_PANELS = 4

_env = Environment(loader=PackageLoader("profkit.report", "templates"),
                   autoescape=select_autoescape(default=True, default_for_string=True),
                   trim_blocks=True, lstrip_blocks=True)


def load_sweep(folder):
    """(manifest, DataFrame of rows with numeric columns as numbers, lines dropped as torn)."""
    if not is_sweep(folder):
        raise ProfkitError(f"{folder} is not a sweep folder (it needs results.csv and manifest.json)")
    manifest = read_manifest(folder)
    columns = COLUMNS.get(manifest.get("workload"))
    if columns is None:
        raise ProfkitError(f"{folder}: unknown sweep workload {manifest.get('workload')!r}")
    rows, dropped = read_rows(folder, columns)
    df = pd.DataFrame(rows, columns=list(columns))
    for c in df.columns:
        if c not in TEXT:
            df[c] = pd.to_numeric(df[c], errors="coerce")
    if manifest["workload"] == "gpt2":
        kv = len(manifest.get("axes", {}).get("kv_groups", [1])) > 1
        df["series"] = [f"{m}{f' kv-groups {int(g)}' if kv else ''} {mode}"
                        for m, g, mode in zip(df["model"], df["kv_groups"], df["mode"])]
        df["ttft_ratio"] = df["ttft_ms"] / df["ttft_limit_ms"]
        df["decode_ratio"] = df["decode_ms_per_token"] / df["decode_limit_ms"]
    else:
        df["size"] = [(int(r), int(c)) for r, c in zip(df["rows"], df["cols"])]  # sorts as numbers
        df["series"] = [f"{r}×{c} {mode}" for (r, c), mode in zip(df["size"], df["mode"])]
        df["attention_ratio"] = df["attention_ms"] / df["attention_limit_ms"]
    return manifest, df, dropped


def table(df, *, value, title, unit, group, column, col_label):
    """Rows = batch; one column per `column` value inside each `group` value."""
    groups = list(dict.fromkeys(df[group]))
    cols = sorted(set(df[column]), key=lambda v: (isinstance(v, str), v))
    index = {(r[group], r[column], r["batch"]): r for r in df.to_dict("records")}
    rows = []
    for b in sorted(set(df["batch"])):
        cells = []
        for g in groups:
            for c in cols:
                r = index.get((g, c, b))
                if r is None:
                    cells.append({"text": "", "title": "not in this sweep"})
                elif r["status"] != "ok":
                    cells.append({"text": STATUS.get(r["status"], r["status"]), "title": r["note"] or "",
                                  "cls": "bad"})
                elif value in TIMED and r.get("noise") == "noisy":
                    cells.append({"text": fmt(r[value]), "cls": "noisy",
                                  "title": f"noisy: timed runs {fmt(r['min_ms'])}–{fmt(r['max_ms'])} ms, "
                                           f"CV {fmt(r['cv_pct'])}%, load average {fmt(r['load_avg'])}"})
                else:
                    cells.append({"text": fmt(r[value]), "title": ""})
        rows.append({"batch": int(b), "cells": cells})
    return {"title": title, "unit": unit, "groups": groups, "cols": [col_label(c) for c in cols], "rows": rows}


def _gpt2(df):
    ok = df[df["status"] == "ok"]
    figs, s = {}, "prompt {:d}".format
    by_len = by(ok, "prompt_len", lambda v: s(int(v)))
    figs["time-batch"] = panels(by_len, "batch", [("total_ms", "")], "batch", "end-to-end ms")
    figs["memory-batch"] = panels(by_len, "batch", [("peak_memory_mib", ""), ("kv_cache_mib", " KV cache")],
                                  "batch", "MiB")
    figs["tokens-batch"] = panels(by_len, "batch", [("tokens_per_s", "")], "batch", "decode tokens/s")
    if ok["prompt_len"].nunique() > 1:
        batches = sorted(ok["batch"].unique())
        if len(batches) > MAX_PANELS:
            batches = [batches[i * (len(batches) - 1) // (MAX_PANELS - 1)] for i in range(MAX_PANELS)]
        sub = ok[ok["batch"].isin(batches)]
        figs["time-seq"] = panels(by(sub, "batch", lambda v: f"batch {int(v)}"), "prompt_len",
                                  [("total_ms", ""), ("ttft_ms", " TTFT")], "prompt tokens", "ms", log_x=False)
    limits = ok.dropna(subset=["ttft_ratio"])
    if len(limits):
        long = [("prefill (TTFT)", limits.assign(y=limits["ttft_ratio"])),
                ("decode step", limits.assign(y=limits["decode_ratio"]))]
        long = [(t, f.assign(series=f["series"] + " s" + f["prompt_len"].astype(int).astype(str))) for t, f in long]
        figs["ratio"] = panels(long, "batch", [("y", "")], "batch", "measured / roofline limit", log_y=True)
    if df["kv_groups"].nunique() > 1:
        kv = ok.assign(series=ok["model"] + " " + ok["mode"] + " b" + ok["batch"].astype(int).astype(str)
                       + " s" + ok["prompt_len"].astype(int).astype(str))
        figs["kv"] = panels([("decode ms per token", kv.assign(y=kv["decode_ms_per_token"])),
                             ("KV cache MiB (analytical)", kv.assign(y=kv["kv_cache_mib"])),
                             ("peak memory MiB", kv.assign(y=kv["peak_memory_mib"]))],
                            "kv_groups", [("y", "")], "G (query heads per K/V head)", "", log_x=True)
    one_len = df["prompt_len"].nunique() == 1
    group, column, label = (("prompt_len", "series", str) if one_len else
                            ("series", "prompt_len", lambda v: f"S={int(v)}"))
    metrics = [("total_ms", "End-to-end time", "ms, prefill + all decode steps"),
               ("ttft_ms", "Time to first token", "ms"), ("decode_ms_per_token", "Decode latency", "ms per token"),
               ("tokens_per_s", "Decode throughput", "tokens/s over the batch"),
               ("peak_memory_mib", "Peak memory", "MiB"), ("kv_cache_mib", "KV cache", "MiB, analytical")]
    if len(limits):
        metrics += [("ttft_ratio", "TTFT / roofline limit", "×"), ("decode_ratio", "Decode step / roofline limit", "×")]
    if df["idle_pct"].notna().any():
        metrics.append(("idle_pct", "Idle", "% of the profiled window"))
    tables = [table(df, value=v, title=t, unit=u, group=group, column=column, col_label=label) for v, t, u in metrics]
    if one_len:
        for t in tables:
            t["groups"] = [f"prompt {int(g)}" for g in t["groups"]]
    return figs, tables


def _sdpa(df):
    ok = df[df["status"] == "ok"]
    figs = {}
    parts = [("attention", ok.assign(y=ok["attention_ms"])),
             ("generating Q/K/V on the device", ok.assign(y=ok["input_ms"]))]
    if ok["h2d_ms"].notna().any():
        parts.append(("host-to-device copy of Q/K/V", ok.assign(y=ok["h2d_ms"])))
    figs["sdpa-time"] = panels(parts, "batch", [("y", "")], "batch", "ms")
    figs["sdpa-memory"] = panels([("", ok)], "batch", [("peak_memory_mib", "")], "batch", "peak MiB")
    if ok["rows"].nunique() > 1:
        rows = ok.assign(series=ok["cols"].astype(int).astype(str) + " cols " + ok["mode"] + " b"
                         + ok["batch"].astype(int).astype(str))
        figs["sdpa-rows"] = panels([("", rows)], "rows", [("attention_ms", "")], "rows (tokens)", "attention ms",
                                   log_x=False)
    if ok["attention_ratio"].notna().any():
        figs["ratio"] = panels([("", ok)], "batch", [("attention_ratio", "")], "batch",
                               "measured / roofline limit", log_y=True)
    metrics = [("attention_ms", "Attention", "ms"), ("input_ms", "Generating Q/K/V on the device", "ms")]
    if df["h2d_ms"].notna().any():
        metrics.append(("h2d_ms", "Host-to-device copy of Q/K/V", "ms"))
    metrics += [("gflops_per_s", "Attention throughput", "GFLOP/s"), ("peak_memory_mib", "Peak memory", "MiB")]
    if ok["attention_ratio"].notna().any():
        metrics.append(("attention_ratio", "Attention / roofline limit", "×"))
    tables = [table(df, value=v, title=t, unit=u, group="mode", column="size",
                    col_label=lambda rc: f"{rc[0]}×{rc[1]}") for v, t, u in metrics]
    return figs, tables


def sweep_context(folder):
    manifest, df, dropped = load_sweep(folder)
    figs, tables = (_gpt2 if manifest["workload"] == "gpt2" else _sdpa)(df) if len(df) else ({}, [])
    ratios = [df[c] for c in ("ttft_ratio", "decode_ratio", "attention_ratio") if c in df]
    below = bool(any((r < 1).any() for r in ratios))  # faster than a lower bound: the peaks are wrong
    counts = df["status"].value_counts().to_dict()
    shown = [c for c in df.columns if c not in ("point", "series", "finished", "size") and df[c].notna().any()
             and not (df[c] == "").all()]
    return {
        "title": Path(folder).resolve().name, "version": __version__, "manifest": manifest,
        "generated": _dt.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "counts": counts, "done": len(df), "below_limit": below, "dropped": dropped, "tables": tables,
        "columns": shown, "rows": [[r[c] for c in shown] for r in df.to_dict("records")],
        "numeric": [c not in TEXT for c in shown], "fmt": fmt,
        "figures_json": script_json(figs), "figure_ids": list(figs), "noise_rule": NOISE_RULE,
    }


def _asset(name):
    return resources.files("profkit.report").joinpath("templates", name).read_text(encoding="utf-8")


def render_sweep(folder):
    from plotly.offline import get_plotlyjs

    ctx = sweep_context(folder)
    ctx.update(css=Markup(_asset("report.css") + _asset("sweep.css")),
               js=Markup(_asset("perfetto.js") + _asset("report.js")),
               plotly_js=Markup(get_plotlyjs()))
    return _env.get_template("sweep.html").render(**ctx)


def build_sweep_report(folder, out=None):
    """Write the sweep's page (default reports/<folder name>.html); return its path."""
    from profkit.report.build import REPORTS_DIR, _safe

    out = Path(out) if out else REPORTS_DIR / f"{_safe(Path(folder).resolve().name)}.html"
    if out.suffix.lower() not in (".html", ".htm"):
        raise ProfkitError(f"the report is an HTML file: name it *.html, not {out.name}")
    write_text_atomic(out, render_sweep(folder))
    return out

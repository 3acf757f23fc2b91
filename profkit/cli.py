"""Command line: parse arguments, call the layers, print. No logic lives here."""

import os
import sys
import warnings
from pathlib import Path

import click

from profkit import __version__
from profkit.common.models import BUILTIN
from profkit.errors import ProfkitError

MODEL_NAMES = ", ".join(BUILTIN)


def _rules_option(command):
    """--rules FILE: the user's classification rules (TOML), tried before the built-in ones."""
    return click.option("--rules", "rules_file", type=click.Path(dir_okay=False, path_type=Path),
                        help="TOML file of classification rules tried before the built-in ones "
                             "(see `profkit rules`).")(command)


def _load_rules(path):
    if path is None:
        return ()
    from profkit.analysis.analyze import load_rules

    return load_rules(path)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "-V", "--version", prog_name="profkit")
def cli():
    """Profile LLM inference and explain where the time goes."""


@cli.command()
@click.argument("trace_path", metavar="TRACE|DIR", type=click.Path(path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (schema: docs/schema.json).")
@click.option("--window", type=click.Choice(["gpu", "steps", "hta"]), default="gpu", show_default=True,
              help="gpu: first to last GPU activity; steps: the ProfilerStep range; "
                   "hta: HTA's window (drops the last step), to compare with HTA.")
@click.option("--top", type=click.IntRange(1), default=10, show_default=True, help="Kernels to list.")
@click.option("--all-gaps", is_flag=True, help="--json: list every idle gap (gaps.all), not only the 20 largest.")
@click.option("--peak-bw", type=click.FloatRange(min=0, min_open=True), help="Peak memory bandwidth, GB/s "
              "(overrides the device table or CPU calibration).")
@click.option("--peak-tflops", type=click.FloatRange(min=0, min_open=True), help="Peak TFLOP/s for the "
              "trace's dtype (overrides the device table or CPU calibration).")
@click.option("--calibration", type=click.Path(dir_okay=False, path_type=Path),
              help="CPU calibration file from `profkit calibrate`  [default: the peaks a profkit capture recorded, "
                   "else the user cache's profkit/calibration.json].")
@click.option("--jobs", "-j", type=click.IntRange(1), default=1, show_default=True,
              help="DIR: analyse this many ranks at once, in separate processes.")
@click.option("--dask", "use_dask", is_flag=True, help="DIR: analyse the ranks on Dask workers (a local "
              "cluster on 127.0.0.1 unless --scheduler is given; needs profkit[dask]).")
@click.option("--scheduler", metavar="ADDRESS", help="DIR: an existing Dask scheduler, e.g. tcp://host:8786.")
@_rules_option
@click.option("--no-cache", is_flag=True, help="Read the trace file even if its columns are cached.")
@click.option("--whatif-against", type=click.Path(dir_okay=False, path_type=Path), metavar="TRACE",
              help="A CUDA-graph run (GPU trace) or compiled run (CPU trace) of the same workload: "
                   "check the what-if prediction against its measured step.")
@click.option("--by-annotation", "by_annotation", is_flag=False, flag_value="", default=None, metavar="[PATTERN]",
              help="Instead of the analysis: per user range (record_function, NVTX, gpu_user_annotation) whose "
                   "name the regex PATTERN finds (all without one), its CPU time, kernels and GPU time.")
def analyze(trace_path, as_json, window, top, all_gaps, peak_bw, peak_tflops, calibration, jobs, use_dask,
            scheduler, rules_file, no_cache, whatif_against, by_annotation):
    """Explain where the time goes in a PyTorch profiler trace (.json or .json.gz).

    Given a folder of per-rank traces, analyse every rank and name the stragglers."""
    # Imported here so `profkit --help`, `capture` and a re-analysis answered from the cache do not pay
    # for pandas (profkit.analysis.result_cache).
    from profkit.analysis import analyze as A
    from profkit.analysis.options import AnalysisOptions
    from profkit.runfiles.manifest import read_manifest
    from profkit.runfiles.paths import is_manifest

    _no_cache(no_cache)
    options = AnalysisOptions(window=window, peak_bw=peak_bw, peak_tflops=peak_tflops, calibration=calibration,
                              every_gap=all_gaps, top=top, jobs=jobs, dask=use_dask, scheduler=scheduler,
                              rules=_load_rules(rules_file), whatif_against=whatif_against)
    if by_annotation is not None and not trace_path.is_dir():
        from profkit.report import console

        table = A.annotation_table(trace_path, by_annotation or None)
        if as_json:
            click.echo(table.to_json(orient="records", indent=2))
        else:
            console.render_annotations(table)
        return
    if is_manifest(trace_path):
        traces = ", ".join(m.trace for m in read_manifest(trace_path).modes)
        raise ProfkitError(f"{trace_path} is a run manifest, not a trace: analyze one of its traces ({traces}) "
                           f"in {trace_path.parent}, or compare them all with: profkit report {trace_path}")
    if trace_path.is_dir():
        if whatif_against:
            raise ProfkitError("--whatif-against compares one trace with one run, not a folder of ranks")
        from profkit.analysis.result import encode
        from profkit.report import console
        from profkit.runfiles.paths import traces_in

        summaries = A.run_ranks(traces_in(trace_path), options)
        why = A.why_not_a_job(summaries) if len(summaries) > 1 else None
        if why:
            note = f"{trace_path}: not one job ({why}): each trace is analysed alone"
            if as_json:
                click.echo(encode({"not_a_job": note, "traces": summaries}).decode())
            else:
                click.echo(f"profkit: {note}", err=True)
                for s in summaries:
                    console.render(s, top=options.top)
        elif as_json:
            click.echo(encode(A.job(summaries, trace_path)).decode())
        else:
            console.render_job(A.job(summaries, trace_path))
    elif as_json:
        click.echo(A.summary_json(trace_path, options).decode())
    else:
        from profkit.report import console

        console.render(A.summary(trace_path, options), top=options.top)


@cli.command()
@click.option("--model", default="gpt2", show_default=True,
              help=f"{MODEL_NAMES} (random weights, published configs), or PATH: a local Hugging Face "
                   "checkpoint directory or config.json of GPT-2, Llama, Qwen2 or Mistral (random weights "
                   "unless the directory holds them).")
@click.option("--mode", default="all", show_default=True,
              help="eager, compiled, cudagraph, all (every mode the device supports), "
                   "or a comma list such as eager,compiled.")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--batch", type=int, default=1, show_default=True, help="Sequences per forward pass.")
@click.option("--prompt-len", type=int, default=128, show_default=True, help="Prompt tokens (the prefill pass).")
@click.option("--new-tokens", type=int, default=32, show_default=True,
              help="Decode steps after the first token; prompt-len + new-tokens <= the model's positions.")
@click.option("--dtype", default="float32", show_default=True, help="float32, float16 or bfloat16.")
@click.option("--kv-groups", type=int, default=None,
              help="G query heads per K/V head (divides the heads; GPT-2's K/V heads are mean-pooled, a "
                   "Llama-family config gets n_head/G)  [default: the model's own].")
@click.option("--warmup", type=int, default=2, show_default=True,
              help="Untimed generations first (after compile / graph capture).")
@click.option("--steps", type=int, default=3, show_default=True,
              help="Generations timed without the profiler, then generations profiled (one profiler step each).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the random weights and prompt.")
@click.option("--out", type=click.Path(path_type=Path), default=Path("traces"), show_default=True,
              help="Folder for <model>-<mode>-b<B>-s<S>.json.gz traces and .meta.json sidecars.")
def capture(model, mode, device, batch, prompt_len, new_tokens, dtype, kv_groups, warmup, steps, seed, out):
    """Profile decoder inference (prefill + decode) under torch.profiler.

    Never uses the network: built-in sizes get random weights (same shapes and
    cost as the trained model), token ids are synthetic with a fixed seed.
    """
    import shlex

    from profkit.capture import require_torch

    require_torch("capture")
    from profkit.capture.config import CaptureConfig
    from profkit.capture.modes import resolve_device, resolve_modes

    # Every argument is checked before the first model is built; the mode and device first,
    # before transformers is imported (a mode this machine cannot run is refused in seconds).
    cfg = CaptureConfig(model=model, mode=mode, device=device, batch=batch, prompt_len=prompt_len,
                        new_tokens=new_tokens, dtype=dtype, warmup=warmup, steps=steps, seed=seed, kv_groups=kv_groups,
                        out_dir=out).check()
    dev = resolve_device(device)
    modes = resolve_modes(mode, dev)
    from profkit.capture.console import CaptureProgress, print_timings
    from profkit.capture.job import capture_job
    from profkit.capture.models import check_fits, resolve_model, with_kv_groups
    from profkit.capture.run import check_args, check_out_dir

    spec = with_kv_groups(resolve_model(model), kv_groups)
    check_args(spec, cfg)
    check_fits(spec, cfg, dev)
    check_out_dir(out)
    command = shlex.join(["profkit", "capture", "--model", model, "--mode", mode, "--device", device,
                          "--batch", str(batch), "--prompt-len", str(prompt_len), "--new-tokens", str(new_tokens),
                          "--dtype", dtype, *(["--kv-groups", str(kv_groups)] if kv_groups else []),
                          "--warmup", str(warmup), "--steps", str(steps), "--seed", str(seed), "--out", str(out)])
    with CaptureProgress() as progress:
        results, manifest = capture_job(cfg, modes, spec, command, progress.run,
                                        notify=lambda text: click.echo(f"profkit: {text}", err=True))
    print_timings(results, out)
    click.echo(f"  {manifest.name}  (the run manifest: profkit report {manifest})")


@cli.command()
@click.option("--workload", type=click.Choice(["gpt2", "sdpa"]), default="gpt2", show_default=True,
              help="gpt2: prefill + decode generations of any --model (the name is historical); "
                   "sdpa: scaled_dot_product_attention micro-benchmark.")
@click.option("--model", "models", help=f"gpt2: comma list of {MODEL_NAMES} or PATH  [default: gpt2].")
@click.option("--mode", "modes", help="Comma list of eager, compiled, cudagraph (CUDA only; not sdpa) or all  "
              "[default: eager].")
@click.option("--batch", "batches", help="Comma list of batch sizes  [default: 1; sdpa: 8,32,128].")
@click.option("--prompt-len", "prompt_lens", help="gpt2: comma list of prompt lengths  [default: 128].")
@click.option("--new-tokens", type=int, help="gpt2: decode steps per generation  [default: 32].")
@click.option("--kv-groups", "kv_groups", help="gpt2: comma list of G, query heads sharing one K/V head "
              "(G divides n_head; 1 is multi-head attention)  [default: each model's own].")
@click.option("--rows", help="sdpa: comma list of rows (tokens) of Q/K/V  [default: 400,800,1200,1600,2000].")
@click.option("--cols", help="sdpa: comma list of columns (width) of Q/K/V  [default: 400].")
@click.option("--device", default="auto", show_default=True, help="auto, cpu or cuda.")
@click.option("--dtype", default="float32", show_default=True, help="float32, float16 or bfloat16.")
@click.option("--warmup", type=int, default=2, show_default=True, help="Untimed runs per point.")
@click.option("--steps", type=int, default=3, show_default=True, help="Timed runs per point (medians reported).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for weights, prompts and inputs.")
@click.option("--profile", is_flag=True, help="gpt2: also record a trace per point (traces/) and put its "
              "analyze summary (idle %, class shares) in the row; takes about twice as long.")
@click.option("--calibration", type=click.Path(dir_okay=False, path_type=Path),
              help="CPU calibration file for the roofline limits  [default: the user cache's "
                   "profkit/calibration.json].")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), required=True,
              help="The sweep folder (e.g. runs/NAME): results.csv, manifest.json, traces/. "
                   "Running the same command again resumes it.")
@_rules_option
def sweep(workload, models, modes, batches, prompt_lens, new_tokens, kv_groups, rows, cols, device, dtype,
          warmup, steps, seed, profile, calibration, out, rules_file):
    """Measure a grid: model x kv-groups x mode x prompt length x batch (or SDPA shapes).

    One row per point is appended to OUT/results.csv as soon as the point ends:
    Ctrl-C or a crash loses nothing finished, and the same command resumes.
    Render it with `profkit report OUT`.
    """
    import shlex

    from profkit.capture import require_torch

    require_torch("sweep")
    from profkit.sweep.console import SweepProgress, print_table
    from profkit.sweep.grid import make_plan
    from profkit.sweep.run import run_sweep

    rules = _load_rules(rules_file)
    plan = make_plan(workload, device=device, dtype=dtype, warmup=warmup, steps=steps, seed=seed, models=models,
                     modes=modes, batches=batches, prompt_lens=prompt_lens, kv_groups=kv_groups,
                     new_tokens=new_tokens, rows=rows, cols=cols, profile=profile)
    ctx = click.get_current_context()
    args = ["profkit", "sweep"]
    for p in ctx.command.params:
        value = ctx.params[p.name]
        if value is not None and value is not False:
            args += [p.opts[0]] if value is True else [p.opts[0], str(value)]
    try:
        with SweepProgress() as progress:
            results = run_sweep(plan, out, command=shlex.join(args), progress=progress, calibration=calibration,
                                    rules=rules)
    except KeyboardInterrupt:
        click.echo(f"profkit: finished points are kept in {out / 'results.csv'}; run the same command to resume",
                   err=True)
        raise
    print_table(workload, results, out)


@cli.command("roofline")
@click.option("--model", default="gpt2", show_default=True,
              help=f"{MODEL_NAMES}, or PATH: a config.json (or checkpoint directory) of GPT-2, Llama, Qwen2 "
                   "or Mistral.")
@click.option("--device", "device_name", metavar="NAME",
              help="A GPU from profkit's hardware table (H100, h100-pcie, 'RTX 4090', ...) or cpu (the "
                   "`profkit calibrate` peaks). Without it only memory and FLOPs are shown.")
@click.option("--batch", type=click.IntRange(1), default=1, show_default=True, help="Sequences per pass.")
@click.option("--prompt-len", type=click.IntRange(1), default=128, show_default=True, help="Prompt tokens.")
@click.option("--new-tokens", type=click.IntRange(1), default=32, show_default=True, help="Generated tokens.")
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default="float16",
              show_default=True, help="Weights, activations and KV cache.")
@click.option("--calibration", type=click.Path(dir_okay=False, path_type=Path),
              help="--device cpu: the calibration file  [default: ~/.cache/profkit/calibration.json].")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
def roofline_cmd(model, device_name, batch, prompt_len, new_tokens, dtype, calibration, as_json):
    """Memory, FLOPs and roofline limits of prefill and decode for a model, no capture needed.

    The limit of a phase is max(FLOPs / peak FLOP/s, bytes / peak bandwidth):
    no implementation on that device can be faster. See docs/roofline.md.
    """
    import json

    from profkit.common.hardware import lookup
    from profkit.common.models import shape_of
    from msgspec import to_builtins

    from profkit.analysis.cost.roofline import estimate
    from profkit.report.estimate import render_estimate

    shape = shape_of(model)
    device = lookup(device_name, calibration) if device_name else None
    est = estimate(shape, dtype, batch, prompt_len, new_tokens, device=device, reason="no --device given")
    if as_json:
        click.echo(json.dumps({"model": model, **to_builtins(est)}, indent=2))
    else:
        render_estimate(model, est)


@cli.command()
@click.option("--out", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="Where to save the JSON  [default: $XDG_CACHE_HOME/profkit/calibration.json, "
                   "else ~/.cache/profkit/calibration.json].")
@click.option("--triad-mb", type=click.FloatRange(min=0, min_open=True), default=512, show_default=True,
              help="Total MB of the three triad arrays (keep it well above the last-level cache).")
@click.option("--matmul-n", type=click.IntRange(1), default=2048, show_default=True,
              help="Largest n of the n x n matmuls (each dtype uses the largest power of two that runs in "
                   "about 0.25 s, so slow dtypes and busy machines stay quick).")
@click.option("--reps", type=click.IntRange(1), default=3, show_default=True,
              help="Timed repetitions of each measurement (the best is kept).")
def calibrate(out, triad_mb, matmul_n, reps):
    """Measure this CPU's memory bandwidth and matmul TFLOP/s for CPU-trace efficiency.

    CPU captures measure once and reuse the result; this re-measures (e.g. on an
    idle machine when the cached peaks were measured under load)."""
    import json

    from profkit.capture import require_torch

    require_torch("calibrate")
    from profkit.common.hardware import load_note
    from profkit.capture.calibrate import calibrate as measure
    from profkit.capture.calibrate import save

    result = measure(triad_mb=triad_mb, matmul_n=matmul_n, reps=reps)
    path = save(result, out)
    click.echo(json.dumps(result, indent=2))
    click.echo(f"saved to {path}", err=True)
    note = load_note(result["load"])
    if note:
        click.echo(f"profkit: warning: {note}", err=True)


def _keep_secrets_option(f):
    return click.option("--keep-secrets", is_flag=True,
                        help="Copy credential-like trace metadata (tokens, keys, passwords) as it is; by default "
                             "profkit's copies of a trace mask it.")(f)


@cli.command()
@click.argument("traces", metavar="RUN.json|TRACE|DIR ...", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), default=None,
              help="The HTML file to write (default: reports/<input name>.html).")
@click.option("--open", "open_browser", is_flag=True, help="Open the report in the web browser.")
@click.option("--no-hta", is_flag=True, help="Skip the HolisticTraceAnalysis section even when HTA is installed.")
@_rules_option
@click.option("--no-cache", is_flag=True, help="Read the trace files even if their columns are cached.")
@_keep_secrets_option
def report(traces, output, open_browser, no_hta, rules_file, no_cache, keep_secrets):
    """Write an HTML report of one trace, or compare several (a run manifest, files or a folder).

    `profkit report traces/run.json` shows every mode of that capture side by side;
    a folder stands for its latest run manifest, else for every trace in it.
    Several runs get one column each, ordered eager -> compiled -> cudagraph when
    their modes are known. Annotated copies of the traces are written beside the
    report (<name>_traces/) for its "Open in Perfetto" buttons; those need the
    page served over http: run `profkit serve`.
    """
    import webbrowser

    from profkit.analysis.options import AnalysisOptions
    from profkit.report.build import build_report
    from profkit.sweep.store import is_sweep

    _no_cache(no_cache)
    options = AnalysisOptions(rules=_load_rules(rules_file))
    if len(traces) == 1 and is_sweep(traces[0]):  # a `profkit sweep` folder
        from profkit.report.sweep import build_sweep_report

        path = build_sweep_report(traces[0], output)
        click.echo(str(path))
    else:
        path = build_report(traces, output, hta=not no_hta, options=options, keep_secrets=keep_secrets,
                            notify=lambda text: click.echo(f"profkit: {text}", err=True))
        click.echo(str(path))
        click.echo(f"open it in a browser; for the Perfetto buttons run: profkit serve {path.parent}", err=True)
    if open_browser:
        webbrowser.open(path.resolve().as_uri())


@cli.command("rules")
@_rules_option
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
def rules_command(rules_file, as_json):
    """Print the classification rules in the order they are tried (yours first with --rules)."""
    import json

    from profkit.analysis.analyze import rule_table
    from profkit.report.console import render_rules

    table = rule_table(_load_rules(rules_file))
    if as_json:
        click.echo(json.dumps(table, indent=2))
    else:
        render_rules(table)


@cli.command()
@click.argument("trace_path", metavar="TRACE", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path, dir_okay=False), required=True,
              help="Where to write the annotated trace (gzip Chrome JSON, e.g. OUT.json.gz).")
@_keep_secrets_option
def annotate(trace_path, output, keep_secrets):
    """Copy a trace, adding profkit's idle gaps (named by cause) and kernel classes as Perfetto tracks."""
    from profkit.report.annotate import annotate as write_annotated

    counts = write_annotated(trace_path, output, keep_secrets=keep_secrets)
    click.echo(str(output))
    if counts["masked"]:
        click.echo(f"profkit: masked {len(counts['masked'])} credential-like metadata value(s) in the copy "
                   f"({', '.join(counts['masked'][:3])}); --keep-secrets copies them as they are", err=True)
    click.echo(f"{counts['gaps']} idle gaps and {counts['labelled']} classified events; open it in "
               "https://ui.perfetto.dev", err=True)


@cli.command("open")
@click.argument("inputs", metavar="RUN.json|TRACE ...", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--port", type=click.IntRange(0, 65535), default=0, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
@click.option("--no-browser", is_flag=True, help="Only print the URL to open.")
@_keep_secrets_option
def open_(inputs, port, no_browser, keep_secrets):
    """Open traces in the Perfetto UI (ui.perfetto.dev), with profkit's gap and class tracks.

    Serves the traces and annotated copies on 127.0.0.1 only, and opens a page
    that loads the Perfetto UI and hands it each trace in the browser (Perfetto's
    postMessage protocol). The UI needs internet; the trace never leaves this machine.
    """
    import tempfile
    import webbrowser

    from profkit.report.opener import open_server
    from profkit.report.serve import url_of

    _stop_on_sigterm()  # the temporary folder (a hard link to each trace) goes with the server
    with tempfile.TemporaryDirectory(prefix="profkit-open-") as tmp:
        server, url, staged = open_server(inputs, tmp, port, keep_secrets=keep_secrets,
                                          notify=lambda text: click.echo(f"profkit: {text}", err=True))
        click.echo(url)
        for t in staged:
            click.echo(f"  {t['label']}: {url_of(server, t['original'])}  (annotated: "
                       f"{url_of(server, t['annotated'])})")
        if no_browser or not webbrowser.open(url):
            click.echo("open that URL in a browser on this machine", err=True)
        click.echo("the Perfetto UI loads from ui.perfetto.dev; the traces stay on 127.0.0.1. Ctrl-C to stop",
                   err=True)
        try:
            server.serve_forever()
        finally:
            server.server_close()


@cli.command()
@click.argument("folder", metavar="[DIR]", required=False, default=Path("reports"),
                type=click.Path(path_type=Path, file_okay=False))
@click.option("--port", type=click.IntRange(0, 65535), default=8765, show_default=True,
              help="Port on 127.0.0.1 (0 picks a free one).")
def serve(folder, port):
    """Serve the reports folder on http://127.0.0.1 (that folder only) for the Perfetto buttons."""
    from profkit.report.serve import make_server, url_of

    server = make_server(folder, port)
    _stop_on_sigterm()
    click.echo(url_of(server))
    for page in sorted(folder.glob("*.html"))[:20]:
        click.echo(f"  {url_of(server, page.name)}")
    click.echo("serving on 127.0.0.1 only; Ctrl-C to stop", err=True)
    try:
        server.serve_forever()
    finally:
        server.server_close()


def _stop_on_sigterm():
    """SIGTERM (kill, a service manager) ends a serving command as Ctrl-C does: cleaning up."""
    import signal

    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))


def _no_cache(flag):
    """--no-cache: the loader reads PROFKIT_NO_CACHE, in this process and in rank workers."""
    if flag:
        os.environ["PROFKIT_NO_CACHE"] = "1"


@cli.command()
@click.argument("trace_path", metavar="TRACE", type=click.Path(path_type=Path))
@click.argument("query")
@click.option("--format", "fmt", type=click.Choice(["table", "csv", "json"]), default="table", show_default=True,
              help="table: aligned text (long names cut); csv and json keep every value whole.")
@click.option("--no-cache", is_flag=True, help="Read the trace file even if its columns are cached.")
@click.option("--limit", type=click.IntRange(0), default=10_000, show_default=True,
              help="Print at most this many rows (0: all of them; they are then all held in memory).")
def sql(trace_path, query, fmt, no_cache, limit):
    """Run one read-only SQL query over a trace (tables gpu, runtime, cpu_ops, annotations,
    steps, flows, kernels_by_class; see docs/sql.md). Needs profkit[sql] (DuckDB)."""
    from profkit.analysis import sql as trace_sql
    from profkit.trace import load

    _no_cache(no_cache)
    columns, rows, more = trace_sql.query(load(trace_path), query, limit or None)
    click.echo(trace_sql.render(columns, rows, fmt))
    if more:
        click.echo(f"profkit: showed the first {limit} rows of more (--limit N to show more, --limit 0 for all)",
                   err=True)


@cli.command()
@click.argument("trace_path", metavar="TRACE", type=click.Path(path_type=Path))
@click.argument("out", metavar="OUT", type=click.Path(path_type=Path))
@click.option("--format", "fmt", type=click.Choice(["duckdb", "parquet", "csv"]), default=None,
              help="duckdb: one file (OUT ends in .duckdb, the default then); parquet, csv: a folder, a file per table.")
@click.option("--force", is_flag=True, help="Replace OUT if it exists.")
def export(trace_path, out, fmt, force):
    """Write a trace's tables (those of `profkit sql`, and the ops, op_shapes, gaps and classes of the analysis)
    to a DuckDB file or a folder of Parquet or CSV files. Needs profkit[sql] (DuckDB)."""
    from profkit.analysis.export import export as write

    fmt, counts = write(trace_path, out, fmt, force)
    click.echo(str(out))
    click.echo(f"profkit: {len(counts)} tables as {fmt} ({', '.join(f'{k} {n}' for k, n in counts.items())} rows)",
               err=True)


@cli.command()
@click.argument("action", type=click.Choice(["info", "clear"]))
def cache(action):
    """Show or empty the cache of loaded traces ($PROFKIT_CACHE_DIR, else ~/.cache/profkit/traces)."""
    from profkit.trace import cache as trace_cache

    if action == "clear":
        n, size = trace_cache.clear()
        click.echo(f"removed {n} cache file{'s' if n != 1 else ''} ({size / 2**20:.1f} MB) from {trace_cache.cache_dir()}")
    else:
        i = trace_cache.info()
        click.echo(f"{i['dir']}: {i['entries']} cached trace{'s' if i['entries'] != 1 else ''} and "
                   f"{i['results']} analysis result{'s' if i['results'] != 1 else ''}, "
                   f"{i['bytes'] / 2**20:.1f} MB (limit {i['max_bytes'] >> 20} MB, loader version {i['loader_version']})")


def _warning_line(message, category, filename, lineno, file=None, line=None):
    """Python's warnings as one line on stderr (not the file, line and quoted source beneath)."""
    text = str(message)
    click.echo(text if text.startswith("profkit") else f"profkit: warning: {category.__name__}: {text}", err=True)


def main(argv=None):
    """Entry point: user errors become one line on stderr and exit status 2."""
    if not os.environ.get("PROFKIT_DEBUG"):
        warnings.showwarning = _warning_line
    try:
        cli.main(args=argv, prog_name="profkit", standalone_mode=False)
    except ProfkitError as e:
        click.echo(f"profkit: error: {e}", err=True)
        sys.exit(2)
    except click.exceptions.Abort:
        click.echo("profkit: interrupted", err=True)
        sys.exit(130)
    except click.exceptions.Exit as e:
        sys.exit(e.exit_code)
    except click.ClickException as e:
        e.show()
        sys.exit(e.exit_code)
    except KeyboardInterrupt:
        click.echo("profkit: interrupted", err=True)
        sys.exit(130)
    except BrokenPipeError:
        # `profkit analyze ... | head` must not print a traceback.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        sys.exit(1)
    except Exception as e:  # a bug in profkit, not the user's input
        if os.environ.get("PROFKIT_DEBUG"):
            raise
        click.echo(f"profkit: internal error: {type(e).__name__}: {e} "
                   "(please report it; PROFKIT_DEBUG=1 shows the traceback)", err=True)
        sys.exit(1)
    sys.exit(0)


if __name__ == "__main__":
    main()

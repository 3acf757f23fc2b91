"""HTML reports, annotated traces for Perfetto, and a local server for both.

    from profkit.report.build import build_report
    from profkit.report.annotate import annotate
    build_report(["traces/gpt2-eager.json.gz", "traces/gpt2-compiled.json.gz"])

Nothing is imported here: `profkit analyze` uses profkit.report.console and
should not pay for jinja2 or plotly.
"""

"""The README and docs/: generated pages are current, the README fits on a screen and its
commands are the ones CI runs, and its links resolve."""

import re
from tests.helpers import REPO
from tools.gen_docs import CLI_MD, HARDWARE_MD, cli_markdown, hardware_markdown

ROOT = REPO
README = (ROOT / "README.md").read_text()
# Pages other branches write; linked from the README before they land.
WRITTEN_ELSEWHERE = {"schema.md", "schema.json", "findings.md", "classification.md", "sql.md", "roofline.md",
                     "gpu-smoke.md"}


def test_cli_reference_is_generated_from_the_commands():
    assert CLI_MD.read_text() == cli_markdown(), "docs/cli.md is stale: run python tools/gen_docs.py"


def test_hardware_page_is_generated_from_the_table():
    assert HARDWARE_MD.read_text() == hardware_markdown(), "docs/hardware.md is stale: run python tools/gen_docs.py"


def test_readme_fits_on_a_screen():
    assert len(README.splitlines()) <= 250


def test_readme_test_command_is_what_ci_runs():
    ci = (ROOT / ".ci" / "run").read_text()
    install = re.search(r"^pip install -q (torch==\S+ -e '\.\[[^']*\]')$", ci, re.M).group(1)
    assert f"pip install {install} && python -m pytest -q -rs" in README
    assert "\npython -m pytest -q -rs\n" in ci


def test_readme_main_command_captures_and_reports_the_run():
    line = next(x for x in README.splitlines() if "profkit capture" in x and "pip install" in x)
    assert "pip install torch==2.13.0 -e '.[capture]'" in line
    assert line.endswith("profkit report traces/run.json")


def test_readme_quotes_the_recorded_main_job_run():
    """README's main-job part and docs/report.png come from one run (tools/main_job.py run)."""
    from tools import main_job

    assert main_job.check() == 0, "rerun python tools/main_job.py run on an idle machine"
    rec = __import__("json").loads(main_job.RECORD.read_text())
    written = set(rec["files"])
    # Every file the README says the main job writes is one the recorded run wrote.
    assert {"traces/run.json", "reports/traces.html", "traces/gpt2-eager-b1-s128.json.gz",
            "traces/gpt2-compiled-b1-s128.meta.json"} <= written
    assert any(f.startswith("reports/traces_traces/") for f in written)


def test_links_resolve():
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", page.read_text()):
            if target.startswith(("http://", "https://", "mailto:")):
                continue
            path = (page.parent / target).resolve()
            assert path.exists() or path.name in WRITTEN_ELSEWHERE, f"{page.name} links to missing {target}"


def test_screenshot_is_small():
    shot = ROOT / "docs" / "report.png"
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size < 400_000

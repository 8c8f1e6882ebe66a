from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from watchkeeper.alerts import Alert, Severity
from watchkeeper.events import ProcessEvent
from watchkeeper.export import HtmlReport, NetIntel, RunDir
from watchkeeper.testing.mmdb import write_mmdb
from watchkeeper.testing.rundir import XSS_COMMAND, RunDirBuilder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def html(mining_dir: Path) -> str:
    with RunDir(mining_dir) as run:
        return HtmlReport().render(run)


def test_summary_names_what_happened(html: str) -> None:
    summary = html[html.index('id="summary"'):html.index('id="timeline"')]
    assert "Critical: Stratum Mining URI On Command Line and 5 more alerts" in summary
    assert "process killed" in summary and "network cut" in summary
    for step in (1, 2, 3, 4):
        assert f'href="#step-{step}">step {step}</a>' in summary
    assert 'href="#step-0">step 0' not in summary
    assert "T1496.001 Compute Hijacking" in summary
    assert "1.97 <small>cores" in summary


def test_markup_from_the_run_is_escaped(html: str) -> None:
    assert "<script>window.__wk_pwned" not in html
    assert "&lt;script&gt;window.__wk_pwned=1&lt;/script&gt;" in html
    assert "<img src=x" not in html and "&lt;img src=x onerror=alert(1)&gt;.example" in html
    assert html.count("<script>") == 1  # ours, allowed by hash in the CSP


def test_page_loads_nothing_from_outside(html: str) -> None:
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html)
    assert csp and "default-src 'none'" in csp.group(1) and "'sha256-" in csp.group(1)
    assert not re.search(r"<(script|img|link|iframe|object|embed|audio|video|source)[^>]*\s"
                         r"(src|href)=\"(?!data:)", html)  # fmt: skip
    assert "@import" not in html and "url(" not in html
    assert 'href="https://attack.mitre.org/techniques/T1496/001/"' in html


def test_timeline_has_every_lane(html: str) -> None:
    svg = html[html.index("<svg"):html.index("</svg>")]
    for lane in ("Agent steps", "Processes", "Connections", "DNS", "CPU (cores)", "Memory", "Alerts"):
        assert f">{lane}</text>" in svg
    assert svg.count('class="tl-alert"') == 6
    assert svg.count('stroke-dasharray="4 3"') == 3  # kill, kill, cut_network
    assert "#b91c1c" in svg and "peak 1.97" in svg


def test_alert_cards_and_process_tree(html: str) -> None:
    assert html.count('<article class="card alert') == 6
    card = html[html.index('id="alert-3"'):]
    card = card[:card.index("</article>")]
    assert "Stratum mining protocol" in card and "process killed" in card
    assert "de.minexmr.com:4444" in card and "miner-pool" in card
    step2 = html[html.index('id="step-2"'):]
    step2 = step2[:step2.index("</details>")]
    assert step2.index(">2020</span>") < step2.index("<ul>") < step2.index(">2021</span>")
    assert "exit -9" in step2


def test_network_rows_are_enriched(html: str) -> None:
    net = html[html.index('id="network"'):html.index('id="dns"')]
    assert net.count("<tr") == 5 and net.count('class="flagged"') == 3
    assert re.search(r"1:[A-Za-z0-9+/]{27}=", net)  # a Community ID
    assert "tunnel-service: tunnel.us.ngrok.com" in net
    assert "ASN / location" not in net  # no --mmdb


def test_mmdb_adds_asn_and_location(mining_dir: Path, tmp_path: Path) -> None:
    db = write_mmdb(tmp_path / "asn.mmdb", {
        "5.9.10.0/24": {"autonomous_system_number": 64500, "autonomous_system_organization": "Example Hosting",
                        "country": {"iso_code": "DE", "names": {"en": "Germany"}}},
    })  # fmt: skip
    with RunDir(mining_dir) as run, NetIntel([db]) as intel:
        page = HtmlReport(intel).render(run)
    net = page[page.index('id="network"'):page.index('id="dns"')]
    assert "ASN / location" in net and "AS64500 Example Hosting, DE" in net
    assert f"MaxMind DB {db}" in page


def test_an_empty_run_still_renders(tmp_path: Path) -> None:
    path = RunDirBuilder().write(tmp_path / "run")
    with RunDir(path) as run:
        page = HtmlReport().render(run)
    assert "No alerts: nothing in this run matched" in page
    assert "No network flows recorded." in page and "<svg" in page


def test_deep_and_wide_trees_are_bounded(tmp_path: Path) -> None:
    b = RunDirBuilder()
    b.step(0, "fork bomb", 1.0, 2.0)
    for pid in range(100, 2100):  # a chain 2000 deep
        b.add(ProcessEvent(ts=1.0 + pid / 1e4, pid=pid, ppid=pid - 1, image="/bin/sh",
                           command_line=f"sh {pid}", **b.ctx(0)))  # fmt: skip
    b.alert(Alert(rule_id="r", title="deep", severity=Severity.HIGH, ts=1.5, **b.ctx(0)))
    with RunDir(b.write(tmp_path / "run")) as run:
        start = time.monotonic()
        page = HtmlReport().render(run)
        assert time.monotonic() - start < 10
    tree = page[page.index('id="step-0"'):]
    assert tree.count("<ul>") == 48  # MAX_DEPTH nested lists, the rest drawn flat
    assert tree.count("<ul") - tree.count("</ul>") == 0 and ">2099</span>" in tree


# --- a real browser ------------------------------------------------------------------------

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]  # fmt: skip


def _playwright() -> object:
    if not os.path.exists(CHROMIUM):
        pytest.skip("no Debian chromium at /usr/bin/chromium (apt-get install chromium)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        pytest.skip("the playwright package is not installed (pip install playwright)")
    return sync_playwright


@pytest.mark.browser
def test_report_in_a_real_browser(mining_dir: Path, tmp_path: Path) -> None:
    sync_playwright = _playwright()
    run = shutil.copytree(mining_dir, tmp_path / "run")
    with RunDir(run) as opened:
        (run / "report.html").write_text(HtmlReport().render(opened), encoding="utf-8")
    url = (run / "report.html").as_uri()
    problems: list[str] = []
    requests: list[str] = []
    with tempfile.TemporaryDirectory(prefix="wk-chromium-") as profile, sync_playwright() as pw:  # type: ignore[operator]
        context = pw.chromium.launch_persistent_context(
            profile, executable_path=CHROMIUM, args=ARGS, headless=True,
            viewport={"width": 1366, "height": 900},
        )  # fmt: skip
        try:
            page = context.new_page()
            page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}")
                    if m.type in ("error", "warning") else None)  # fmt: skip
            page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto(url, wait_until="load")
            assert "Stratum Mining URI On Command Line" in page.inner_text("#summary .headline")
            assert page.locator("svg.timeline").count() == 1
            assert page.locator("svg.timeline a.tl-alert").count() == 6
            assert page.locator("article.alert").count() == 6
            # the markup in the command line is text, and it did not run
            assert page.evaluate("window.__wk_pwned") is None
            assert XSS_COMMAND.split(" > ")[0][5:] in page.inner_text("#step-4")
            # the little script works: filter alerts by severity, collapse the steps
            page.uncheck("input[data-sev=critical]")
            assert page.locator("article.alert:visible").count() == 4
            page.click("button[data-steps=close]")
            assert page.locator("details.step[open]").count() == 0
            page.click("button[data-steps=open]")
            page.check("input[data-sev=critical]")
            page.evaluate("window.scrollTo(0, 0)")
            artifacts = REPO / "test-artifacts"
            artifacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artifacts / "report.png"), full_page=True)
        finally:
            context.close()
    assert not problems, problems
    assert requests == [url], requests
    assert (REPO / "test-artifacts" / "report.png").stat().st_size > 10_000


def test_a_run_without_times_or_steps(tmp_path: Path) -> None:
    b = RunDirBuilder()
    b.add(ProcessEvent(pid=5, image="/bin/sh", command_line="sh -c id", **b.ctx(3)),
          ProcessEvent(pid=6, ppid=5, image="/usr/bin/id", command_line="id", **b.ctx(3)),
          ProcessEvent(pid=7, image="/bin/true", command_line="true", **b.ctx(None)))  # fmt: skip
    b.alert(Alert(rule_id="r", title="no time", severity=Severity.MEDIUM, **b.ctx(None)))
    with RunDir(b.write(tmp_path / "run")) as run:
        page = HtmlReport().render(run)
    assert 'id="step-3"' in page and 'id="step-none"' in page
    step3 = page[page.index('id="step-3"'):page.index('id="step-none"')]
    assert step3.index(">5</span>") < step3.index("<ul>") < step3.index(">6</span>")
    assert "Outside steps" in page and "+0.0 s" not in page

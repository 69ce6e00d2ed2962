"""The HTML run report (climnorm.report and `climnorm report`): self-contained, offline, checked in a real browser."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess
from pathlib import Path
from urllib.parse import unquote

import numpy as np
import pytest

from climnorm.cli import main

pytest.importorskip("matplotlib", reason="the plot extra (matplotlib) is not installed")
from matplotlib.image import imread

from climnorm.pictures.report import newest_log, parse_log, write_report
from helpers import assert_picture


def _chromium() -> str | None:
    return shutil.which("chromium") or ("/usr/bin/chromium" if Path("/usr/bin/chromium").exists() else None)


@pytest.fixture(scope="module")
def out_dir(pictures_run: Path) -> Path:
    return pictures_run


@pytest.fixture(scope="module")
def report(out_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The report written beside (not inside) the output directory, so its links must climb out."""
    return write_report(out_dir, tmp_path_factory.mktemp("elsewhere") / "sub" / "report.html")


def test_report_is_self_contained(report: Path) -> None:
    text = report.read_text()
    assert text.startswith("<!DOCTYPE html>")
    # nothing is fetched: no http(s) anywhere, no external resources, every image a data URI
    assert not re.search(r"https?:", text, re.I)
    assert not re.search(r"<(script|link|iframe|object|embed)\b", text, re.I)
    assert "@import" not in text and "url(" not in text
    sources = re.findall(r'\bsrc="([^"]*)"', text)
    assert len(sources) == 2 * 2  # the change plot of every variable x region
    for src in sources:
        assert src.startswith("data:image/png;base64,")
        png = base64.b64decode(src.split(",", 1)[1])
        assert_picture_bytes(png, 720, 450)
    for variable, region in (("pr", "AK"), ("pr", "CONUS"), ("tas", "AK"), ("tas", "CONUS")):
        assert f'id="change-{variable}-{region}"' in text


def assert_picture_bytes(png: bytes, width: int, height: int) -> None:
    pixels = imread(io.BytesIO(png), format="png")
    assert pixels.shape[:2] == (height, width) and float(pixels[..., :3].std()) > 0.05


def test_report_links_every_output_relatively(report: Path, out_dir: Path) -> None:
    text = report.read_text()
    hrefs = re.findall(r'\bhref="([^"]*)"', text)
    assert hrefs and all(not h.startswith("/") and "://" not in h for h in hrefs)
    targets = {(report.parent / unquote(h)).resolve() for h in hrefs}
    assert all(t.exists() for t in targets), [t for t in targets if not t.exists()]
    outputs = {p.resolve() for p in out_dir.rglob("*.nc")}
    assert outputs <= targets
    assert (out_dir / "manifest.sqlite").resolve() in targets
    assert newest_log(out_dir).path.resolve() in targets  # type: ignore[union-attr]


def test_report_summarises_the_run(report: Path) -> None:
    text = " ".join(report.read_text().split())
    assert "<th>normals</th><td>60</td>" in text
    assert "historical, ssp245, ssp585" in text and "SYNTH-ESM" in text
    assert "hybrid 2015-2017; future 2019-2021" in text
    # the target computed from 5 of 6 years, and the one skipped (warning in the run log)
    assert "Normals computed from fewer years than the window" in text
    assert "tas/CONUS/ssp245/tas_CONUS_ssp245_future_2021_6yr_normal.nc" in text
    assert re.search(r"WARNING</span></td><td>[^<]*2022: the archive ends in 2020", text), "skipped target missing"
    assert "run finished in" in text
    assert "input files" in text


def test_report_in_a_real_browser(report: Path, tmp_path: Path) -> None:
    chromium = _chromium()
    if chromium is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium; .ci/run installs it)")
    shot = tmp_path / "shot.png"
    profile = tmp_path / "profile"
    cmd = [
        chromium,
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
        f"--screenshot={shot}",
        "--window-size=1200,1600",
        report.resolve().as_uri(),
    ]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr[-2000:]
    pixels = assert_picture(shot, 1200, 1600)
    # more than a page of text: the embedded plots rendered (pale period shading, coloured lines)
    rgb = pixels[..., :3]
    coloured = np.abs(rgb - rgb.mean(axis=-1, keepdims=True)).max(axis=-1) > 0.1
    assert coloured.mean() > 0.005, "no coloured pixels: the embedded plots did not render"


def test_report_lists_the_products(products_run: Path, tmp_path: Path) -> None:
    text = " ".join(write_report(products_run, tmp_path / "report.html").read_text().split())
    assert "<th>products</th><td>daily, daily_smoothed, monthly</td>" in text
    assert "<td>tas</td><td>CONUS</td><td>ssp245</td><td>monthly</td>" in text
    assert len(re.findall(r'\bsrc="data:image/png', text)) == 2 * 2  # the change plots: daily normals


def test_parse_log(tmp_path: Path) -> None:
    log = tmp_path / "run-20240101-000000.log"
    log.write_text(
        "2024-01-01 00:00:00,001 INFO climnorm.catalog.scan: catalogued 3 files\n"
        "2024-01-01 00:00:01,002 WARNING climnorm.runner.pipeline: tas ssp245 future 2030: cannot be computed\n"
        "2024-01-01 00:00:02,003 ERROR climnorm.runner.pipeline: /a/b.nc: unreadable\n"
        "Traceback (most recent call last):\n"
        "  OSError: bad\n"
        "2024-01-01 00:00:03,004 INFO climnorm.runner.pipeline: run finished in 3.0 s: 1 written, 0 up to date\n"
    )
    parsed = parse_log(log)
    assert parsed.finished == "run finished in 3.0 s: 1 written, 0 up to date"
    assert [(e.level, e.time) for e in parsed.problems] == [
        ("WARNING", "2024-01-01 00:00:01"),
        ("ERROR", "2024-01-01 00:00:02"),
    ]
    assert parsed.problems[1].message.endswith("Traceback (most recent call last):\n  OSError: bad")
    (tmp_path / "logs").mkdir()
    (tmp_path / "logs" / log.name).write_text(log.read_text())
    (tmp_path / "logs" / "run-20231231-000000.log").write_text("")
    assert newest_log(tmp_path).path == tmp_path / "logs" / log.name
    assert newest_log(tmp_path / "none").path is None


def test_cli_report(out_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "r.html"
    assert main(["report", str(out_dir), "-o", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().out
    assert out.read_text().count("data:image/png;base64,") == 4
    assert main(["report", str(tmp_path / "missing")]) == 2
    assert "missing: no manifest here" in " ".join(capsys.readouterr().err.split())


def test_long_logs_list_errors_first_and_count_the_rest(tmp_path: Path) -> None:
    from climnorm.pictures.report import MAX_ROWS, _problems_section

    log = tmp_path / "run-20240101-000000.log"
    lines = [f"2024-01-01 00:00:00,000 WARNING climnorm.plan.build: warning {i}" for i in range(MAX_ROWS + 50)]
    lines.append("2024-01-01 00:00:09,000 ERROR climnorm.runner.pipeline: the one error")
    log.write_text("\n".join(lines) + "\n")
    text = _problems_section(parse_log(log), tmp_path)
    assert text.count("<tr>") == 1 + MAX_ROWS
    assert text.index("the one error") < text.index("warning 0")
    assert "… and 51 more: see the log." in text and "1 error(s)" in text and "250 warning(s)" in text


def test_the_summary_names_no_empty_variant() -> None:
    """An ensemble output has no variant: the summary lists the members' variants only."""
    from climnorm.pictures.report import _summary_section
    from climnorm.records import OutputRecord

    common = ("tas", "CONUS", "ssp245", "future", 2049, 30)
    member = OutputRecord("a.nc", *common, "SYNTH-A", "r1i1p1f1", "noleap", "calendar_day", "f")
    ensemble = OutputRecord("e.nc", *common, "ensemble", "", "noleap", "calendar_day", "f")
    html = _summary_section([member, ensemble])
    assert "<th>variant</th><td>r1i1p1f1</td>" in html.replace("\n", ""), html

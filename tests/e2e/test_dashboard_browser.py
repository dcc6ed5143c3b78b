"""The built-in dashboard in a real headless Chromium: it loads cleanly, its cards show what
``/api/snapshot`` says, it says plainly when Prometheus is away, and a firing alert shows up."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from tests.support.waiting import free_port, wait_until

pytestmark = pytest.mark.e2e

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
BANNER = "Prometheus unreachable — showing the service's own recent history"


@pytest.fixture
def browser() -> Iterator[Any]:
    exe = shutil.which("chromium") or "/usr/bin/chromium"
    if not Path(exe).exists():
        pytest.fail("chromium is missing: sudo apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=exe, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def feed(client: Any, rng: np.random.Generator) -> None:
    """Scored rows with labels (a tenth of them wrong) and a few refused requests."""
    from inferwatch.examples import load_example_frame

    features, target = load_example_frame("iris")
    classes = sorted(set(target))
    for _ in range(4):
        idx = rng.integers(0, len(features), 60)
        resp = client.post("/predict", json={"instances": features.iloc[idx].to_dict("records")})
        assert resp.status_code == 200, resp.text
        labels = [str(rng.choice(classes)) if rng.random() < 0.1 else y for y in target.iloc[idx]]
        items = [{"id": i, "label": y} for i, y in zip(resp.json()["ids"], labels, strict=True)]
        assert client.post("/feedback", json={"labels": items}).status_code == 200
    assert client.post("/predict", json={"instances": [{"sepal_length": "x"}]}).status_code < 500


def alert_payload() -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "receiver": "inferwatch",
        "groupKey": '{}:{alertname="ModelAccuracyCritical"}',
        "alerts": [
            {
                "status": "firing",
                "fingerprint": "e2e0001",
                "labels": {
                    "alertname": "ModelAccuracyCritical",
                    "severity": "critical",
                    "model": "iris",
                },
                "annotations": {"summary": "Accuracy of model iris is 64%"},
                "startsAt": "2026-01-01T00:00:00Z",
                "endsAt": "0001-01-01T00:00:00Z",
            }
        ],
    }


def test_dashboard_shows_the_snapshot_and_a_firing_alert(
    service: Callable[..., Any], browser: Any, tmp_path: Path
) -> None:
    svc = service(prometheus_url=f"http://127.0.0.1:{free_port()}", min_labels=10)
    feed(svc.client, np.random.default_rng(3))

    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(svc.url + "/dashboard")
    page.wait_for_selector("body[data-ready='true']", timeout=20_000)

    def cards_match() -> bool | dict[str, Any]:
        perf = svc.client.get("/api/snapshot").json()["performance"]
        shown = {
            k: page.get_attribute(f"#card-{k}", "data-value")
            for k in ("accuracy", "precision", "recall", "f1")
        }
        expected = {k: perf[k] for k in shown}
        if any(v is None for v in expected.values()):
            return False
        ok = all(shown[k] and float(shown[k]) == expected[k] for k in shown)
        return expected if ok else False

    expected = wait_until(cards_match, 20, "cards equal /api/snapshot")
    assert page.inner_text("#card-accuracy") == f"{expected['accuracy'] * 100:.1f}%"
    assert page.inner_text("#card-f1") == f"{expected['f1'] * 100:.1f}%"

    assert page.is_visible("#banner")
    assert page.inner_text("#banner").strip() == BANNER
    wait_until(lambda: page.inner_text("#card-throughput") != "—", 20, "throughput from history")
    assert page.locator(".alert-critical").count() == 0

    resp = svc.client.post("/alerts", json=alert_payload())
    assert resp.status_code == 200, resp.text
    alert = page.locator(".alert[data-alertname='ModelAccuracyCritical']")
    alert.wait_for(timeout=10_000)
    assert alert.get_attribute("data-severity") == "critical"
    assert "alert-critical" in (alert.get_attribute("class") or "")
    assert "Accuracy of model iris is 64%" in alert.inner_text()

    shot = tmp_path / "dashboard.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert problems == [], problems


# --------------------------------------------------------------------------- regression


@pytest.fixture(scope="module")
def regression_model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from tests.support.regression import write_regression_model_dir

    return write_regression_model_dir(tmp_path_factory.mktemp("models") / "houses")


def feed_regression(client: Any, rng: np.random.Generator) -> None:
    """Healthy rows with their prices, then bigger houses whose prices the model misses."""
    from tests.support.regression import house_rows

    def send(n: int, shift: float, error: float) -> None:
        rows, prices = house_rows(n, rng, shift=shift, error=error)
        resp = client.post("/predict", json={"instances": rows})
        assert resp.status_code == 200, resp.text
        items = [{"id": i, "label": y} for i, y in zip(resp.json()["ids"], prices, strict=True)]
        assert client.post("/feedback", json={"labels": items}).status_code == 200

    for _ in range(3):
        send(60, 0.0, 0.0)
    wait_until(lambda: len(client.get("/api/history").json()["points"]) >= 3, 20, "history points")
    for _ in range(2):
        send(60, 40.0, 50.0)


def test_dashboard_of_a_regressor_shows_its_error_against_the_baseline(
    service: Callable[..., Any], browser: Any, regression_model_dir: Path, tmp_path: Path
) -> None:
    svc = service(
        model_dir=regression_model_dir,
        prometheus_url=f"http://127.0.0.1:{free_port()}",
        min_labels=10,
        min_window_rows=50,
        history_interval_seconds=0.5,
    )
    feed_regression(svc.client, np.random.default_rng(5))

    page = browser.new_page(viewport={"width": 1440, "height": 1000})
    problems: list[str] = []
    page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(svc.url + "/dashboard")
    page.wait_for_selector("body[data-ready='true'][data-task='regression']", timeout=20_000)

    def cards_match() -> bool | dict[str, Any]:
        snap = svc.client.get("/api/snapshot").json()
        perf, base = snap["performance"], snap["service"]["model"]["reference_performance"]
        expected = {
            "mae": perf["mae"],
            "rmse": perf["rmse"],
            "mae_baseline": base["mae"],
            "mae_ratio": perf["mae"] / base["mae"],
        }
        shown = {k: page.get_attribute(f"#card-{k}", "data-value") for k in expected}
        # Exactly the snapshot's numbers (the ratio is the same float division in JS).
        ok = all(shown[k] and float(shown[k]) == v for k, v in expected.items())
        return expected if ok else False

    expected = wait_until(cards_match, 20, "MAE/RMSE cards equal /api/snapshot")
    assert page.inner_text("#card-mae_ratio") == f"{expected['mae_ratio']:.2f}\u00d7"
    assert page.is_visible("#card-mae") and not page.is_visible("#card-accuracy")
    # The degraded traffic (MAE more than 1.5x the baseline) colours the ratio card.
    assert expected["mae_ratio"] > 1.5
    level = page.locator(".card", has=page.locator("#card-mae_ratio")).get_attribute("data-level")
    assert level == ("critical" if expected["mae_ratio"] > 2 else "warning")

    # Performance chart: MAE and RMSE from the service's history (Prometheus is away).
    legend = page.inner_text("#chart-performance .iw-legend")
    assert "MAE" in legend and "RMSE" in legend and "baseline MAE" in legend
    assert page.locator("#chart-performance path[stroke-dasharray='']").count() >= 2
    # Prediction distribution: the binned predicted values against the reference.
    bins = svc.client.get("/api/snapshot").json()["prediction"]["bins"]
    labels = page.locator("#chart-predictions .iw-label").all_text_contents()
    assert len(labels) == len(bins) and labels[0].startswith("≤") and labels[-1].startswith(">")
    titles = page.locator("#chart-predictions .iw-col > title").all_text_contents()
    assert titles == bins, "hovering a column shows its full interval"
    assert "values in window" in page.inner_text("#pred-note")

    shot = tmp_path / "dashboard-regression.png"
    page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000
    assert problems == [], problems


def test_the_model_picker_switches_between_models(
    browser: Any,
    service: Callable[..., Any],
    iris_model_dir: Path,
    cancer_model_dir: Path,
    tmp_path: Path,
) -> None:
    models = tmp_path / "models"
    shutil.copytree(iris_model_dir, models / "iris")
    shutil.copytree(cancer_model_dir, models / "cancer")
    svc = service(models_dir=models, prometheus_url=f"http://127.0.0.1:{free_port()}")
    page = browser.new_page()
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    page.goto(svc.url + "/dashboard")
    page.wait_for_selector("#model-picker", state="visible", timeout=15_000)
    options = page.locator("#model-picker option").all_text_contents()
    assert options == ["cancer v1", "iris v1"]
    wait_until(
        lambda: page.inner_text("#model").startswith("cancer ·"), what="the first model's dashboard"
    )
    page.select_option("#model-picker", "/models/iris")
    page.wait_for_url("**/models/iris/dashboard", timeout=15_000)
    wait_until(
        lambda: page.inner_text("#model").startswith("iris ·"), what="the picked model's dashboard"
    )
    assert problems == [], problems

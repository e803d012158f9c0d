#!/usr/bin/env python3
"""The studio in a real browser (part of `make test`): headless Debian chromium driven by Selenium
against the aso-render binary, in embedded mode or (`--production`) in production mode: two API
replicas and a worker on PostgreSQL, Redis and S3, behind a round-robin proxy (production.py).

A customer's path, through the page only: upload a real photo with the file input, wait for every
style's preview, choose a style and move one of its sliders, choose a print size, order, follow the
render to `completed` on the page, then fetch the TIFF through the page's download link. The run
fails on any console message of level SEVERE (script errors, CSP violations) and on any request
that failed or answered 4xx/5xx. Screenshots at 1280 px and 375 px wide are saved.

In production mode the page's requests alternate between the replicas, and the run also fails
unless both answered, the photo uploaded through one was previewed by the other, and the render
ordered through one was seen `completed` by a long-poll waiting on the other (see production.py).

    scripts/browser/studio_test.py [--binary .build/debug/aso-render] [--screenshots DIR] [--api-keys]
                                   [--production --servers-env $ASO_TEST_SERVERS/servers.env]
"""
import argparse
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The test photos (scripts/test-photos.sh: no wallpaper package needed).
PHOTO = os.path.join(subprocess.run([os.path.join(ROOT, "scripts/test-photos.sh")], capture_output=True, text=True, check=True).stdout.strip(), "dune.jpg")
WATERCOLOR = "550e8400-e29b-41d4-a716-446655440000"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(binary, work, api_key):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = dict(os.environ, DATA_DIR=f"{work}/data", API_HOST="127.0.0.1", API_PORT=str(port), PUBLIC_BASE_URL=base,
               WORKER_CONCURRENCY="1", LOG_LEVEL="INFO")
    if api_key:
        env["API_KEYS"] = api_key
    log = open(f"{work}/server.log", "w")
    server = subprocess.Popen([binary, "serve"], env=env, stdout=log, stderr=subprocess.STDOUT, cwd=ROOT)
    for _ in range(150):
        try:
            urllib.request.urlopen(f"{base}/health/liveness", timeout=1)
            return server, base
        except OSError:
            time.sleep(0.2)
    server.kill()
    raise RuntimeError("the server did not start: " + open(f"{work}/server.log").read()[-2000:])


def browser(width):
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", f"--window-size={width},900",
                     "--hide-scrollbars", "--force-device-scale-factor=1"]:
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL", "performance": "ALL"})
    return webdriver.Chrome(service=webdriver.ChromeService(executable_path="/usr/bin/chromedriver"), options=options)


def problems(driver):
    """Console errors and failed requests so far (a request the page aborted on purpose — a
    preview superseded by a newer slider value — is not a failure)."""
    found = []
    for entry in driver.get_log("browser"):
        if entry["level"] == "SEVERE":
            found.append(f"console: {entry['message']}")
    for entry in driver.get_log("performance"):
        message = json.loads(entry["message"])["message"]
        params = message.get("params", {})
        if message["method"] == "Network.responseReceived":
            response = params["response"]
            if response["status"] >= 400:
                found.append(f"request: {response['status']} {response['url']}")
        elif message["method"] == "Network.loadingFailed" and not params.get("canceled"):
            found.append(f"request failed: {params.get('errorText')} ({params.get('type')})")
    return found


def full_page_screenshot(driver, width, path):
    driver.set_window_size(width, 900)
    driver.execute_script("window.scrollTo(0, 0)")
    height = driver.execute_script("return Math.ceil(document.documentElement.scrollHeight)")
    driver.set_window_size(width, min(max(height, 600), 6000))
    time.sleep(0.3)
    driver.save_screenshot(path)
    driver.set_window_size(width, 900)


def wait(driver, seconds, condition, what):
    try:
        return WebDriverWait(driver, seconds, poll_frequency=0.25).until(condition)
    except TimeoutException:
        raise AssertionError(f"timed out after {seconds} s waiting for {what}; problems: {problems(driver)}")


def run(base, screenshots, api_key):
    driver = browser(1280)
    seen = []
    try:
        driver.get(base + "/")
        if api_key:
            wait(driver, 20, lambda d: d.find_element(By.ID, "key-panel").is_displayed(), "the API key form")
            field = driver.find_element(By.ID, "api-key")
            field.send_keys(api_key)
            field.send_keys(Keys.ENTER)
        wait(driver, 20, lambda d: d.find_element(By.ID, "upload-panel").is_displayed(), "the upload panel")
        styles = json.loads(urllib.request.urlopen(urllib.request.Request(
            base + "/v1/styles", headers={"Authorization": f"Bearer {api_key}"} if api_key else {})).read())

        # 1. The photo, through the file input.
        driver.find_element(By.ID, "photo").send_keys(PHOTO)
        wait(driver, 60, lambda d: d.find_element(By.ID, "styles-panel").is_displayed(), "the styles after the upload")
        assert driver.find_element(By.ID, "upload-progress").get_attribute("value") == "100"

        # 2. Every style's preview arrives.
        started = time.monotonic()
        wait(driver, 180, lambda d: len(d.find_elements(By.CSS_SELECTOR, ".style-card.ready")) >= len(styles),
             f"{len(styles)} style previews")
        previews_s = time.monotonic() - started
        assert len(styles) >= 8, styles
        for image in driver.find_elements(By.CSS_SELECTOR, ".style-card img"):
            assert driver.execute_script("return arguments[0].complete && arguments[0].naturalWidth", image) >= 300, "a preview is shown"
        full_page_screenshot(driver, 1280, f"{screenshots}/studio-styles-1280.png")

        # 3. A style, a slider, a size.
        driver.find_element(By.CSS_SELECTOR, f'.style-card[data-style-id="{WATERCOLOR}"]').click()
        big = driver.find_element(By.ID, "big-preview")
        wait(driver, 60, lambda d: (big.get_attribute("src") or "").startswith("blob:") and "stale" not in big.get_attribute("class"), "the chosen style's preview")
        first_preview = big.get_attribute("src")
        slider = driver.find_element(By.CSS_SELECTOR, "#sliders input[type=range]")
        label = driver.find_element(By.CSS_SELECTOR, f'label[for="{slider.get_attribute("id")}"]')
        assert label.text, "the slider is labelled"
        before = slider.get_attribute("value")
        slider.send_keys(Keys.END)  # keyboard: the slider to its maximum
        assert slider.get_attribute("value") != before, "the slider moved"
        wait(driver, 60, lambda d: big.get_attribute("src") != first_preview and "stale" not in big.get_attribute("class"),
             "the preview to follow the slider")
        size = Select(driver.find_element(By.ID, "size"))
        size.select_by_visible_text(next(option.text for option in size.options if option.text.startswith("5x7")))
        wait(driver, 60, lambda d: "5x7" in d.find_element(By.ID, "big-caption").text, "the preview on 5x7")
        dpi = driver.find_element(By.ID, "dpi").text
        assert "DPI" in dpi, dpi

        # 4. Order, follow, download.
        driver.find_element(By.ID, "order").click()
        wait(driver, 20, lambda d: d.find_elements(By.CSS_SELECTOR, "#renders .render"), "the order in my renders")
        render_started = time.monotonic()
        wait(driver, 600, lambda d: d.find_elements(By.CSS_SELECTOR, "#renders .render.completed a.download"), "the render to complete")
        render_s = time.monotonic() - render_started
        link = driver.find_element(By.CSS_SELECTOR, "#renders .render.completed a.download").get_attribute("href")
        with urllib.request.urlopen(link) as response:
            head = response.read(4)
            assert response.status == 200 and head in (b"II*\x00", b"MM\x00*"), (response.status, head)
        wait(driver, 30, lambda d: d.execute_script(
            "const i = document.querySelector('#renders .render-preview'); return i && i.complete && i.naturalWidth"), "the finished preview")
        full_page_screenshot(driver, 1280, f"{screenshots}/studio-1280.png")
        full_page_screenshot(driver, 375, f"{screenshots}/studio-375.png")
        overflow = driver.execute_script("return document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, "nothing is wider than a 375 px screen"

        driver.get(base + "/docs")
        wait(driver, 20, lambda d: len(d.find_elements(By.CSS_SELECTOR, "details.op")) >= 10, "the API reference")
        assert driver.find_elements(By.ID, "createAsset"), "the reference lists POST /v1/assets"
        assert "413" in driver.find_element(By.ID, "errors").text, "the reference lists the error codes"
        full_page_screenshot(driver, 1280, f"{screenshots}/docs-1280.png")

        seen = problems(driver)
        return {"previews_s": round(previews_s, 2), "render_s": round(render_s, 2), "styles": len(styles), "problems": seen}
    finally:
        driver.quit()


class EmbeddedServer:
    """`aso-render serve` in embedded mode (SQLite, local files, in-process workers)."""

    def __init__(self, binary, work, api_key):
        self.binary, self.work, self.api_key = binary, work, api_key
        self.server = None

    def start(self):
        self.server, base = start_server(self.binary, self.work, self.api_key)
        return base

    def stop(self):
        if self.server:
            self.server.terminate()
            self.server.wait(timeout=30)

    def log(self):
        return open(f"{self.work}/server.log").read()

    def replicas(self):
        return {}, []


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--binary", default=os.path.join(ROOT, ".build/debug/aso-render"))
    parser.add_argument("--screenshots", default=os.path.join(ROOT, ".build/studio-screenshots"))
    parser.add_argument("--api-keys", action="store_true", help="run with API_KEYS set: the page asks for the key")
    parser.add_argument("--production", action="store_true",
                        help="two API replicas and a worker on PostgreSQL, Redis and S3 behind a round-robin proxy")
    parser.add_argument("--servers-env", help="the test servers' servers.env (scripts/test-servers.sh start); needed with --production")
    arguments = parser.parse_args()
    if arguments.production and not arguments.servers_env:
        parser.error("--production needs --servers-env")
    screenshots = os.path.join(arguments.screenshots, "production") if arguments.production else arguments.screenshots
    os.makedirs(screenshots, exist_ok=True)
    api_key = "studio-" + os.urandom(16).hex() if arguments.api_keys else ""
    # A timeout (run-tests.sh) still stops the servers and removes the database and bucket.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    started = time.monotonic()
    with tempfile.TemporaryDirectory() as work:
        if arguments.production:
            from production import ProductionStack
            stack = ProductionStack(os.path.abspath(arguments.binary), work, arguments.servers_env, api_key)
        else:
            stack = EmbeddedServer(arguments.binary, work, api_key)
        finished = False
        try:
            base = stack.start()
            result = run(base, screenshots, api_key)
            replicas, crossing = stack.replicas()
            result.update(replicas)
            result["problems"] += crossing
            finished = True
        finally:
            try:
                stack.stop()
            finally:
                log = stack.log()
                errors = [line for line in log.splitlines() if '"level":"ERROR"' in line or '"level":"CRITICAL"' in line]
                if not finished:  # the servers' side of what went wrong
                    print("studio browser test: server errors and warnings", *errors[:10],
                          *[line for line in log.splitlines() if '"level":"WARNING"' in line][:10], sep="\n  ", file=sys.stderr)
    result["seconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(result))
    if result["problems"] or errors:
        print("studio browser test: FAILED", *result["problems"], *errors[:10], sep="\n  ", file=sys.stderr)
        return 1
    mode = "production, 2 replicas" if arguments.production else "embedded"
    print(f"studio browser test ({mode}): ok — {result['styles']} previews in {result['previews_s']} s, render completed in "
          f"{result['render_s']} s; screenshots in {screenshots}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

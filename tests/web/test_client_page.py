"""The browser client page (src/hubbub/web/client.html) in a real headless Chromium.

One browser for the whole module; each test gets a fresh page on a fresh
service. The service runs on its own event loop in a thread, so selenium's
blocking calls and hubbub's loop never wait on each other.

Without Chromium and chromedriver the tests are skipped, unless
``REQUIRE_BROWSER_TESTS=1`` (CI sets it) makes that a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import hubbub
from hubbub import events

webdriver = pytest.importorskip("selenium.webdriver")
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.common.keys import Keys  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


class Game:
    """A small service on its own loop in a thread: the page's server."""

    def __init__(self, port: int = 0) -> None:
        self.port = port
        self.ready = threading.Event()
        self.clients: list[hubbub.Client] = []
        self.lines: list[str] = []
        self.data: list[tuple[str, Any]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _app(self) -> hubbub.Service:
        service = hubbub.Service(
            listen=[f"ws://127.0.0.1:{self.port}"], log_level="WARNING", max_lines_per_second=0
        )

        @service.listen(events.Connect)
        def greet(event: events.Connect) -> None:
            self.clients.append(event.client)
            event.client.write("Welcome to the \x1b[1;31mRed\x1b[0m Dragon.")
            event.client.write("Name: ", newline=False)

        @service.listen(events.Receive)
        def receive(event: events.Receive) -> None:
            self.lines.append(event.data)
            client = event.client
            if event.data == "password":
                client.echo = False
                client.write("Password: ", newline=False)
            elif not client.echo:
                client.echo = True
                client.write("Thank you.")
            elif event.data == "vitals":
                client.send_data("Char.Vitals", {"hp": 7, "maxhp": 10})
                client.write("Sent.")
            else:
                client.write(f"You say, \x1b[38;5;208m{event.data}\x1b[0m")

        @service.listen(events.Data)
        def data(event: events.Data) -> None:
            self.data.append((event.package, event.data))

        return service

    def _run(self) -> None:
        async def main() -> None:
            self.loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            service = self._app()
            await service.start()
            address = service.servers[0].address
            assert isinstance(address, tuple)
            self.port = int(address[1])
            self.ready.set()
            await self._stop.wait()
            await service.stop()

        asyncio.run(main())

    def start(self) -> Game:
        self.thread.start()
        assert self.ready.wait(10), "the service did not start"
        return self

    def stop(self) -> None:
        if self.loop is not None and self._stop is not None and self.thread.is_alive():
            self.loop.call_soon_threadsafe(self._stop.set)
            self.thread.join(10)

    def call(self, fn: Callable[[], Any]) -> None:
        """Run ``fn`` on the service's loop (the only place clients may be touched)."""
        assert self.loop is not None
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        self.loop.call_soon_threadsafe(run)
        assert done.wait(5)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not (CHROMIUM and CHROMEDRIVER):
        if os.environ.get("REQUIRE_BROWSER_TESTS") == "1":
            pytest.fail("REQUIRE_BROWSER_TESTS=1 but chromium/chromedriver are not installed")
        pytest.skip("needs chromium and chromedriver (apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service as DriverService

    profile = tempfile.mkdtemp(prefix="hubbub-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1000,700",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=DriverService(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(15)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def game() -> Iterator[Game]:
    game = Game().start()
    yield game
    game.stop()


def wait(driver: Any, predicate: Callable[[Any], Any], timeout: float = 10) -> Any:
    return WebDriverWait(driver, timeout, poll_frequency=0.05).until(predicate)


def output(driver: Any) -> str:
    return str(driver.find_element(By.ID, "output").text)


def opened(browser: Any, game: Game) -> Any:
    browser.get(f"http://127.0.0.1:{game.port}/")
    wait(browser, lambda d: "Red Dragon" in output(d))
    wait(browser, lambda d: "Name:" in d.find_element(By.ID, "prompt").text)
    return browser.find_element(By.ID, "input")


def test_type_a_name_and_see_the_reply(browser: Any, game: Game) -> None:
    field = opened(browser, game)
    assert browser.switch_to.active_element == field  # focus starts on the input
    field.send_keys("Ana", Keys.ENTER)
    wait(browser, lambda d: "You say, Ana" in output(d))
    assert game.lines == ["Ana"]
    assert browser.switch_to.active_element == field
    assert field.get_attribute("value") == ""


def test_colours_render_as_styled_elements(browser: Any, game: Game) -> None:
    """16 colours with bold, and 256 colours, become styled spans; no escape shows."""
    field = opened(browser, game)
    red = browser.find_element(By.XPATH, "//*[@id='output']//span[contains(., 'Red')]")
    assert "205, 49, 49" in red.value_of_css_property("color")
    assert "ansi-fg-red" in red.get_attribute("class")
    assert int(red.value_of_css_property("font-weight")) >= 600
    field.send_keys("orange", Keys.ENTER)
    wait(browser, lambda d: "You say, orange" in output(d))
    custom = "//*[@id='output']//span[contains(@class, 'ansi-fg-custom')]"
    orange = browser.find_element(By.XPATH, custom)
    assert "255, 135, 0" in orange.value_of_css_property("color")
    after = browser.find_element(By.XPATH, "//*[@id='output']//div[contains(., 'Dragon.')]")
    assert "\x1b" not in output(browser) and "[0m" not in output(browser)
    assert "Dragon." in after.text


def test_echo_off_masks_the_input(browser: Any, game: Game) -> None:
    field = opened(browser, game)
    field.send_keys("password", Keys.ENTER)
    wait(browser, lambda d: d.find_element(By.ID, "input").get_attribute("type") == "password")
    field.send_keys("hunter2", Keys.ENTER)
    wait(browser, lambda d: "Thank you." in output(d))
    assert "hunter2" not in output(browser)
    wait(browser, lambda d: d.find_element(By.ID, "input").get_attribute("type") != "password")
    field.send_keys(Keys.ARROW_UP)
    assert field.get_attribute("value") == "password"  # the hidden line is not in history


def test_history_up_and_down(browser: Any, game: Game) -> None:
    field = opened(browser, game)
    for line in ("first", "second"):
        field.send_keys(line, Keys.ENTER)
        wait(browser, lambda d, line=line: f"You say, {line}" in output(d))
    field.send_keys("draft")
    field.send_keys(Keys.ARROW_UP)
    assert field.get_attribute("value") == "second"
    field.send_keys(Keys.ARROW_UP)
    assert field.get_attribute("value") == "first"
    field.send_keys(Keys.ARROW_DOWN)
    field.send_keys(Keys.ARROW_DOWN)
    assert field.get_attribute("value") == "draft"


def test_structured_data_reaches_the_pages_scripts(browser: Any, game: Game) -> None:
    field = opened(browser, game)
    browser.execute_script(
        "window.got = []; window.addEventListener('hubbub:data', e => window.got.push(e.detail));"
    )
    field.send_keys("vitals", Keys.ENTER)
    wait(browser, lambda d: d.execute_script("return window.got.length") == 1)
    assert browser.execute_script("return window.got[0]") == {
        "package": "Char.Vitals",
        "data": {"hp": 7, "maxhp": 10},
    }
    browser.execute_script("window.hubbub.send('Char.Login', {name: 'ana'})")
    wait(browser, lambda d: game.data == [("Char.Login", {"name": "ana"})])
    assert "Char.Vitals" not in output(browser)


def test_accessible_structure_and_screen_reader_mode(browser: Any, game: Game) -> None:
    opened(browser, game)
    log = browser.find_element(By.ID, "output")
    assert log.get_attribute("role") == "log"
    assert log.get_attribute("aria-live") in ("polite", "assertive")
    label = browser.find_element(By.CSS_SELECTOR, "label[for='input']")
    assert label.text.strip()
    assert browser.find_element(By.ID, "status").get_attribute("role") == "status"
    toggle = browser.find_element(By.ID, "screen-reader")
    assert browser.find_element(By.CSS_SELECTOR, "label[for='screen-reader']").text.strip()
    toggle.click()
    wait(browser, lambda d: game.clients and game.clients[-1].screen_reader)
    toggle.click()  # leave it off for the other tests (it is remembered)
    wait(browser, lambda d: not game.clients[-1].screen_reader)


def test_reconnects_after_a_server_restart(browser: Any, game: Game) -> None:
    field = opened(browser, game)
    port = game.port
    game.stop()
    wait(browser, lambda d: "reconnect" in d.find_element(By.ID, "status").text.lower())
    again = Game(port).start()
    try:
        wait(browser, lambda d: again.clients, timeout=20)
        wait(browser, lambda d: "connected" in d.find_element(By.ID, "status").text.lower())
        field = browser.find_element(By.ID, "input")
        field.send_keys("back", Keys.ENTER)
        wait(browser, lambda d: "You say, back" in output(d))
    finally:
        again.stop()

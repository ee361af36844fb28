#!/usr/bin/env python3
"""Kabar's web client in a real headless Chromium, against a real kabar-server.

Run by the Swift test suite (KabarServerTests, "Web client in Chromium"), which passes the
binaries; it needs Debian's chromium and chromium-driver and PyPI's selenium. Each
scenario ends with a screenshot of every browser in ARTIFACTS (kept as test artifacts).

Scenarios:
  errors     a wrong password shows a clear error; then the user logs in
  talk       two browser users and one kabar-cli user talk; messages arrive without a
             reload, as unread badges or in the open conversation; one send to two people
  history    a long conversation opens at its newest 50 messages; older pages load
  text       a message full of HTML and script shows as text and runs nothing
  reconnect  the server restarts; the page reconnects by itself, still logged in

usage: web_client_test.py --server BIN --cli BIN --artifacts DIR
"""
import argparse
import os
import pty
import select
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import WebDriverWait

# Waits are longer when the test suite runs slowly on purpose (the thread sanitizer).
TIMEOUT = 15 * float(os.environ.get("KABAR_TEST_TIME_SCALE", "1"))


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for_port(port, deadline=20):
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on {port}")


class Server:
    """kabar-server --demo with the web port, restartable on the same ports and file."""

    def __init__(self, binary, directory):
        self.binary = binary
        self.database = os.path.join(directory, "kabar.sqlite")
        self.port, self.http_port = free_port(), free_port()
        self.process = None
        self.start()

    def start(self):
        self.process = subprocess.Popen(
            [self.binary, "serve", "--demo", "--port", str(self.port), "--http-port", str(self.http_port),
             "--database", self.database], stderr=subprocess.DEVNULL)
        wait_for_port(self.port)
        wait_for_port(self.http_port)

    def stop(self):
        self.process.send_signal(signal.SIGTERM)
        self.process.wait(timeout=20)

    @property
    def url(self):
        return f"http://127.0.0.1:{self.http_port}/"


class Terminal:
    """kabar-cli in a pseudo-terminal, as a person would run it."""

    def __init__(self, binary, port):
        self.master, slave = pty.openpty()
        self.process = subprocess.Popen([binary, "--port", str(port)], stdin=slave, stdout=slave, stderr=slave,
                                        env=dict(os.environ, TZ="UTC"))
        os.close(slave)
        self.output = ""

    def type(self, line):
        os.write(self.master, (line + "\n").encode())

    def wait_for(self, text):
        end = time.monotonic() + TIMEOUT
        while text not in self.output:
            if time.monotonic() > end:
                raise AssertionError(f"kabar-cli never printed {text!r}; it printed:\n{self.output}")
            ready, _, _ = select.select([self.master], [], [], 0.1)
            if ready:
                self.output += os.read(self.master, 65536).decode(errors="replace")

    def close(self):
        self.process.kill()
        self.process.wait()
        os.close(self.master)


def tcp_send_many(port, username, recipient, texts):
    """Logs in over TCP and sends each text, waiting for each reply."""
    with socket.create_connection(("127.0.0.1", port)) as connection:
        def request(line):
            connection.sendall(line.encode() + b"\r\n")
            reply = b""
            while not reply.endswith(b"\r\n\r\n"):
                reply += connection.recv(65536)
            return reply.decode()
        assert '"tokenid"' in request(f"auth {username} surabaya")
        for text in texts:
            assert "Message Sent" in request(f"send {recipient} {text}")


def browser(width=1200, height=800):
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for argument in ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                     f"--window-size={width},{height}"]:
        options.add_argument(argument)
    service = webdriver.ChromeService(executable_path=shutil.which("chromedriver") or "/usr/bin/chromedriver")
    driver = webdriver.Chrome(service=service, options=options)
    driver.set_window_size(width, height)
    return driver


def wait(driver, condition, message):
    # The page redraws its lists as events arrive: an element found a moment ago may be gone
    # when the condition reads it, which only means "not yet".
    try:
        return WebDriverWait(driver, TIMEOUT, ignored_exceptions=(StaleElementReferenceException,)).until(
            lambda d: condition(d))
    except Exception as error:
        raise AssertionError(message) from error


def element(driver, css):
    return driver.find_element(By.CSS_SELECTOR, css)


def text_of(driver, css):
    found = driver.find_elements(By.CSS_SELECTOR, css)
    return found[0].text if found else ""


def log_in(driver, url, username, password="surabaya"):
    driver.get(url)
    wait(driver, lambda d: element(d, "#login-view").is_displayed(), "the login form never showed")
    element(driver, "#login-username").clear()
    element(driver, "#login-username").send_keys(username)
    element(driver, "#login-password").clear()
    element(driver, "#login-password").send_keys(password + Keys.ENTER)


def wait_logged_in(driver, username):
    wait(driver, lambda d: element(d, "#chat-view").is_displayed() and element(d, "#me").text == username
         and not element(d, "#login-view").is_displayed(), f"{username} never reached the chat view (alone on the page)")


def conversation_entry(driver, username):
    entries = driver.find_elements(By.CSS_SELECTOR, f'#conversations li[data-username="{username}"]')
    return entries[0] if entries else None


def badge(driver, username):
    entry = conversation_entry(driver, username)
    if entry is None:
        return None
    badges = entry.find_elements(By.CSS_SELECTOR, ".badge")
    return badges[0].text if badges else ""


def click(driver, find, message):
    # Find and click in one attempt, retried by `wait`: the page may redraw the list between
    # finding an element and clicking it (a message arriving redraws the conversations),
    # and a click on the element it replaced raises a stale reference without clicking.
    def attempt(d):
        found = find(d)
        if found is None:
            return False
        found.click()
        return True
    wait(driver, attempt, message)


def open_conversation(driver, username):
    click(driver, lambda d: conversation_entry(d, username), f"no conversation with {username}")
    wait(driver, lambda d: username in element(d, "#peer-title").text, f"the conversation with {username} never opened")


def message_texts(driver):
    # Read in one script, at one moment: a list redrawn between finding its items and
    # reading each one's text would leave stale elements.
    return driver.execute_script(
        "return Array.from(document.querySelectorAll('#message-list li .text'), (item) => item.innerText)")


def compose(driver, recipients, text):
    to = element(driver, "#compose-to")
    to.clear()
    to.send_keys(recipients)
    box = element(driver, "#compose-text")
    box.clear()
    box.send_keys(text + Keys.ENTER)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--server", required=True)
    parser.add_argument("--cli", required=True)
    parser.add_argument("--artifacts", required=True)
    args = parser.parse_args()
    os.makedirs(args.artifacts, exist_ok=True)
    directory = tempfile.mkdtemp(prefix="kabar-browser-")
    server = Server(args.server, directory)
    messi = browser()
    henderson = browser(390, 844)  # a phone-sized screen
    terminal = None
    browsers = {"messi": messi, "henderson": henderson}

    def screenshots(scenario):
        for name, driver in browsers.items():
            driver.save_screenshot(os.path.join(args.artifacts, f"{scenario}-{name}.png"))

    scenario = "start"
    try:
        scenario = "errors"
        log_in(messi, server.url, "messi", "wrong-password")
        wait(messi, lambda d: text_of(d, "#login-error") == "Wrong password.", "no clear error for a wrong password")
        log_in(messi, server.url, "messi")
        wait_logged_in(messi, "messi")
        log_in(henderson, server.url, "henderson")
        wait_logged_in(henderson, "henderson")
        screenshots(scenario)
        print("ok: errors")

        scenario = "talk"
        wait(messi, lambda d: "henderson" in text_of(d, "#online"), "henderson never showed online for messi")
        compose(messi, "henderson", "hello gimana kabarnya son")
        wait(henderson, lambda d: badge(d, "messi") == "1", "henderson never saw an unread badge from messi")
        open_conversation(henderson, "messi")
        wait(henderson, lambda d: "hello gimana kabarnya son" in message_texts(d), "henderson never saw messi's message")
        open_conversation(messi, "henderson")
        compose(henderson, "messi", "baik, kamu?")
        wait(messi, lambda d: "baik, kamu?" in message_texts(d), "messi never saw the reply without reloading")

        terminal = Terminal(args.cli, server.port)
        terminal.wait_for("Command :")
        terminal.type("auth lineker surabaya")
        terminal.wait_for("username lineker logged in")
        terminal.type("send messi hello from the terminal")
        terminal.wait_for("message sent to messi")
        wait(messi, lambda d: badge(d, "lineker") == "1", "messi never saw the terminal user's message as unread")
        compose(messi, "lineker,henderson", "to both of you")
        terminal.wait_for("messi: to both of you")
        wait(henderson, lambda d: "to both of you" in message_texts(d), "henderson never saw the message to both")
        screenshots(scenario)
        print("ok: talk")

        scenario = "history"
        tcp_send_many(server.port, "henderson", "messi", [f"old-{index}" for index in range(120)])
        open_conversation(messi, "lineker")
        open_conversation(messi, "henderson")
        wait(messi, lambda d: "old-119" in message_texts(d), "the newest message is not shown")
        texts = message_texts(messi)
        assert "old-70" in texts and "old-69" not in texts, f"the first page is not the newest 50: {texts[:3]}…"
        click(messi, lambda d: element(d, "#older"), "the button for older messages never showed")
        wait(messi, lambda d: "old-20" in message_texts(d), "the older page never loaded")
        texts = message_texts(messi)
        assert "old-19" not in texts and texts.index("old-20") < texts.index("old-119"), "pages out of order"
        screenshots(scenario)
        print("ok: history")

        scenario = "text"
        hostile = '<script>window.kabarPwned=1</script><b>bold</b><img src=x onerror="window.kabarPwned=2">'
        compose(henderson, "messi", hostile)
        wait(messi, lambda d: hostile in message_texts(d), "the message with HTML never showed as text")
        assert messi.execute_script("return window.kabarPwned") is None, "the message ran a script"
        assert not messi.find_elements(By.CSS_SELECTOR, "#message-list b, #message-list img, #message-list script")
        screenshots(scenario)
        print("ok: text")

        scenario = "reconnect"
        server.stop()
        wait(messi, lambda d: "unreachable" in text_of(d, "#status"), "the page never said the server is unreachable")
        server.start()
        wait(messi, lambda d: text_of(d, "#status") == "connected", "the page never reconnected")
        wait(henderson, lambda d: text_of(d, "#status") == "connected", "the phone page never reconnected")
        assert element(messi, "#chat-view").is_displayed(), "the session was lost in the restart"
        compose(messi, "henderson", "after the restart")
        wait(henderson, lambda d: "after the restart" in message_texts(d), "no message after the restart")
        screenshots(scenario)
        print("ok: reconnect")
    except Exception as error:
        screenshots(f"failed-{scenario}")
        print(f"FAILED in {scenario}: {error}", file=sys.stderr)
        for name, driver in browsers.items():
            for entry in driver.get_log("browser"):
                print(f"  {name} console: {entry.get('message')}", file=sys.stderr)
        sys.exit(1)
    finally:
        if terminal:
            terminal.close()
        for driver in browsers.values():
            driver.quit()
        server.process.kill()
        server.process.wait()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main()

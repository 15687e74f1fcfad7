#!/usr/bin/python3
"""Browser test of the duty-team console (SPEC §14) in headless Chromium.

Builds a small partnership with the real binaries in a temporary folder
(keys, agreement, signed directory, a broker, the police and social-care
agents; the social-care agent serves the console with a certificate made
by openssl), then drives the console as a MASH duty worker would: log in
(a wrong password refused first), see a message sent by the police appear
on the alerts page without reloading, open it (its <script> body shown as
text, DO NOT CONTACT FAMILY first), acknowledge it and see the police
agent's timeline say who acknowledged; a POST without the CSRF token is
refused; after the idle timeout the page asks to log in again.

Every wait has a deadline; nothing asserts on elapsed time. Only the
processes started here are stopped, by pid.

HAVEN_BIN   folder with haven, haven-broker, haven-agent (default ./bin)
HAVEN_SCREENSHOTS  folder to save a screenshot of each page (optional)
HAVEN_AXE   axe-core's axe.min.js (from npm): each page is checked and a
            serious or critical WCAG 2.2 A/AA violation fails the test
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

from selenium import webdriver
from selenium.common.exceptions import (NoAlertPresentException,
                                        StaleElementReferenceException)
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

SRC = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
BIN = os.environ.get("HAVEN_BIN", os.path.join(SRC, "bin"))
SHOTS = os.environ.get("HAVEN_SCREENSHOTS")
AXE = os.environ.get("HAVEN_AXE")
PASSWORD = "correct horse battery"
DEADLINE = 30  # seconds for any one wait

AGREEMENT = """partnership bristol
version 1
broker broker.bristol tcp://127.0.0.1:7400 keys/broker.bristol.pub
node police.avon            keys/police.avon.pub
node social-care.bristol    keys/social-care.bristol.pub
node ig.bristol             keys/ig.bristol.pub   scope=*
allow * -> social-care : REFERRAL
allow police -> social-care : MISSING_CHILD_ALERT
allow social-care -> police : INFO_REQUEST
"""

BASIS = {"consent": "NOT_SOUGHT", "art6": "PUBLIC_TASK",
         "art9": "SAFEGUARDING",
         "justification": "Seeking consent would place the child at risk.",
         "decided_by": "duty.officer"}


class Partnership:
    """The folder and the daemons this test started (by pid)."""

    def __init__(self):
        self.dir = tempfile.mkdtemp(prefix="haven-browser-")
        self.procs = {}

    def run(self, *args, **kw):
        return subprocess.run(args, cwd=self.dir, check=True,
                              capture_output=True, text=True, **kw)

    def wait_file(self, path):
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if os.path.exists(path) and os.path.getsize(path) > 0:
                with open(path) as f:
                    return json.load(f)
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise RuntimeError(name + " exited; see its log in " +
                                       self.dir)
            time.sleep(0.05)
        raise RuntimeError("no ready file " + path)

    def start(self, name, argv):
        ready = os.path.join(self.dir, name + ".ready")
        if os.path.exists(ready):
            os.unlink(ready)
        log = open(os.path.join(self.dir, name + ".log"), "a")
        self.procs[name] = subprocess.Popen(
            argv + ["--ready-file", ready, "--foreground"], cwd=self.dir,
            stdout=log, stderr=log)
        log.close()
        return self.wait_file(ready)

    def stop(self, name):
        p = self.procs.pop(name, None)
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            p.wait(timeout=DEADLINE)
        return p.returncode if p is not None else 0

    def setup(self):
        h = os.path.join(BIN, "haven")
        os.makedirs(os.path.join(self.dir, "keys"))
        for node in ("root.bristol", "broker.bristol", "police.avon",
                     "social-care.bristol", "ig.bristol"):
            self.run(h, "keygen", "--id", node, "--out", "keys")
        self.run(h, "keygen", "--subject-key", "--out", "subject.key")
        with open(os.path.join(self.dir, "agreement.txt"), "w") as f:
            f.write(AGREEMENT)
        self.run(h, "directory", "build", "agreement.txt", "--root",
                 "keys/root.bristol.key", "-o", "directory.hd")
        self.run("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                 "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                 "console.key", "-out", "console.crt", "-days", "2",
                 "-subj", "/CN=localhost")
        os.chmod(os.path.join(self.dir, "console.key"), 0o600)
        pw = os.path.join(self.dir, "pw")
        with open(pw, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(pw, 0o600)
        self.run(h, "console-user", "add", "asha", "--role", "duty",
                 "--users", "console.users", "--password-file", "pw")
        with open(os.path.join(self.dir, "broker.conf"), "w") as f:
            f.write("[broker]\nid = broker.bristol\n"
                    "key = keys/broker.bristol.key\n"
                    "root_pub = keys/root.bristol.pub\n"
                    "directory = directory.hd\nbind = tcp://127.0.0.1:*\n"
                    "data_dir = data/broker\n")
        r = self.start("broker", [os.path.join(BIN, "haven-broker"),
                                  "--config", "broker.conf"])
        self.endpoint = r["bind"]
        self.police = self.agent("police.avon", "")
        self.console_agent(900)

    def agent(self, node, extra):
        token = os.urandom(24).hex()
        tf = os.path.join(self.dir, node + ".token")
        with open(tf, "w") as f:
            f.write(token)
        os.chmod(tf, 0o600)
        with open(os.path.join(self.dir, node + ".conf"), "w") as f:
            f.write("[agent]\nid = %s\nkey = keys/%s.key\n"
                    "root_pub = keys/root.bristol.pub\n"
                    "directory = directory.hd\nbroker = %s\n"
                    "data_dir = data/%s\nlisten = 127.0.0.1:0\n"
                    "token_file = %s.token\nsubject_key = subject.key\n%s"
                    % (node, node, self.endpoint, node, node, extra))
        r = self.start(node, [os.path.join(BIN, "haven-agent"), "--config",
                              node + ".conf"])
        return {"url": "http://" + r["listen"], "token": token,
                "console": r.get("console")}

    def console_agent(self, idle):
        self.stop("social-care.bristol")
        self.social = self.agent(
            "social-care.bristol",
            "console_listen = 127.0.0.1:0\nconsole_cert = console.crt\n"
            "console_key = console.key\nconsole_users = console.users\n"
            "console_idle_timeout = %d\n" % idle)
        self.console = "https://" + self.social["console"]

    def close(self):
        bad = []
        for name in list(self.procs):
            if self.stop(name) != 0:
                bad.append(name)
        for name in os.listdir(self.dir):
            if name.endswith(".log"):
                with open(os.path.join(self.dir, name)) as f:
                    text = f.read()
                if "Sanitizer" in text or "runtime error:" in text:
                    bad.append(name)
        if bad:
            print("daemons failed: %s; folder kept: %s" % (bad, self.dir))
            return False
        shutil.rmtree(self.dir)
        return True


def api(agent, method, path, body=None):
    req = urllib.request.Request(
        agent["url"] + path, method=method,
        data=json.dumps(body).encode() if body is not None else None,
        headers={"Authorization": "Bearer " + agent["token"],
                 "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=DEADLINE) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


CHROME_PROFILE = tempfile.mkdtemp(prefix="haven-chrome-")


def browser():
    o = webdriver.ChromeOptions()
    o.binary_location = "/usr/bin/chromium"
    for a in ("--headless", "--no-sandbox", "--disable-gpu",
              "--disable-quic", "--no-first-run",
              "--disable-background-networking", "--disable-component-update",
              "--disable-sync", "--ignore-certificate-errors",
              "--disable-dev-shm-usage", "--window-size=1280,900",
              "--autoplay-policy=no-user-gesture-required",
              "--user-data-dir=" + CHROME_PROFILE):
        o.add_argument(a)
    return webdriver.Chrome(service=Service("/usr/bin/chromedriver"),
                            options=o)


def wait(d, cond, what):
    return WebDriverWait(d, DEADLINE, poll_frequency=0.05).until(
        lambda _: cond(), message=what)


def shot(d, name):
    if SHOTS:
        os.makedirs(SHOTS, exist_ok=True)
        d.save_screenshot(os.path.join(SHOTS, name + ".png"))


def text_of(d, css):
    """The text of the first element css matches (the page redraws its
    lists as events arrive, so it is read in one script call)."""
    return d.execute_script(
        "var e = document.querySelector(arguments[0]);"
        "return e ? e.textContent : '';", css) or ""


def click(d, css):
    """Clicks css, again if the page redrew it meanwhile."""
    def attempt():
        try:
            d.find_element(By.CSS_SELECTOR, css).click()
            return True
        except StaleElementReferenceException:
            return False
    wait(d, attempt, "clicked " + css)


class Failed(Exception):
    pass


def axe(d, page):
    """Runs axe-core on the page as it stands; fails on a serious or
    critical violation of WCAG 2.x A/AA (colour contrast included)."""
    if not AXE:
        print("skip - axe-core on the %s page (HAVEN_AXE unset)" % page)
        return
    with open(AXE) as f:
        d.execute_script(f.read())
    found = d.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "axe.run(document, {runOnly: {type: 'tag', values: ['wcag2a',"
        "'wcag2aa', 'wcag21a', 'wcag21aa', 'wcag22aa']}}).then("
        "function (r) { done(r.violations.map(function (v) {"
        "return {id: v.id, impact: v.impact, help: v.help, nodes:"
        "v.nodes.map(function (n) { return n.target.join(' '); })};"
        "})); }, function (e) { done([{id: 'axe-error', impact: "
        "'critical', help: String(e), nodes: []}]); });")
    bad = [v for v in found if v["impact"] in ("serious", "critical")]
    for v in found:
        print("   axe %s: %s (%s) %s" % (page, v["id"], v["impact"],
                                        v["nodes"][:3]))
    check(not bad, "axe-core finds no serious or critical violation on "
          "the %s page" % page)


def check(cond, what):
    if not cond:
        raise Failed(what)
    print("ok - " + what)


def log_in(d, p, password):
    d.get(p.console + "/login")
    d.find_element(By.ID, "name").send_keys("asha")
    d.find_element(By.ID, "password").send_keys(password)
    d.find_element(By.ID, "login-button").click()


def run(p, d):
    # Log in: a wrong password first.
    log_in(d, p, "not the password")
    wait(d, lambda: "wrong" in text_of(d, "#login-message"),
         "the log-in page says the password is wrong")
    check(d.current_url.endswith("/login"),
          "a wrong password is refused and the log-in page shown again")
    shot(d, "1-login-refused")
    axe(d, "log-in")
    log_in(d, p, PASSWORD)
    wait(d, lambda: "unacknowledged" in text_of(d, "#alerts-total"),
         "the alerts page lists its total")
    check("0 unacknowledged" in text_of(d, "#alerts-total"),
          "logged in, the alerts page says 0 unacknowledged messages")
    cookies = {c["name"]: c for c in d.get_cookies()}
    c = cookies.get("__Host-haven")
    check(c is not None and c["secure"] and c["httpOnly"] and
          c.get("sameSite") == "Strict",
          "the session cookie is __Host-, Secure, HttpOnly, SameSite=Strict")
    check(d.execute_script("return document.cookie") == "",
          "the page's script cannot read the session cookie")

    # A message from the police appears without reloading.
    d.execute_script("window.havenNotReloaded = true;")
    st, r = api(p.police, "POST", "/v1/messages", {
        "to": ["social-care.bristol"], "type": "MISSING_CHILD_ALERT",
        "priority": "IMMEDIATE", "subject": {"nhs": "943 476 5919"},
        "basis": BASIS, "do_not_contact_family": True,
        "child": {"name": "Amelia Test", "dob": "2017-04-12"},
        "body": {"text": "<script>alert(1)</script>"}})
    check(st == 202, "the police agent queued an IMMEDIATE alert: %s" % r)
    mid = r["id"]
    row = '#alerts tr[data-id="%s"]' % mid
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR, row),
         "the new message appears on the alerts page")
    check(d.execute_script("return window.havenNotReloaded === true;"),
          "the message appeared without reloading the page")
    check("IMMEDIATE" in text_of(d, "#announce"),
          "the IMMEDIATE message is announced in a role=alert region")
    check(d.find_element(By.ID, "announce").get_attribute("role") == "alert",
          "the announcement region has role=alert")
    check("1 unacknowledged" in text_of(d, "#alerts-total"),
          "the total counts it")
    shot(d, "2-alerts")
    axe(d, "alerts")

    # Open it: DO NOT CONTACT FAMILY first, the body shown as text.
    click(d, row + " a")
    wait(d, lambda: d.find_elements(By.ID, "body-text"),
         "the message page shows the body")
    try:
        d.switch_to.alert
        check(False, "no script from the body ran")
    except NoAlertPresentException:
        check(True, "no script from the body ran")
    check(text_of(d, "#body-text") == "<script>alert(1)</script>",
          "the body <script>alert(1)</script> is shown as text")
    first = d.execute_script(
        "return document.getElementById('main').firstElementChild.id;")
    check(first == "dncf" and text_of(d, "#dncf") == "DO NOT CONTACT FAMILY",
          "DO NOT CONTACT FAMILY comes first")
    shot(d, "3-message")
    axe(d, "message")

    # A POST without the CSRF token is refused, from the page itself.
    status = d.execute_async_script(
        "var done = arguments[arguments.length - 1];"
        "fetch('/api/inbox/%s/ack', {method: 'POST', credentials: "
        "'same-origin', headers: {'Content-Type': 'application/json'}, "
        "body: '{}'}).then(function (r) { done(r.status); });" % mid)
    check(status == 403, "an ack POST without the CSRF token gets 403")

    # Acknowledge it: by the logged-in person.
    d.find_element(By.ID, "note").send_keys("Seen by the MASH duty team")
    d.find_element(By.ID, "ack-button").click()
    wait(d, lambda: "Acknowledged by asha" in text_of(d, "#acks"),
         "the message page shows the acknowledgement")
    check(True, "acknowledged in the console as asha")
    shot(d, "4-acknowledged")

    def sender_says_asha():
        st, t = api(p.police, "GET", "/v1/messages/" + mid)
        return st == 200 and any(e.get("status") == "acknowledged" and
                                 e.get("by") == "asha"
                                 for e in t.get("timeline", []))
    wait(d, sender_says_asha, "the police timeline shows asha's ack")
    check(True, "the sender's timeline says acknowledged by asha")

    d.get(p.console + "/status")
    wait(d, lambda: "Broker connected" in text_of(d, "#main"),
         "the status page")
    check("Audit integrity" in text_of(d, "#main"),
          "the status page shows broker, outbox, directory and integrity")
    shot(d, "5-status")
    axe(d, "status")

    # Send: a basis error shown beside its field, then sent.
    d.get(p.console + "/send")
    wait(d, lambda: d.find_elements(By.ID, "send-form"), "the send form")
    opts = d.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll("
        "'#f-type option'), function (o) { return o.value; });")
    check(opts == ["INFO_REQUEST"],
          "the send form offers only the types the agreement allows: %s"
          % opts)
    boxes = d.execute_script(
        "return Array.prototype.map.call(document.querySelectorAll("
        "'#f-to input'), function (o) { return o.value; });")
    check(boxes == ["police.avon"],
          "and only the recipients it allows: %s" % boxes)
    d.find_element(By.CSS_SELECTOR, "#f-to input").click()
    d.find_element(By.ID, "f-subject-nhs").send_keys("943 476 5919")
    d.find_element(By.ID, "f-child-name").send_keys("Amelia Test")
    d.find_element(By.ID, "f-body-text").send_keys("Please share records.")
    d.find_element(By.ID, "f-basis-consent").send_keys("NOT_SOUGHT")
    d.find_element(By.ID, "f-basis-art9").send_keys("SAFEGUARDING")
    d.find_element(By.ID, "f-basis-justification").send_keys("too short")
    d.find_element(By.ID, "send-button").click()
    wait(d, lambda: text_of(d, "#f-basis-justification-error"),
         "the justification's error")
    check(d.execute_script(
        "var e = document.getElementById('f-basis-justification-error');"
        "return e.parentNode.getAttribute('data-field');") ==
          "basis.justification" and
          d.find_element(By.ID, "f-basis-justification")
          .get_attribute("aria-invalid") == "true",
          "a basis refusal is shown beside the justification field: %s"
          % text_of(d, "#f-basis-justification-error"))
    shot(d, "7-send-field-error")
    axe(d, "send")
    d.find_element(By.ID, "f-basis-justification").send_keys(
        ": the section 47 enquiry needs police records today.")
    d.find_element(By.ID, "send-button").click()
    wait(d, lambda: "Queued" in text_of(d, "#send-result"),
         "the message is queued")
    sent = text_of(d, "#send-result").split("message ")[1][:32]

    def police_has_it():
        st, _ = api(p.police, "GET", "/v1/inbox/" + sent)
        return st == 200
    wait(d, police_has_it, "the police agent receives it")
    check(True, "sent from the console and received by police.avon")

    d.get(p.console + "/decide")
    wait(d, lambda: d.find_elements(By.ID, "decide-form"), "decision form")
    d.find_element(By.ID, "f-subject-nhs").send_keys("943 476 5919")
    d.find_element(By.ID, "f-basis-consent").send_keys("REFUSED")
    d.find_element(By.ID, "f-basis-justification").send_keys(
        "Not proportionate: the records are not relevant.")
    d.find_element(By.ID, "decide-button").click()
    wait(d, lambda: "Recorded" in text_of(d, "#decide-result"),
         "the decision is recorded")
    check(True, "a decision not to share is recorded from the console")
    shot(d, "8-decision")
    axe(d, "decision")

    d.get(p.console + "/sent")
    row = '#sent tr[data-id="%s"]' % sent
    wait(d, lambda: "delivered to police.avon" in text_of(d, row),
         "the Sent page shows the message delivered")
    check("INFO_REQUEST" in text_of(d, row) and
          "Decision not to share" in text_of(d, "#sent"),
          "the Sent page lists the message with its timeline, and the "
          "decision")
    shot(d, "9-sent")
    axe(d, "sent")

    d.get(p.console + "/child")
    wait(d, lambda: d.find_elements(By.ID, "child-form"), "the child page")
    d.find_element(By.ID, "f-nhs").send_keys("943 476 5919")
    d.find_element(By.ID, "child-button").click()
    wait(d, lambda: "MISSING_CHILD_ALERT" in text_of(d, "#child-chronology"),
         "the child's chronology")
    check("Missing: YES" in text_of(d, "#child-flags"),
          "the child look-up shows the missing flag and the chronology")
    shot(d, "10-child")
    axe(d, "child")

    # After the idle timeout the page asks to log in again.
    p.console_agent(2)
    log_in(d, p, PASSWORD)
    wait(d, lambda: "unacknowledged" in text_of(d, "#alerts-total"),
         "logged in again")
    wait(d, lambda: d.find_element(By.ID, "ended").is_displayed(),
         "the page says the session ended")
    check("Log in again" in text_of(d, "#ended"),
          "after the idle timeout the page asks to log in again")
    shot(d, "6-session-ended")
    axe(d, "session-ended")
    d.find_element(By.ID, "login-again").click()
    wait(d, lambda: "ended" in text_of(d, "#login-message"),
         "the log-in page says the session ended")
    check(True, "the log-in page says the session ended")


def main():
    p = Partnership()
    d = None
    ok = False
    try:
        p.setup()
        d = browser()
        run(p, d)
        ok = True
    except Exception as e:  # report and fail
        print("not ok - %s: %s" % (type(e).__name__, e))
        if d is not None:
            shot(d, "failure")
    finally:
        if d is not None:
            d.quit()
        shutil.rmtree(CHROME_PROFILE, ignore_errors=True)
        if not p.close():
            ok = False
    print("browser test: %s" % ("passed" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

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
refused; after the idle timeout the page asks to log in again. Then,
with the keyboard alone, it logs in, opens an alert and acknowledges it
with a note, checking each focused control shows a visible focus ring;
and last it puts the broker's store back to an older copy (no restore
notice), so the agent sees the signed tree head go back, and checks the
red integrity banner on every page.

Every wait has a deadline; nothing asserts on elapsed time. Only the
processes started here are stopped, by pid.

HAVEN_BIN   folder with haven, haven-broker, haven-agent (default ./bin)
HAVEN_SCREENSHOTS  folder to save a screenshot of each page (optional)
HAVEN_AXE   axe-core's axe.min.js (from npm): each page is checked and a
            serious or critical WCAG 2.2 A/AA violation fails the test
"""
import json
import os
import re
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
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

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
        self.broker_conf("tcp://127.0.0.1:*")
        self.endpoint = self.broker_start()["bind"]
        # A restart must come back on the port the agents know.
        self.broker_conf(self.endpoint)
        self.police = self.agent("police.avon", "")
        self.console_agent(900)

    def broker_conf(self, bind):
        with open(os.path.join(self.dir, "broker.conf"), "w") as f:
            f.write("[broker]\nid = broker.bristol\n"
                    "key = keys/broker.bristol.key\n"
                    "root_pub = keys/root.bristol.pub\n"
                    "directory = directory.hd\nbind = %s\n"
                    "data_dir = data/broker\n" % bind)

    def broker_start(self):
        return self.start("broker", [os.path.join(BIN, "haven-broker"),
                                     "--config", "broker.conf"])

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
                    "token_file = %s.token\nsubject_key = subject.key\n"
                    "tree_head_interval = 1\n%s"
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
    """Polls cond until it holds, for DEADLINE seconds (d may be None)."""
    if d is None:
        end = time.monotonic() + DEADLINE
        while time.monotonic() < end:
            if cond():
                return True
            time.sleep(0.05)
        raise Failed("timed out: " + what)
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
        "basis": BASIS, "do_not_contact_family": True, "deadline": "RED",
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
    wait(d, lambda: "left" in text_of(d, row + " [data-deadline]"),
         "the deadline's countdown")
    check(text_of(d, row + " [data-deadline]").startswith("RED "),
          "its deadline counts down in the RED band: %s"
          % text_of(d, row + " [data-deadline]"))
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
    check("Public task, 6(1)(e)" in text_of(d, "#main"),
          "the lawful basis reads in the partnership's words (GET /api/words)")
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
    Select(d.find_element(By.ID, "f-basis-consent")).select_by_value(
        "NOT_SOUGHT")
    Select(d.find_element(By.ID, "f-basis-art9")).select_by_value(
        "SAFEGUARDING")
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
    check(text_of(d, "#f-basis-justification-error").startswith(
          "Justification must"),
          "the refusal names the field by its label, not the API's path")
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
    Select(d.find_element(By.ID, "f-basis-consent")).select_by_value(
        "REFUSED")
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
    check("Request for information" in text_of(d, row) and
          "Decision not to share" in text_of(d, "#sent"),
          "the Sent page lists the message with its timeline, and the "
          "decision")
    shot(d, "9-sent")
    axe(d, "sent")

    d.get(p.console + "/child")
    wait(d, lambda: d.find_elements(By.ID, "child-form"), "the child page")
    d.find_element(By.ID, "f-nhs").send_keys("943 476 5919")
    d.find_element(By.ID, "child-button").click()
    wait(d, lambda: "missing child alert" in text_of(d, "#child-chronology"),
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

    p.console_agent(900)
    keyboard_only(p, d)
    integrity_banner(p, d)


def keys(d, *k):
    """Types k into whatever has the focus, as a keyboard would."""
    ActionChains(d).send_keys(*k).perform()


def focused(d, cond):
    """cond, a JavaScript expression about e, the focused element."""
    return d.execute_script("var e = document.activeElement; return !!(" +
                            cond + ");")


def tab_to(d, cond, what):
    """Presses TAB until the focused element satisfies cond."""
    for _ in range(80):
        if focused(d, cond):
            return
        keys(d, Keys.TAB)
    raise Failed("TAB never reached " + what)


FOCUS_JS = """
var e = document.activeElement, s = getComputedStyle(e);
function rgb(c) {
  var m = /rgba?\\(([^)]*)\\)/.exec(c || '');
  if (!m) return null;
  var v = m[1].split(',').map(parseFloat);
  return v.length > 3 && v[3] === 0 ? null : v;
}
function lum(v) {
  return [0, 1, 2].map(function (i) {
    var c = v[i] / 255;
    return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
  }).reduce(function (a, c, i) { return a + c * [0.2126, 0.7152, 0.0722][i]; }, 0);
}
function ratio(a, b) {
  var x = lum(a), y = lum(b);
  return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
}
var bg = null;
for (var p = e.parentElement; p && !bg; p = p.parentElement)
  bg = rgb(getComputedStyle(p).backgroundColor);
bg = bg || [255, 255, 255];
var best = 0, ring = [];
if (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) >= 2)
  ring.push(rgb(s.outlineColor));
var sh = /(rgba?\\([^)]*\\))[^,]*\\s(\\d+(\\.\\d+)?)px$/.exec(s.boxShadow);
if (sh && parseFloat(sh[2]) >= 2) ring.push(rgb(sh[1]));
ring.forEach(function (c) { if (c) best = Math.max(best, ratio(c, bg)); });
return [best, s.outlineStyle + ' ' + s.outlineWidth + ' ' + s.outlineColor,
        s.boxShadow];
"""


def focus_ring(d, what):
    """Checks the focused control shows a focus indicator at least 2 px
    wide whose colour has 3:1 contrast with what is around it (WCAG 2.2
    1.4.11 and 2.4.7)."""
    best, outline, shadow = d.execute_script(FOCUS_JS)
    check(best >= 3, "%s shows a visible focus outline (contrast %.1f:1; "
          "outline %s; shadow %s)" % (what, best, outline, shadow))


def keyboard_only(p, d):
    """Log in, open an alert and acknowledge it with a note: keys only."""
    d.get(p.console + "/login")
    wait(d, lambda: focused(d, "e.id === 'name'"), "the log-in page puts "
         "the focus on the user name field")
    check(True, "the log-in page starts on the user name field")
    keys(d, "asha", Keys.TAB, PASSWORD, Keys.ENTER)
    wait(d, lambda: "unacknowledged" in text_of(d, "#alerts-total"),
         "logged in with the keyboard alone")
    check(True, "logged in with the keyboard alone")
    st, r = api(p.police, "POST", "/v1/messages", {
        "to": ["social-care.bristol"], "type": "REFERRAL",
        "priority": "URGENT", "subject": {"nhs": "943 476 5919"},
        "basis": BASIS, "child": {"name": "Amelia Test"},
        "body": {"text": "Police attended the home overnight."}})
    check(st == 202, "the police agent queued an URGENT referral: %s" % r)
    mid = r["id"]
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR,
                                    '#alerts tr[data-id="%s"] a' % mid),
         "the referral appears on the alerts page")
    keys(d, Keys.TAB)
    focus_ring(d, "the skip link")
    keys(d, Keys.TAB)
    check(focused(d, "e.id === 'nav-alerts'"), "TAB goes on to the menu")
    focus_ring(d, "a menu link on the black header")
    tab_to(d, "e.closest('tr') && e.closest('tr').getAttribute('data-id')"
           " === '%s'" % mid, "the referral's link")
    focus_ring(d, "the alert's link")
    other = send_delivered(p, 1, "meanwhile")[0]
    wait(d, lambda: d.find_elements(By.CSS_SELECTOR,
                                    '#alerts tr[data-id="%s"]' % other),
         "another message appears meanwhile")
    check(focused(d, "e.closest('tr') && e.closest('tr')"
                  ".getAttribute('data-id') === '%s'" % mid),
          "the list redrawn for a new message keeps the keyboard focus")
    keys(d, Keys.ENTER)
    wait(d, lambda: d.find_elements(By.ID, "ack-button"),
         "ENTER opens the message page")
    tab_to(d, "e.id === 'note'", "the note")
    focus_ring(d, "the note field")
    keys(d, "Spoke to the school; visit today.", Keys.TAB)
    check(focused(d, "e.id === 'ack-button'"),
          "TAB goes from the note to the Acknowledge button")
    focus_ring(d, "the Acknowledge button")
    shot(d, "12-keyboard-focus")
    keys(d, Keys.SPACE)
    wait(d, lambda: "Acknowledged by asha" in text_of(d, "#acks"),
         "SPACE acknowledges")
    check("visit today" in text_of(d, "#acks"),
          "acknowledged with a note using the keyboard alone")
    check(focused(d, "e.id === 'acks'"),
          "the focus moves to the acknowledgement that was made")


def tree_head_size(agent):
    st, h = api(agent, "GET", "/v1/health")
    return h.get("tree_head", {}).get("size", 0) if st == 200 else 0


def integrity_failed(agent):
    st, h = api(agent, "GET", "/v1/health")
    return st == 200 and h.get("integrity", {}).get("ok") is False


def send_delivered(p, n, tag):
    """Sends n referrals from the police and waits for each delivery;
    returns their ids."""
    ids = []
    for i in range(n):
        st, r = api(p.police, "POST", "/v1/messages", {
            "to": ["social-care.bristol"], "type": "REFERRAL",
            "priority": "ROUTINE", "subject": {"nhs": "943 476 5919"},
            "basis": BASIS, "child": {"name": "Amelia Test"},
            "body": {"text": "%s %d" % (tag, i)}})
        if st != 202:
            raise Failed("the police agent did not queue %s: %s" % (tag, r))

        def delivered():
            st, t = api(p.police, "GET", "/v1/messages/" + r["id"])
            return st == 200 and any(e.get("status") == "delivered"
                                     for e in t.get("timeline", []))
        wait(None, delivered, "%s %d delivered" % (tag, i))
        ids.append(r["id"])
    return ids


def integrity_banner(p, d):
    """The broker's store put back to an older copy (no restore notice)
    while the agents run: the agent sees the signed tree head go back,
    and every console page shows the red banner."""
    data = os.path.join(p.dir, "data", "broker")
    copy = os.path.join(p.dir, "broker-copy")
    wait(d, lambda: tree_head_size(p.social) > 0,
         "the console's agent verified a tree head")
    check(p.stop("broker") == 0, "the broker stopped")
    shutil.copytree(data, copy, symlinks=True)
    out = p.run(os.path.join(BIN, "haven"), "audit", "verify", "--db",
                copy).stdout
    copied = int(re.search(r"OK: (\d+)", out).group(1))
    p.broker_start()
    send_delivered(p, 3, "later")
    wait(d, lambda: tree_head_size(p.social) > copied,
         "the agent verified history past the copy")
    check(p.stop("broker") == 0, "the broker stopped again")
    shutil.rmtree(data)
    shutil.copytree(copy, data, symlinks=True)
    p.broker_start()
    send_delivered(p, 1, "rewritten")
    wait(d, lambda: integrity_failed(p.social),
         "the agent raises the integrity failure")
    check(True, "the agent saw the broker's history go back")

    st, inbox = api(p.social, "GET", "/v1/inbox?limit=1")
    mid = inbox["messages"][0]["id"]
    for page in ("/", "/message/" + mid, "/send", "/sent", "/decide",
                 "/child", "/status"):
        d.get(p.console + page)
        wait(d, lambda: d.find_element(By.ID, "integrity").is_displayed(),
             "the red banner on " + page)
        b = d.find_element(By.ID, "integrity")
        check(b.get_attribute("role") == "alert" and
              "audit trail" in b.text.lower() and
              b.value_of_css_property("background-color") ==
              "rgba(168, 7, 26, 1)",
              "the red integrity banner (role=alert) shows on %s: %s"
              % (page, b.text))
        if page in ("/", "/status"):
            shot(d, "11-integrity-" + (page.strip("/") or "alerts"))
    axe(d, "status with the integrity banner")


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

"""Proof of presence through real polkit: a system bus, polkitd, our action file, a real text authentication agent
(pkttyagent) and the PAM password check of polkit-agent-helper-1, with the app's PresenceGate as the subject
running as an ordinary user (root is always authorized by polkit, so it would prove nothing).

This sets up system-wide state (a user account, a system bus at the standard path, an action file), so it runs
only as root on a machine without a system bus of its own — a container such as the test machine — and undoes
all of it afterwards. Elsewhere it is skipped with the reason.
"""

from __future__ import annotations

import os
import pty
import secrets
import select
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from approver.ui.presence import POLKIT_ACTION, POLKIT_ACTIONS_DIR
from tests.conftest import ROOT

pytestmark = [pytest.mark.e2e]

SYSTEM_BUS = Path("/run/dbus/system_bus_socket")  # setuid helpers ignore DBUS_SYSTEM_BUS_ADDRESS: the real path
POLKITD = Path("/usr/lib/polkit-1/polkitd")
ACTION_FILE = ROOT / "approver" / "resources" / f"{POLKIT_ACTION}.policy"
SUBJECT = Path(__file__).with_name("polkit_subject.py")
BUS_CONFIG = f"""<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={SYSTEM_BUS}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"""


@dataclass
class PolkitMachine:
    user: str
    password: str
    home: Path

    def as_user(self, *command: str) -> list[str]:
        return ["setpriv", f"--reuid={self.user}", f"--regid={self.user}", "--clear-groups", "--", *command]


def _wait(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture(scope="module")
def polkit_machine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PolkitMachine]:
    needed = ("dbus-daemon", "pkttyagent", "pkcheck", "pkaction", "setpriv", "useradd", "userdel", "chpasswd")
    missing = [tool for tool in needed if shutil.which(tool) is None] + ([] if POLKITD.exists() else ["polkitd"])
    if missing:
        pytest.skip(f"polkit cannot be tested here: {', '.join(missing)} missing")
    if os.geteuid() != 0:
        pytest.skip("polkit is tested only as root in a container (it adds a user and starts a system bus)")
    if SYSTEM_BUS.exists() or (POLKIT_ACTIONS_DIR / ACTION_FILE.name).exists():
        pytest.skip("this machine runs its own system bus or has our polkit action installed: not touched")
    workdir = tmp_path_factory.mktemp("polkit")
    config = workdir / "system-bus.conf"
    config.write_text(BUS_CONFIG)
    user = f"mcpapprover-pk{secrets.token_hex(3)}"
    password = secrets.token_urlsafe(12)
    home = workdir / "home"
    processes: list[subprocess.Popen[bytes]] = []
    user_added = False
    try:
        shutil.copy(ACTION_FILE, POLKIT_ACTIONS_DIR / ACTION_FILE.name)
        processes.append(
            subprocess.Popen(["dbus-daemon", "--config-file", str(config), "--nofork"], stderr=subprocess.DEVNULL)
        )
        _wait(SYSTEM_BUS.exists, "the system bus")
        processes.append(
            subprocess.Popen([str(POLKITD), "--no-debug"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        )
        _wait(
            lambda: (
                subprocess.run(["pkaction", "--action-id", POLKIT_ACTION], capture_output=True, check=False).returncode
                == 0
            ),
            "polkitd to know our action",
        )
        subprocess.run(["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin", user], check=True)
        user_added = True
        subprocess.run(["chpasswd"], input=f"{user}:{password}\n".encode(), check=True)
        home.mkdir()
        shutil.chown(home, user, user)
        yield PolkitMachine(user, password, home)
    finally:
        for process in reversed(processes):
            _stop(process)
        SYSTEM_BUS.unlink(missing_ok=True)
        (POLKIT_ACTIONS_DIR / ACTION_FILE.name).unlink(missing_ok=True)
        if user_added:
            subprocess.run(["userdel", user], check=False)


class Subject:
    """polkit_subject.py as the ordinary user: our PresenceGate asking polkit about its own process."""

    def __init__(self, machine: PolkitMachine) -> None:
        env = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "HOME": str(machine.home),
            "XDG_CACHE_HOME": str(machine.home / "cache"),
            "XDG_RUNTIME_DIR": str(machine.home / "run"),
        }
        (machine.home / "run").mkdir(mode=0o700, exist_ok=True)
        shutil.chown(machine.home / "run", machine.user, machine.user)
        self.process = subprocess.Popen(
            machine.as_user(sys.executable, str(SUBJECT)),
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
        )
        assert self.process.stdout is not None
        ready = self.process.stdout.readline().decode().split()
        assert ready[:1] == ["ready"] and ready[2] == "polkit=True", ready
        self.pid = ready[1]

    def ask(self) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(b"go\n")
        self.process.stdin.flush()

    def close(self) -> None:
        _stop(self.process)
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()

    def outcome(self) -> str:
        assert self.process.stdout is not None
        line = self.process.stdout.readline().decode().strip()
        assert self.process.wait(timeout=30) == 0
        return line


class TextAgent:
    """pkttyagent, the user's authentication agent for the subject, on a pseudo-terminal the test types into."""

    def __init__(self, machine: PolkitMachine, subject_pid: str) -> None:
        registered, notify = os.pipe()
        os.set_inheritable(notify, True)
        command = machine.as_user("pkttyagent", "--process", subject_pid, "--notify-fd", str(notify))
        self.pid, self.terminal = pty.fork()
        if self.pid == 0:  # the child: becomes the agent
            os.execvp(command[0], command)
        os.close(notify)
        os.read(registered, 1)  # closed (or written) once the agent is registered with polkitd
        os.close(registered)
        self.said = b""

    def wait_for(self, text: bytes, timeout: float = 20) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.said:
            assert time.monotonic() < deadline, f"the agent never said {text!r}: {self.said!r}"
            if select.select([self.terminal], [], [], 0.1)[0]:
                self.said += os.read(self.terminal, 4096)

    def type(self, line: str) -> None:
        os.write(self.terminal, f"{line}\n".encode())

    def stop(self) -> None:
        os.kill(self.pid, 15)
        os.waitpid(self.pid, 0)
        os.close(self.terminal)


@pytest.mark.parametrize(("typed", "expected"), [("password", "POLKIT"), ("a guess", "None")])
def test_polkit_asks_for_the_users_password_and_only_that_proves_presence(
    polkit_machine: PolkitMachine, typed: str, expected: str
) -> None:
    subject = Subject(polkit_machine)
    agent = TextAgent(polkit_machine, subject.pid)
    try:
        subject.ask()
        agent.wait_for(b"Password: ")
        assert f"Authenticating as: {polkit_machine.user}".encode() in agent.said
        assert b"MCP Approver needs your password" in agent.said
        agent.type(polkit_machine.password if typed == "password" else "not-the-password")
        assert subject.outcome() == f"proof: {expected}"
    finally:
        agent.stop()
        subject.close()


def test_without_an_authentication_agent_the_code_is_asked_for(polkit_machine: PolkitMachine) -> None:
    subject = Subject(polkit_machine)
    try:
        subject.ask()
        assert subject.outcome() == "proof: the code dialog is shown"
    finally:
        subject.close()

"""A real Synapse on 127.0.0.1 for the Matrix tests and benchmark, started once per session.

The config is generated into a temporary directory: SQLite, loopback, a free port, registration
by shared secret only. Synapse's default message limit (``rc_message``: 0.2 msg/s, burst 10 per
sender) is left as it is; the limits on joins, invites, room creation and logins are raised,
since every test makes rooms. Accounts that should not be limited are lifted with the admin
API's ``override_ratelimit``, so one account per session keeps the default for the test about it.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx

SERVER_NAME = "eventbot.test"
PEOPLE = ("alice", "bob", "carol")  # registered beside the bots by the session fixture
START_TIMEOUT = 120.0  # seconds; ~2 s on a quiet machine, much more on a loaded CI runner

RAISED = {"per_second": 1000, "burst_count": 1000}
CONFIG = """\
server_name: "{server_name}"
pid_file: "{dir}/homeserver.pid"
public_baseurl: "http://127.0.0.1:{port}/"
listeners:
  - port: {port}
    bind_addresses: ["127.0.0.1"]
    type: http
    tls: false
    x_forwarded: false
    resources:
      - names: [client]
        compress: false
database:
  name: sqlite3
  args:
    database: "{dir}/homeserver.db"
log_config: "{dir}/log.yaml"
media_store_path: "{dir}/media"
signing_key_path: "{dir}/signing.key"
registration_shared_secret: "{secret}"
macaroon_secret_key: "{macaroon}"
form_secret: "{form}"
enable_registration: false
report_stats: false
trusted_key_servers: []
suppress_key_server_warning: true
presence:
  enabled: false
url_preview_enabled: false
enable_metrics: false
# rc_message is left at Synapse's default: 0.2 msg/s with a burst of 10 per sender.
rc_joins:
  local: {raised}
  remote: {raised}
rc_joins_per_room: {raised}
rc_invites:
  per_room: {raised}
  per_user: {raised}
  per_issuer: {raised}
rc_room_creation: {raised}
rc_login:
  address: {raised}
  account: {raised}
  failed_attempts: {raised}
rc_registration: {raised}
rc_admin_redaction: {raised}
"""

LOG_CONFIG = """\
version: 1
formatters:
  precise:
    format: '%(asctime)s - %(name)s - %(levelname)s - %(message)s'
handlers:
  file:
    class: logging.FileHandler
    formatter: precise
    filename: "{dir}/homeserver.log"
root:
  level: WARNING
  handlers: [file]
disable_existing_loggers: false
"""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Account:
    user_id: str
    localpart: str
    password: str
    access_token: str
    device_id: str


@dataclass
class Synapse:
    """A running Synapse: its URL, an admin account, and the accounts registered on it."""

    url: str
    directory: Path
    shared_secret: str
    process: subprocess.Popen[bytes]
    admin: Account | None = None
    accounts: dict[str, Account] = field(default_factory=dict)

    def register(self, localpart: str, *, admin: bool = False, displayname: str | None = None) -> Account:
        """Register through the admin API with the shared secret (HMAC over a nonce)."""
        password = secrets.token_urlsafe(12)
        with httpx.Client(base_url=self.url, timeout=30) as http:
            nonce = http.get("/_synapse/admin/v1/register").json()["nonce"]
            mac = hmac.new(self.shared_secret.encode(), digestmod=hashlib.sha1)
            mac.update(b"\x00".join([nonce.encode(), localpart.encode(), password.encode(),
                                     b"admin" if admin else b"notadmin"]))
            reply = http.post("/_synapse/admin/v1/register", json={
                "nonce": nonce, "username": localpart, "password": password, "admin": admin,
                "displayname": displayname or localpart.capitalize(), "mac": mac.hexdigest()})
            reply.raise_for_status()
            body = reply.json()
        account = Account(body["user_id"], localpart, password, body["access_token"], body["device_id"])
        self.accounts[localpart] = account
        return account

    def lift_rate_limit(self, user_id: str) -> None:
        """The admin API's ``override_ratelimit``: 0 and 0 mean no limit for this account."""
        assert self.admin is not None
        with httpx.Client(base_url=self.url, timeout=30) as http:
            reply = http.post(f"/_synapse/admin/v1/users/{quote(user_id)}/override_ratelimit",
                              headers={"Authorization": f"Bearer {self.admin.access_token}"},
                              json={"messages_per_second": 0, "burst_count": 0})
            reply.raise_for_status()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def log_tail(self, lines: int = 30) -> str:
        path = self.directory / "homeserver.log"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else ""


def _wait_healthy(url: str, process: subprocess.Popen[bytes], directory: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    with httpx.Client(timeout=2) as http:
        while time.monotonic() < deadline:
            if process.poll() is not None:
                out = (directory / "stdout.log").read_text(errors="replace")
                raise RuntimeError(f"synapse exited with {process.returncode}:\n{out[-3000:]}")
            with contextlib.suppress(httpx.HTTPError):
                if http.get(f"{url}/health").status_code == 200:
                    return
            time.sleep(0.1)  # polling a subprocess's port: nothing to await
    raise RuntimeError(f"synapse did not answer on {url} within {START_TIMEOUT:.0f} s")


@contextlib.contextmanager
def running_synapse(directory: Path) -> Iterator[Synapse]:
    """Generate a config into ``directory``, start Synapse, and stop it on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    port = free_port()
    secret = secrets.token_hex(16)
    raised = "{" + ", ".join(f"{k}: {v}" for k, v in RAISED.items()) + "}"
    config = directory / "homeserver.yaml"
    config.write_text(CONFIG.format(server_name=SERVER_NAME, dir=directory, port=port, secret=secret,
                                    macaroon=secrets.token_hex(16), form=secrets.token_hex(16), raised=raised))
    (directory / "log.yaml").write_text(LOG_CONFIG.format(dir=directory))
    env = {**os.environ, "SYNAPSE_CACHE_FACTOR": "0.1"}
    subprocess.run([sys.executable, "-m", "synapse.app.homeserver", "-c", str(config), "--generate-keys"],
                   check=True, capture_output=True, env=env, cwd=directory)
    with (directory / "stdout.log").open("wb") as output:
        process = subprocess.Popen([sys.executable, "-m", "synapse.app.homeserver", "-c", str(config)],
                                   stdout=output, stderr=subprocess.STDOUT, env=env, cwd=directory)
    server = Synapse(f"http://127.0.0.1:{port}", directory, secret, process)
    try:
        _wait_healthy(server.url, process, directory)
        server.admin = server.register("admin", admin=True)
        server.lift_rate_limit(server.admin.user_id)
        yield server
    finally:
        server.stop()

"""Runtime settings, from the environment (BIDWATCH_*) only. Secrets never live in files."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Everything an operator can set. Read once at start; pass it down, never import a global."""

    model_config = SettingsConfigDict(env_prefix="BIDWATCH_", extra="ignore")

    #: where the database, evidence and outbox files live
    home: Path = Path("var")
    #: the compliance program directory
    rules: Path = Path("rules")
    #: SQLAlchemy URL; default is SQLite in WAL mode under `home`. DATABASE_URL also works.
    database_url: str | None = Field(default=None, validation_alias="DATABASE_URL")
    #: a Chromium/Chrome binary; found automatically when unset
    chromium: Path | None = None
    #: concurrent capture tasks (browser contexts open at once)
    concurrency: int = Field(default=2, ge=1, le=64)
    #: searches one browser context serves per market profile (market, device)
    #: before it is replaced; 1 = a fresh context for every search
    context_reuse: int = Field(default=20, ge=1, le=1000)
    #: seconds between two searches on the same engine, plus up to `pace_jitter_s` at random
    pace_s: float = Field(default=3.0, ge=0)
    pace_jitter_s: float = Field(default=2.0, ge=0)
    #: a blocked engine (captcha, 429) is left alone for a jittered cool-down that doubles
    #: with each block in a row, from `cooldown_s` up to `cooldown_max_s`; a blocked task is
    #: asked again in the same sweep when its cool-down ends within `block_retry_wait_s`,
    #: else the next sweep asks it
    cooldown_s: float = Field(default=60.0, ge=0)
    cooldown_max_s: float = Field(default=1800.0, ge=0)
    block_retry_wait_s: float = Field(default=600.0, ge=0)
    #: tasks one browser serves before it is replaced (a long-lived Chromium only grows)
    browser_recycle_tasks: int = Field(default=200, ge=1)
    #: a proxy per market id, as JSON: {"de-de": "http://user:pass@proxy.example:3128"}
    #: (credentials live in the environment with the rest of this setting, never in rules/)
    proxies: dict[str, str] = Field(default_factory=dict)
    #: per-navigation timeout
    page_timeout_s: float = Field(default=30.0, gt=0)
    #: host:port of the local simulator; every host then resolves to it (demo and tests only)
    simulator: str | None = None
    #: follow redirect chains into loopback/private addresses (only for the simulator)
    allow_private_networks: bool = False
    #: the SMTP server partner notices (and the digest) go out through, e.g.
    #: smtp://user@smtp.example.com:587?starttls=require, smtps://user@host (port 465), or
    #: apprise's form mailtos://user@host:587?from=... (monitor/notify/smtp.py); the
    #: password in the URL or in `smtp_password`: the environment, never the rules
    notice_url: str | None = None
    #: the SMTP password, when the URL carries none (never logged or shown)
    smtp_password: SecretStr | None = None
    #: seconds each SMTP step (connect, greeting, TLS, login, every command) may take
    smtp_timeout_s: float = Field(default=30.0, gt=0)
    #: a CA bundle (PEM) to check the SMTP server's certificate against, for a private CA;
    #: unset: the system's trust store
    smtp_ca_file: Path | None = None
    #: apprise URLs for alerts to compliance staff, space separated
    alert_urls: str = ""
    #: write every rendered notice as .eml under home/outbox as well as sending it
    keep_eml: bool = True
    #: render and record notices but send nothing
    dry_run: bool = False
    #: days evidence (page HTML, screenshots) is kept, unless an open incident rests on it
    evidence_days: int = Field(default=180, ge=1)
    #: ports a redirect chain may reach (JSON list in the environment, e.g. [80, 443, 8443])
    chain_ports: list[int] = Field(default=[80, 443])
    #: hops and seconds allowed when following an ad's redirect chain
    max_hops: int = Field(default=10, ge=1, le=50)
    chain_timeout_s: float = Field(default=20.0, gt=0)
    #: a chain followed within this many hours for the same entry URL, market and device
    #: (and that ended well) is reused instead of followed again; 0 = always follow live
    chain_reuse_hours: float = Field(default=24.0, ge=0)
    #: alerts: the least severity of a new incident that raises an alert
    alert_min_severity: str = Field(default="high", pattern="^(info|low|medium|high|critical)$")
    #: alerts: a sweep whose share of blocked pages (captcha, consent, rate limit) passes this
    alert_blocked_share: float = Field(default=0.25, ge=0, le=1)
    #: alerts: an engine counts as down when at least this many of its pages in a sweep were
    #: asked and none was captured
    alert_engine_min_tasks: int = Field(default=2, ge=1)
    #: outbox: attempts before an item is dead, and the first retry delay (doubling after)
    outbox_max_attempts: int = Field(default=6, ge=1, le=50)
    outbox_backoff_s: float = Field(default=120.0, ge=0)
    #: outbox: an item left `sending` this long (a crash mid-send) is tried again
    outbox_sending_timeout_s: float = Field(default=600.0, ge=0)

    # -- the daemon (`bidwatch run`) ---------------------------------------------------------
    #: one JSON object per log line instead of plain text
    log_json: bool = False
    #: host:port of the /healthz and /metrics endpoint (keep it on loopback); "0" turns it off
    http_listen: str = "127.0.0.1:9464"
    #: seconds between checks of rules/ for changes (SIGHUP reloads at once); 0 = SIGHUP only
    reload_poll_s: float = Field(default=5.0, ge=0)
    #: seeds the random sweep times; default: a random seed kept in home/schedule.seed
    schedule_seed: str | None = None
    #: a sweep that could not start on time still runs within this many seconds, else waits
    #: for its next time (missed runs are collapsed into one)
    misfire_grace_s: int = Field(default=900, ge=1)

    # -- the console (`bidwatch serve`) ------------------------------------------------------
    #: signs the console's session cookies; unset: a random one kept in home/console.secret
    console_secret: SecretStr | None = None
    #: where staff reach the console (e.g. https://bidwatch.example.com): the digest's links,
    #: and an https URL makes the session cookie Secure
    public_url: str | None = None
    #: a console session ends this many hours after login, or after this many idle minutes
    console_session_hours: float = Field(default=8.0, gt=0, le=24 * 30)
    console_idle_minutes: float = Field(default=60.0, gt=0)
    #: host:port where `bidwatch run` serves the console too (keep it on loopback, behind
    #: the reverse proxy); empty: the daemon serves none (`bidwatch serve` does)
    console_listen: str = ""
    #: the reverse proxies in front of the console (addresses or networks, comma separated,
    #: e.g. "127.0.0.1,172.16.0.0/12"): from them only, X-Forwarded-For and -Proto are believed,
    #: so login throttling per address counts the client, not the proxy
    console_trusted_proxies: str = ""
    #: the header an SSO proxy sets to the signed-in user's name (e.g. X-Forwarded-User or
    #: Remote-User); believed from a trusted proxy only; empty: staff log in with a password
    console_sso_header: str = Field(default="", pattern=r"^[A-Za-z0-9-]*$")

    @model_validator(mode="after")
    def _sso_needs_a_trusted_proxy(self) -> Settings:
        # a user-name header believed from anyone would let anyone be anyone
        if self.console_sso_header and not self.console_trusted_proxies.strip():
            raise ValueError("BIDWATCH_CONSOLE_SSO_HEADER is believed only from a trusted "
                             "proxy: set BIDWATCH_CONSOLE_TRUSTED_PROXIES to its address")
        return self

    @property
    def database(self) -> str:
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'bidwatch.db').resolve()}"

    @property
    def evidence_dir(self) -> Path:
        return self.home / "evidence"

    @property
    def outbox_dir(self) -> Path:
        return self.home / "outbox"

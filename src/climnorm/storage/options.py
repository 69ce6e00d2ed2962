"""How to reach an S3-compatible store: `StorageOptions` (frozen, picklable, secrets redacted) and its policies.

Values come from a config mapping first, then the standard `AWS_*` environment variables, then the AWS shared
config/credentials files (a named or the default profile), the same order as the AWS CLI. Secrets (secret key,
session token) are kept for signing only: `repr`, `describe()` and `fingerprint()` never contain them.
"""

from __future__ import annotations

import configparser
import dataclasses
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from climnorm.errors import ConfigError

DEFAULT_REGION = "us-east-1"
MiB = 1024 * 1024


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts, exponential backoff with full jitter, and per-request timeouts (seconds)."""

    max_attempts: int = 5
    base_delay: float = 0.2
    max_delay: float = 10.0
    request_timeout: float = 60.0
    connect_timeout: float = 5.0


@dataclass(frozen=True)
class ReadPolicy:
    """How ranged reads are batched and cached (bytes unless named otherwise)."""

    coalesce_gap: int = 256 * 1024  # ranges closer than this are fetched by one request
    max_request: int = 16 * MiB  # no request asks for more than this; bigger ranges are split
    max_concurrency: int = 16  # requests in flight per process
    block_size: int = 256 * 1024  # the file-like view's cache block (8 requests, 1.8 MB to index a NEX file)
    cache_bytes: int = 64 * MiB  # the file-like view's cache, per open view
    max_read_all: int = 2048 * MiB  # `read_all` refuses objects bigger than this
    if_match: bool = True  # ask for the etag seen when the source was opened, so a rewrite mid-read is caught


_SECRET_FIELDS = ("secret", "session_token")


@dataclass(frozen=True, repr=False)
class StorageOptions:
    """Where the store is and how to sign for it; built by `from_config`, safe to pickle to worker processes.

    `anon=None` means: anonymous unless credentials were found. Pass `anon=False` with no credentials to let the
    client use the instance's role (EC2/ECS metadata), which is only reachable inside AWS.
    """

    endpoint_url: str | None = None
    anon: bool | None = None
    region: str = DEFAULT_REGION
    profile: str | None = None
    key: str | None = field(default=None, repr=False)
    secret: str | None = field(default=None, repr=False)
    session_token: str | None = field(default=None, repr=False)
    credential_source: str = "none"
    retry: RetryPolicy = RetryPolicy()
    reads: ReadPolicy = ReadPolicy()

    @classmethod
    def from_config(
        cls, config: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None
    ) -> StorageOptions:
        """Resolve options from `config` (keys as the field names, plus `retry`/`reads` mappings) then `environ`."""
        import os

        return _resolve(dict(config or {}), dict(os.environ if environ is None else environ))

    @property
    def anonymous(self) -> bool:
        """Whether requests go unsigned."""
        return bool(self.anon) if self.anon is not None else self.key is None

    def secrets(self) -> tuple[str, ...]:
        """The secret strings, for scrubbing text that might contain them."""
        return tuple(v for v in (self.secret, self.session_token, self.key) if v)

    def describe(self) -> dict[str, object]:
        """A public form (for logs, manifests, output attributes): no key, secret or token."""
        return {
            "endpoint_url": self.endpoint_url or "aws",
            "region": self.region,
            "anonymous": self.anonymous,
            "profile": self.profile,
            "credentials": "none" if self.anonymous else self.credential_source,
            "retry": dataclasses.asdict(self.retry),
            "reads": dataclasses.asdict(self.reads),
        }

    def fingerprint(self) -> str:
        """A short stable hash of `describe()` (so never of a secret)."""
        text = json.dumps(self.describe(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        d = self.describe()
        return (
            f"StorageOptions(endpoint_url={d['endpoint_url']!r}, region={self.region!r}, "
            f"anonymous={self.anonymous}, profile={self.profile!r}, credentials={d['credentials']!r})"
        )

    __str__ = __repr__


_TOP_KEYS = {"endpoint_url", "anon", "region", "profile", "key", "secret", "session_token", "retry", "reads"}


def _policy(kind: type[Any], values: object, name: str) -> Any:
    """A `RetryPolicy`/`ReadPolicy` from a mapping, naming unknown keys (never values) in the error."""
    if values is None:
        return kind()
    if isinstance(values, kind):
        return values
    if not isinstance(values, Mapping):
        raise ConfigError(f"storage.{name} must be a mapping")
    known = {f.name for f in dataclasses.fields(kind)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ConfigError(f"storage.{name}: unknown keys {unknown}; known: {sorted(known)}")
    return kind(**values)


def _profile_files(env: Mapping[str, str]) -> tuple[Path, Path]:
    home = Path(env.get("HOME") or Path.home())
    creds = Path(env.get("AWS_SHARED_CREDENTIALS_FILE") or home / ".aws" / "credentials")
    conf = Path(env.get("AWS_CONFIG_FILE") or home / ".aws" / "config")
    return creds, conf


def _read_profile(name: str, env: Mapping[str, str]) -> dict[str, str] | None:
    """The merged settings of profile `name` from the credentials and config files, or None if it is nowhere."""
    creds_file, conf_file = _profile_files(env)
    found: dict[str, str] = {}
    seen = False
    for path, section in ((conf_file, "default" if name == "default" else f"profile {name}"), (creds_file, name)):
        parser = configparser.RawConfigParser()
        try:
            parser.read(path)
        except configparser.Error as exc:
            raise ConfigError(f"{path}: cannot be parsed ({type(exc).__name__})") from None
        if parser.has_section(section):
            seen = True
            found.update(parser.items(section))
    return found if seen else None


def _credentials(
    cfg: dict[str, Any],
    env: Mapping[str, str],
    profile: dict[str, str] | None,
    profile_name: str | None,
    explicit_profile: bool,
) -> tuple[str | None, str | None, str | None, str]:
    """(key, secret, token, source) in the AWS CLI's order: config, explicit profile, environment, profile."""
    if cfg.get("key") or cfg.get("secret"):
        if not (cfg.get("key") and cfg.get("secret")):
            raise ConfigError("storage: give both key and secret, or neither")
        return cfg["key"], cfg["secret"], cfg.get("session_token"), "config"
    from_profile = None
    if profile and profile.get("aws_access_key_id") and profile.get("aws_secret_access_key"):
        from_profile = (
            profile["aws_access_key_id"],
            profile["aws_secret_access_key"],
            profile.get("aws_session_token"),
            f"profile {profile_name}",
        )
    if explicit_profile and from_profile:
        return from_profile
    if env.get("AWS_ACCESS_KEY_ID") and env.get("AWS_SECRET_ACCESS_KEY"):
        return env["AWS_ACCESS_KEY_ID"], env["AWS_SECRET_ACCESS_KEY"], env.get("AWS_SESSION_TOKEN"), "environment"
    if from_profile:
        return from_profile
    return None, None, None, "none"


def _resolve(cfg: dict[str, Any], env: dict[str, str]) -> StorageOptions:
    """The body of `StorageOptions.from_config`."""
    unknown = sorted(set(cfg) - _TOP_KEYS)
    if unknown:
        raise ConfigError(f"storage: unknown keys {unknown}; known: {sorted(_TOP_KEYS)}")
    explicit_profile = bool(cfg.get("profile"))
    profile_name = cfg.get("profile") or env.get("AWS_PROFILE") or "default"
    profile = _read_profile(profile_name, env)
    if profile is None and (explicit_profile or env.get("AWS_PROFILE")):
        files = ", ".join(str(p) for p in _profile_files(env))
        raise ConfigError(f"storage: AWS profile {profile_name!r} not found in {files}")
    anon = cfg.get("anon")
    if anon is not None and not isinstance(anon, bool):
        raise ConfigError("storage.anon must be true or false")
    key, secret, token, source = (
        (None, None, None, "none") if anon else _credentials(cfg, env, profile, profile_name, explicit_profile)
    )
    prof = profile or {}
    endpoint = (
        cfg.get("endpoint_url")
        or env.get("AWS_ENDPOINT_URL_S3")
        or env.get("AWS_ENDPOINT_URL")
        or prof.get("endpoint_url")
    )
    region = (
        cfg.get("region")
        or env.get("AWS_REGION")
        or env.get("AWS_DEFAULT_REGION")
        or prof.get("region")
        or DEFAULT_REGION
    )
    if endpoint and not endpoint.startswith(("http://", "https://")):
        raise ConfigError(f"storage.endpoint_url must start with http:// or https://, got {endpoint!r}")
    return StorageOptions(
        endpoint_url=endpoint.rstrip("/") if endpoint else None,
        anon=anon,
        region=region,
        profile=profile_name if profile is not None else None,
        key=key,
        secret=secret,
        session_token=token,
        credential_source=source,
        retry=_policy(RetryPolicy, cfg.get("retry"), "retry"),
        reads=_policy(ReadPolicy, cfg.get("reads"), "reads"),
    )

"""StorageOptions resolution (config, AWS_* environment, profiles), redaction, URLs, request planning, backoff."""

from __future__ import annotations

import itertools
import pickle
import random
from pathlib import Path

import pytest

from climnorm.errors import ConfigError
from climnorm.storage import RetryPolicy, S3Url, StorageError, StorageOptions, is_s3_url
from climnorm.storage.ranges import cut, plan_requests
from climnorm.storage.retry import RequestFailed, backoff, classify

SECRET, TOKEN = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYSECRET", "FwoGZXIvYXdzTOKEN"


def test_config_beats_environment() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://env:9000",
        "AWS_REGION": "eu-west-1",
        "AWS_ACCESS_KEY_ID": "ENVKEY",
        "AWS_SECRET_ACCESS_KEY": "envsecret",
    }
    opts = StorageOptions.from_config(
        {"endpoint_url": "http://cfg:9000/", "region": "us-west-2", "key": "CFGKEY", "secret": SECRET}, environ=env
    )
    assert (opts.endpoint_url, opts.region, opts.key, opts.secret) == ("http://cfg:9000", "us-west-2", "CFGKEY", SECRET)
    assert opts.credential_source == "config" and not opts.anonymous


def test_environment_fills_what_config_leaves_out() -> None:
    env = {
        "AWS_ENDPOINT_URL": "http://minio:9000",
        "AWS_DEFAULT_REGION": "eu-central-1",
        "AWS_ACCESS_KEY_ID": "ENVKEY",
        "AWS_SECRET_ACCESS_KEY": SECRET,
        "AWS_SESSION_TOKEN": TOKEN,
    }
    opts = StorageOptions.from_config({}, environ=env)
    assert (opts.endpoint_url, opts.region, opts.key, opts.session_token) == (
        "http://minio:9000",
        "eu-central-1",
        "ENVKEY",
        TOKEN,
    )
    assert opts.credential_source == "environment"
    assert StorageOptions.from_config({}, environ={**env, "AWS_REGION": "ap-south-1"}).region == "ap-south-1"


def test_nothing_found_means_anonymous_default_region() -> None:
    opts = StorageOptions.from_config({}, environ={"HOME": "/nonexistent"})
    assert opts.anonymous and opts.endpoint_url is None and opts.region == "us-east-1"
    assert StorageOptions.from_config({"anon": False}, environ={"HOME": "/nonexistent"}).anonymous is False


def test_anon_ignores_credentials_everywhere() -> None:
    env = {"AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": SECRET}
    opts = StorageOptions.from_config({"anon": True, "key": "K", "secret": SECRET}, environ=env)
    assert opts.anonymous and opts.key is None and opts.secret is None


def _aws_files(home: Path) -> None:
    (home / ".aws").mkdir()
    (home / ".aws" / "credentials").write_text(
        f"[default]\naws_access_key_id = DEFKEY\naws_secret_access_key = {SECRET}\n"
        f"[ceph]\naws_access_key_id = CEPHKEY\naws_secret_access_key = {SECRET}\naws_session_token = {TOKEN}\n"
    )
    (home / ".aws" / "config").write_text(
        "[default]\nregion = eu-north-1\n[profile ceph]\nregion = local\nendpoint_url = http://ceph:7480\n"
    )


def test_profiles_from_the_shared_files(tmp_path: Path) -> None:
    _aws_files(tmp_path)
    default = StorageOptions.from_config({}, environ={"HOME": str(tmp_path)})
    assert (default.key, default.region, default.profile) == ("DEFKEY", "eu-north-1", "default")
    ceph = StorageOptions.from_config({}, environ={"HOME": str(tmp_path), "AWS_PROFILE": "ceph"})
    assert (ceph.key, ceph.session_token, ceph.endpoint_url, ceph.region) == (
        "CEPHKEY",
        TOKEN,
        "http://ceph:7480",
        "local",
    )
    assert ceph.credential_source == "profile ceph"


def test_environment_keys_beat_aws_profile_but_not_an_explicit_profile(tmp_path: Path) -> None:
    _aws_files(tmp_path)
    env = {"HOME": str(tmp_path), "AWS_PROFILE": "ceph", "AWS_ACCESS_KEY_ID": "ENVKEY", "AWS_SECRET_ACCESS_KEY": SECRET}
    assert StorageOptions.from_config({}, environ=env).key == "ENVKEY"
    assert StorageOptions.from_config({"profile": "ceph"}, environ=env).key == "CEPHKEY"


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"profile": "nope"}, "AWS profile 'nope' not found"),
        ({"secret": SECRET}, "give both key and secret"),
        ({"scret": SECRET}, "unknown keys ['scret']"),
        ({"endpoint_url": "minio:9000"}, "must start with http"),
        ({"retry": {"attempts": 3}}, "storage.retry: unknown keys ['attempts']"),
        ({"anon": "yes"}, "storage.anon must be true or false"),
    ],
)
def test_bad_config_is_a_config_error_without_values(tmp_path: Path, config: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=None) as err:
        StorageOptions.from_config(config, environ={"HOME": str(tmp_path)})
    assert message in str(err.value)
    assert SECRET not in str(err.value)


def test_secrets_never_in_repr_describe_fingerprint_but_survive_pickling() -> None:
    opts = StorageOptions.from_config(
        {"endpoint_url": "http://s3.local", "key": "AKIAEXAMPLE", "secret": SECRET, "session_token": TOKEN}, environ={}
    )
    public = [repr(opts), str(opts), str(opts.describe()), opts.fingerprint(), f"{opts!r}", f"{[opts]}"]
    for text in public:
        assert SECRET not in text and TOKEN not in text and "AKIAEXAMPLE" not in text
    assert "credentials='config'" in repr(opts)
    clone = pickle.loads(pickle.dumps(opts))
    assert clone == opts and clone.secret == SECRET
    assert clone.fingerprint() == opts.fingerprint()
    rotated = StorageOptions.from_config({"endpoint_url": "http://s3.local", "key": "OTHER", "secret": "x"}, environ={})
    assert rotated.fingerprint() == opts.fingerprint()  # new keys, same store: same public fingerprint
    assert StorageOptions(endpoint_url="http://other").fingerprint() != opts.fingerprint()


def test_s3_urls() -> None:
    url = S3Url.parse("s3://nex-gddp-cmip6/NEX-GDDP-CMIP6/ACCESS-CM2/")
    assert (url.bucket, url.key, url.folder) == (
        "nex-gddp-cmip6",
        "NEX-GDDP-CMIP6/ACCESS-CM2/",
        "NEX-GDDP-CMIP6/ACCESS-CM2/",
    )
    assert S3Url.parse("s3://b").folder == "" and S3Url.parse("s3://b/x").folder == "x/"
    assert str(url.child("k.nc")) == "s3://nex-gddp-cmip6/k.nc"
    assert is_s3_url("s3://b/k") and not is_s3_url("/data/s3://x") and not is_s3_url(Path("s3:/b"))
    for bad in ("s3:///key", "http://b/k", "s3://b/k?versionId=1"):
        with pytest.raises(StorageError):
            S3Url.parse(bad)


def test_plan_requests_coalesces_splits_and_cut_gives_back_every_range() -> None:
    rng = random.Random(3)
    data = bytes(rng.randrange(256) for _ in range(200_000))
    for gap, max_request in ((-1, 1 << 30), (0, 1 << 30), (5_000, 30_000), (100_000, 7_000)):
        ranges = [(rng.randrange(0, 190_000), rng.randrange(0, 10_000)) for _ in range(60)]
        ranges = [(o, min(n, len(data) - o)) for o, n in ranges]
        spans = plan_requests(ranges, gap, max_request)
        assert all(s.length <= max_request for s in spans)
        assert all(a.end <= b.start for a, b in itertools.pairwise(spans))  # sorted, disjoint
        got = cut(ranges, spans, [data[s.start : s.end] for s in spans])
        assert got == [data[o : o + n] for o, n in ranges]
    assert len(plan_requests([(0, 10), (10, 10), (25, 5)], 5, 100)) == 1
    assert len(plan_requests([(0, 10), (10, 10), (25, 5)], 4, 100)) == 2
    assert len(plan_requests([(0, 10), (10, 10)], -1, 100)) == 2
    assert [(s.start, s.end) for s in plan_requests([(0, 25)], 0, 10)] == [(0, 10), (10, 20), (20, 25)]


def test_backoff_is_capped_full_jitter() -> None:
    policy = RetryPolicy(base_delay=0.1, max_delay=1.0)
    rng = random.Random(1)
    for attempt in range(1, 12):
        waits = [backoff(policy, attempt, rng) for _ in range(200)]
        cap = min(1.0, 0.1 * 2 ** (attempt - 1))
        assert min(waits) >= 0 and max(waits) <= cap and max(waits) > cap / 2


def test_classify_words_the_problem() -> None:
    GenericError = pytest.importorskip("obstore.exceptions", reason="needs the s3 extra").GenericError

    slow = classify(GenericError("Server returned non-2xx status code: 503 Service Unavailable: <Code>SlowDown</Code>"))
    assert slow is not None and slow.transient and slow.reason == "HTTP 503 SlowDown"
    bad = classify(GenericError("Server returned non-2xx status code: 400 Bad Request"))
    assert bad is not None and not bad.transient
    assert classify(ValueError("not ours")) is None
    moved = classify(GenericError("status code: 301 Moved Permanently: <Code>PermanentRedirect</Code>"))
    assert moved is not None and "set storage.region" in RequestFailed(moved, 1).problem()
    assert RequestFailed(slow, 5).problem() == "server busy after 5 attempts (HTTP 503 SlowDown)"

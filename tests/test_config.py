"""Tests of climnorm.config.model: defaults, one error message per class of bad value, paths, YAML round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from climnorm.config.model import DEFAULT_OUTPUT_TEMPLATE, Config, load_config, parse_config
from climnorm.config.sections import CompletenessLimits
from climnorm.errors import ClimnormError, ConfigError
from climnorm.numerics.smoothing import Smoothing
from climnorm.regions import BUILTIN_REGIONS

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"


def _config(**kwargs: Any) -> dict[str, Any]:
    """The smallest valid mapping, plus the given keys."""
    data: dict[str, Any] = {"input_dirs": ["archive"]}
    data.update(kwargs)
    return data


def _error(data: Any, **kwargs: Any) -> str:
    """The message of the ConfigError that parsing ``data`` raises."""
    with pytest.raises(ConfigError) as info:
        parse_config(data, **kwargs)
    return str(info.value)


def _box(**kwargs: Any) -> dict[str, Any]:
    box: dict[str, Any] = {"name": "MYBOX", "lat_min": 10.0, "lat_max": 20.0, "lon_min": -100.0, "lon_max": -80.0}
    box.update(kwargs)
    return box


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# ------------------------------------------------------------------------------------------------ defaults


def test_defaults_are_filled_in() -> None:
    config = parse_config(_config())
    assert config.window_years == 30
    assert config.min_years_for_normal == 25
    assert config.historical_end == 2014
    assert config.periods == {"historical": (1980, 2014), "hybrid": (2015, 2044), "future": (2045, 2100)}
    assert config.leap_day == "calendar_day"
    assert config.regions == ["CONUS", "AK", "HI", "PRVI", "GU"]
    assert [r.key for r in config.region_objects] == list(BUILTIN_REGIONS)
    assert config.variables == ["pr", "tas", "tasmax", "tasmin"]
    assert config.scenarios == ["historical", "ssp245", "ssp585"]
    assert config.engine == "local"
    assert config.scheduler_address is None
    assert config.output_template == DEFAULT_OUTPUT_TEMPLATE
    assert config.multiprocessing_workers >= 1
    assert config.compression.zlib is True


def test_custom_region_box_becomes_a_region() -> None:
    config = parse_config(_config(regions=["CONUS", _box(long_name="My box")]))
    regions = config.region_objects
    assert [r.key for r in regions] == ["CONUS", "MYBOX"]
    assert regions[1].name == "My box"
    assert (regions[1].lon_min, regions[1].lon_max) == (-100.0, -80.0)


def test_config_error_is_a_climnorm_error() -> None:
    assert issubclass(ConfigError, ClimnormError)


# ------------------------------------------------------------------------------------------------ bad values


def test_unknown_top_level_key_suggests_the_closest() -> None:
    message = _error(_config(varibles=["tas"]))
    assert "varibles" in message
    assert "did you mean 'variables'" in message
    assert "input_dirs" in message  # the allowed keys are listed


def test_unknown_compression_key_lists_the_allowed_ones() -> None:
    message = _error(_config(compression={"level": 3}))
    assert "compression.level" in message
    assert "complevel" in message
    assert "zlib" in message


def test_unknown_region_box_key() -> None:
    message = _error(_config(regions=["CONUS", _box(foo=1)]))
    assert "regions.1.foo" in message
    for allowed in ("lat_min", "lat_max", "lon_min", "lon_max"):
        assert allowed in message


def test_wrong_type_names_key_and_value() -> None:
    message = _error(_config(window_years="abc"))
    assert "window_years" in message
    assert "'abc'" in message
    assert "integer" in message


def test_empty_variables() -> None:
    message = _error(_config(variables=[]))
    assert "variables" in message
    assert "at least 1" in message


def test_duplicate_variables() -> None:
    message = _error(_config(variables=["tas", "pr", "tas"]))
    assert "variables" in message
    assert "more than once" in message
    assert "tas" in message


def test_duplicate_region_names() -> None:
    message = _error(_config(regions=["CONUS", _box(name="CONUS")]))
    assert "regions" in message
    assert "CONUS" in message


def test_min_years_greater_than_window() -> None:
    message = _error(_config(window_years=20, min_years_for_normal=25))
    assert "min_years_for_normal" in message
    assert "window_years" in message
    assert "25" in message and "20" in message


def test_cross_field_problems_come_with_the_field_errors() -> None:
    """One round of fixes: a rule between valid fields is reported beside the errors of other fields."""
    message = _error(_config(window_years=20, min_years_for_normal=25, leap_day="sometimes", workers=3))
    lines = message.splitlines()
    assert any(line.strip().startswith("leap_day:") for line in lines)
    assert any("unknown key 'workers'" in line for line in lines)
    assert any("min_years_for_normal (25) is greater than window_years (20)" in line for line in lines)
    both = _error(_config(min_years_for_normal=40, scheduler_address="tcp://h:8786", input_dirs=5))
    assert "min_years_for_normal (40)" in both and "scheduler_address" in both and "input_dirs:" in both


def test_a_rule_is_left_out_when_one_of_its_fields_is_invalid() -> None:
    message = _error(_config(window_years="thirty", min_years_for_normal=25))
    assert "window_years: Input should be a valid integer" in message
    assert "greater than window_years" not in message  # the rule cannot be judged on an invalid window_years


def test_window_longer_than_data_years() -> None:
    message = _error(_config(data_years=[2000, 2010], periods={"historical": [2005, 2010]}))
    assert "window_years" in message
    assert "30" in message
    assert "2000-2010" in message
    assert "11 years" in message


def test_data_years_accepts_a_range_that_fits() -> None:
    config = parse_config(_config(data_years=[1950, 2100]))
    assert config.data_years == (1950, 2100)


def test_period_outside_data_years() -> None:
    message = _error(_config(data_years=[1950, 2050]))
    assert "future" in message
    assert "1950-2050" in message


def test_period_start_after_end() -> None:
    message = _error(_config(periods={"historical": [2014, 1980]}))
    assert "periods" in message
    assert "historical" in message
    assert "2014" in message and "1980" in message


def test_region_lat_min_greater_than_lat_max() -> None:
    message = _error(_config(regions=[_box(lat_min=30.0, lat_max=20.0)]))
    assert "regions.0" in message
    assert "lat_min" in message and "lat_max" in message
    assert "30.0" in message and "20.0" in message


def test_region_latitude_out_of_range() -> None:
    message = _error(_config(regions=[_box(lat_min=-95.0)]))
    assert "regions.0.lat_min" in message
    assert "-95" in message
    assert "-90" in message


def test_unknown_builtin_region_suggests_the_closest() -> None:
    message = _error(_config(regions=["CONSU"]))
    assert "'CONSU'" in message
    assert "did you mean 'CONUS'" in message
    for key in BUILTIN_REGIONS:
        assert key in message


@pytest.mark.parametrize(
    ("key", "value", "allowed"),
    [
        ("leap_day", "feb29", ("calendar_day", "dayofyear", "drop")),
        ("engine", "spark", ("local", "dask")),
        ("lon_convention", "east", ("input", "0_360", "-180_180")),
    ],
)
def test_bad_literal_lists_the_choices(key: str, value: str, allowed: tuple[str, ...]) -> None:
    message = _error(_config(**{key: value}))
    assert key in message
    assert repr(value) in message
    for choice in allowed:
        assert choice in message


def test_scheduler_address_without_dask() -> None:
    message = _error(_config(scheduler_address="tcp://10.0.0.1:8786"))
    assert "scheduler_address" in message
    assert "engine" in message and "dask" in message
    # With engine: dask the same address is fine.
    config = parse_config(_config(engine="dask", scheduler_address="tcp://10.0.0.1:8786"))
    assert config.scheduler_address == "tcp://10.0.0.1:8786"


def test_output_template_unknown_placeholder() -> None:
    template = "{variable}/{region}/{scenario}_{period}_{target}_{colour}.nc"
    message = _error(_config(output_template=template))
    assert "output_template" in message
    assert "{colour}" in message
    assert "{model}" in message and "{window}" in message  # the allowed placeholders


def test_output_template_missing_placeholder() -> None:
    message = _error(_config(output_template="{variable}/{region}/{scenario}.nc"))
    assert "output_template" in message
    assert "{period}" in message and "{target}" in message
    assert "{variable}" not in message.split("must contain")[1].split("(got")[0]


@pytest.mark.parametrize(
    "template",
    [
        "/abs/{variable}/{region}/{scenario}_{period}_{target}.nc",
        "../{variable}/{region}/{scenario}_{period}_{target}.nc",
    ],
)
def test_output_template_must_stay_inside_output_dir(template: str) -> None:
    message = _error(_config(output_template=template))
    assert "output_template" in message
    assert "relative" in message
    assert template in message


def test_custom_output_template_with_model_is_accepted() -> None:
    template = "{model}/{variable}_{region}_{scenario}_{period}_{target}.nc"
    assert parse_config(_config(output_template=template)).output_template == template


def test_missing_input_dirs() -> None:
    message = _error({})
    assert "input_dirs" in message


def test_every_error_is_reported_at_once() -> None:
    message = _error(_config(window_years="abc", leap_day="feb29", colour="red"))
    assert "window_years" in message
    assert "leap_day" in message
    assert "colour" in message


def test_source_names_the_origin() -> None:
    message = _error(_config(engine="spark"), source="my-job.yaml")
    assert message.startswith("my-job.yaml")


@pytest.mark.parametrize("data", [["input_dirs", "x"], "input_dirs", 42])
def test_non_mapping_is_refused(data: Any) -> None:
    message = _error(data, source="job.yaml")
    assert "job.yaml" in message
    assert "mapping" in message
    assert type(data).__name__ in message


# ------------------------------------------------------------------------------------------------ files


def test_invalid_yaml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "broken.yaml", "input_dirs: [a\nvariables: tas: pr\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)
    assert str(path) in message
    assert "YAML" in message


def test_non_mapping_yaml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "list.yaml", "- input_dirs\n- archive\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "mapping" in str(info.value)


def test_empty_yaml_file_asks_for_input_dirs(tmp_path: Path) -> None:
    path = _write(tmp_path / "empty.yaml", "")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "input_dirs" in str(info.value)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nowhere.yaml"
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "cannot read" in str(info.value)


def test_error_in_file_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "job.yaml", "input_dirs: [a]\nwindow_years: abc\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert "window_years" in str(info.value)


def test_relative_paths_resolve_against_the_config_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory must not matter
    absolute = tmp_path / "absolute-archive"
    path = _write(
        tmp_path / "jobs" / "job.yaml",
        f"input_dirs: [archive, ../shared/archive, {absolute}]\noutput_dir: out\nscratch_dir: ../scratch\n",
    )
    config = load_config(path)
    assert config.input_dirs == [tmp_path / "jobs" / "archive", tmp_path / "shared" / "archive", absolute]
    assert config.output_dir == tmp_path / "jobs" / "out"
    assert config.scratch_dir == tmp_path / "scratch"


def test_relative_config_path_resolves_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _write(tmp_path / "jobs" / "job.yaml", "input_dirs: [archive]\n")
    monkeypatch.chdir(tmp_path)
    config = load_config("jobs/job.yaml")
    assert config.input_dirs == [tmp_path / "jobs" / "archive"]
    assert config.output_dir == tmp_path / "jobs" / "output"
    assert config.scratch_dir is None  # the output directory then


def test_parse_config_without_base_dir_keeps_paths() -> None:
    config = parse_config(_config(output_dir="out"))
    assert config.input_dirs == [Path("archive")]
    assert config.output_dir == Path("out")


def test_load_config_overrides(tmp_path: Path) -> None:
    path = _write(tmp_path / "job.yaml", "input_dirs: [a]\nmultiprocessing_workers: 3\n")
    assert load_config(path, multiprocessing_workers=7).multiprocessing_workers == 7
    assert load_config(path, multiprocessing_workers=None).multiprocessing_workers == 3


# ------------------------------------------------------------------------------------------------ round trip


def test_to_yaml_round_trips() -> None:
    config = parse_config(
        _config(
            regions=["CONUS", _box(long_name="My box"), _box(name="DATELINE", lon_min=170.0, lon_max=-170.0)],
            variables=["tas", "pr"],
            scenarios=["historical", "ssp585"],
            window_years=20,
            min_years_for_normal=15,
            periods={"historical": [1990, 2014], "future": [2050, 2060]},
            data_years=[1950, 2100],
            leap_day="drop",
            engine="dask",
            scheduler_address="tcp://h:8786",
            compression={"complevel": 4, "shuffle": False},
            lon_convention="-180_180",
        ),
        base_dir=Path("/data/jobs"),
    )
    text = config.to_yaml()
    data = yaml.safe_load(text)
    assert isinstance(data, dict)
    assert data["periods"] == {"historical": [1990, 2014], "future": [2050, 2060]}
    assert data["input_dirs"] == ["/data/jobs/archive"]
    again = parse_config(data)
    assert again == config
    assert again.to_yaml() == text


def test_to_yaml_of_defaults_round_trips() -> None:
    config = parse_config(_config(), base_dir=Path("/somewhere"))
    assert parse_config(yaml.safe_load(config.to_yaml())) == config


def test_config_is_frozen() -> None:
    config = parse_config(_config())
    with pytest.raises(ValueError):
        config.window_years = 10  # type: ignore[misc]


# ------------------------------------------------------------------------------------------------ examples


def test_demo_example_is_the_packaged_demo() -> None:
    demo = EXAMPLES / "demo.yaml"
    assert demo.is_symlink()
    assert demo.resolve() == (REPO / "src" / "climnorm" / "data" / "demo.yaml").resolve()


@pytest.mark.parametrize("name", ["demo.yaml", "seed-job.yaml"])
def test_examples_load(name: str) -> None:
    config = load_config(EXAMPLES / name)
    assert isinstance(config, Config)
    assert config.variables == ["pr", "tas", "tasmax", "tasmin"]
    assert config.regions == ["CONUS", "AK", "HI", "PRVI", "GU"]
    assert config.window_years == 30
    assert all(p.is_absolute() for p in config.input_dirs)


def test_seed_job_example_names_every_key() -> None:
    data = yaml.safe_load((EXAMPLES / "seed-job.yaml").read_text())
    assert set(data) == set(Config.model_fields)


def test_products_and_their_rules() -> None:
    config = parse_config(
        _config(products=["daily", "monthly"], monthly_completeness={"max_missing": 5, "max_consecutive": 3})
    )
    assert config.products == ["daily", "monthly"] and config.monthly_completeness == CompletenessLimits(
        max_missing=5, max_consecutive=3
    )
    assert parse_config(_config(smoothing={"method": "running"})).smoothing.rule() == Smoothing("running", days=31)
    shown = yaml.safe_load(parse_config(_config(smoothing={"method": "running", "days": 15})).to_yaml())
    assert shown["smoothing"] == {"method": "running", "days": 15}


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"products": ["weekly"]}, "products.0: Input should be 'daily', 'daily_smoothed', 'monthly', 'seasonal'"),
        ({"products": ["daily", "daily"]}, "products: listed more than once: daily"),
        ({"products": []}, "products: List should have at least 1 item"),
        ({"monthly_completeness": "11/5"}, "monthly_completeness: Input should be 'wmo' or 'strict' (got '11/5')"),
        ({"monthly_completeness": {"max_missing": 3}}, "monthly_completeness.max_consecutive: Field required"),
        ({"smoothing": {"method": "running", "days": 30}}, "a centred running mean needs an odd number of days"),
        ({"smoothing": {"method": "harmonic", "days": 15}}, "days is not a parameter of harmonic smoothing"),
        ({"smoothing": {"method": "loess"}}, "smoothing.method: Input should be 'harmonic' or 'running'"),
    ],
)
def test_product_keys_refuse_what_cannot_be_made(extra: dict[str, Any], message: str) -> None:
    assert message in _error(_config(**extra))


def test_s3_roots_stay_urls_and_local_ones_become_paths(tmp_path: Path) -> None:
    config = parse_config(
        {"input_dirs": ["s3://nex-gddp-cmip6/NEX-GDDP-CMIP6", "data"], "storage_options": {"anon": True}},
        base_dir=tmp_path,
    )
    assert config.input_dirs == ["s3://nex-gddp-cmip6/NEX-GDDP-CMIP6", tmp_path / "data"]
    assert config.remote_inputs and config.storage().anonymous


def test_storage_options_errors_never_show_a_secret() -> None:
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzSECRET"
    with pytest.raises(ConfigError) as err:
        parse_config({"input_dirs": ["s3://b/p"], "storage_options": {"key": "AKIA", "secret": secret, "regoin": "x"}})
    assert "regoin" in str(err.value) and secret not in str(err.value)
    with pytest.raises(ConfigError) as err:
        parse_config({"input_dirs": ["s3://b/p"], "storage_options": {"key": "AKIA", "secret": secret, "anon": "yes"}})
    assert "anon" in str(err.value) and secret not in str(err.value)
    shown = parse_config({"input_dirs": ["s3://b/p"], "storage_options": {"key": "AKIA", "secret": secret}})
    assert secret not in shown.to_yaml() and secret not in repr(shown)


def test_window_memory_budget() -> None:
    """``window_memory_gb``: unset means a quarter of the available memory, 0 parks every year on disk, a negative
    budget is refused naming the key."""
    from climnorm.runner.pipeline import window_memory_bytes

    assert window_memory_bytes(parse_config(_config())) > 0
    assert window_memory_bytes(parse_config(_config(window_memory_gb=0))) == 0
    assert window_memory_bytes(parse_config(_config(window_memory_gb=1.5))) == 1_500_000_000
    assert "window_memory_gb" in _error(_config(window_memory_gb=-1))


# ------------------------------------------------------------------------------------------- inflate threads


def test_inflate_threads_default_to_the_cores_each_worker_has_to_itself() -> None:
    from climnorm.config.model import default_workers

    cores = default_workers()
    assert parse_config(_config(multiprocessing_workers=cores)).inflate_threads() == 1  # workers fill the machine
    assert parse_config(_config(multiprocessing_workers=max(1, cores // 2))).inflate_threads() == min(
        2, cores // max(1, cores // 2)
    )
    assert parse_config(_config(multiprocessing_workers=1)).inflate_threads() == min(2, cores)
    assert parse_config(_config(multiprocessing_workers=4 * cores)).inflate_threads() == 1
    assert parse_config(_config(multiprocessing_workers=cores, fast_read_threads=3)).inflate_threads() == 3


def test_config_file_is_read_before_validation_and_says_its_engine(tmp_path: Path) -> None:
    from climnorm.config.file import read_config_file
    from climnorm.config.model import parse_config_file

    path = _write(tmp_path / "sub" / "run.yaml", "input_dirs: [archive]\nwindow_years: 20\nmin_years_for_normal: 15\n")
    file = read_config_file(path, multiprocessing_workers=3, engine=None)
    assert file.local_engine and file.base_dir == path.parent and file.source == str(path)
    assert file.data == {
        "input_dirs": ["archive"],
        "window_years": 20,
        "min_years_for_normal": 15,
        "multiprocessing_workers": 3,
    }
    config = parse_config_file(file)
    assert config.input_dirs == [tmp_path / "sub" / "archive"] and config.multiprocessing_workers == 3
    assert config == load_config(path, multiprocessing_workers=3)
    assert not read_config_file(path, engine="dask").local_engine
    dask = _write(tmp_path / "dask.yaml", "input_dirs: [archive]\nengine: dask\n")
    assert not read_config_file(dask).local_engine and read_config_file(dask, engine="local").local_engine


def test_outputs_in_a_bucket_need_a_local_state_dir_and_are_never_written_anonymously(tmp_path: Path) -> None:
    """An s3:// output_dir keeps its lock, logs, scratch and manifest in state_dir (required, and only then
    allowed); its options default to the inputs' but are never anonymous; their secrets are never shown."""
    bucket = {"input_dirs": [str(tmp_path)], "output_dir": "s3://bucket/normals"}
    assert "set state_dir to a local directory" in _error(bucket)
    assert "state_dir" in _error({"input_dirs": [str(tmp_path)], "state_dir": str(tmp_path / "s")})
    assert "only used when output_dir is an s3:// prefix" in _error(
        {"input_dirs": [str(tmp_path)], "output_storage_options": {"region": "us-west-2"}}
    )
    assert "county tables read a local output directory" in _error(
        {**bucket, "state_dir": str(tmp_path / "s"), "zonal": [{"output": "t.csv"}]}
    )
    config = parse_config({**bucket, "state_dir": "state", "storage_options": {"anon": True}}, base_dir=tmp_path)
    assert config.output_dir == "s3://bucket/normals" and config.state_path == tmp_path / "state"
    assert config.storage().anonymous and config.output_storage() is not None
    assert not config.output_storage().anonymous  # outputs: signed, or the instance's role
    secret = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzzzSECRET"
    shown = parse_config(
        {**bucket, "state_dir": "s", "output_storage_options": {"key": "AKIA", "secret": secret}}, base_dir=tmp_path
    )
    assert shown.output_storage().key == "AKIA" and secret not in shown.to_yaml() and secret not in repr(shown)
    with pytest.raises(ConfigError) as err:
        parse_config({**bucket, "state_dir": "s", "output_storage_options": {"secret": secret, "regoin": "x"}})
    assert "regoin" in str(err.value) and secret not in str(err.value)
    assert "never written anonymously" in _error({**bucket, "state_dir": "s", "output_storage_options": {"anon": True}})

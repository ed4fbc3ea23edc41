"""The deployment material agrees with the Compose specification and with the code.

No Docker needed: ``docker-compose.yml`` is checked against the vendored Compose
Specification schema, then its commands, ports and ``SP_*`` variables against the
service modules, ``shared.settings.Settings``, the Prometheus targets and the Grafana
dashboard. A real ``docker compose config`` runs too where a Compose binary exists.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from shared.settings import ENV_PREFIX, Settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_SCHEMA = ROOT / "tests" / "data" / "compose-spec.json"

# Each service process and the port it serves HTTP, health and metrics on.
PORTS = {"referrals": 8001, "directory": 8002, "matcher": 8003}

# Every metric the services export: the dashboard may query these and no others.
COUNTERS_AND_GAUGES = {
    "http_requests_total",
    "events_produced_total",
    "events_consumed_total",
    "events_failed_total",
    "events_dead_lettered_total",
    "consumer_lag",
    "outbox_backlog",
    # the directory's demand, capacity and gaps (services/directory/metrics.py)
    "referred_people",
    "unmet_need_people",
    "no_place_people",
    "weekly_places",
    "capacity_gap_people",
}
HISTOGRAMS = {"http_request_duration_seconds", "event_handler_duration_seconds"}
METRICS = COUNTERS_AND_GAUGES | HISTOGRAMS

# Values that Compose must take from the environment or .env, never from the file.
SECRETS = {"SP_JWT_SECRET", "POSTGRES_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD"}
SECRET_PLACEHOLDERS = {
    "SP_JWT_SECRET": "x",
    "POSTGRES_PASSWORD": "x",
    "GRAFANA_ADMIN_PASSWORD": "x",
}

REQUIRED_VARIABLE = re.compile(r"^\$\{[A-Z][A-Z0-9_]*:\?[^}]*\}$")


@cache
def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def compose() -> dict[str, Any]:
    return load_yaml(ROOT / "docker-compose.yml")


def service(name: str) -> dict[str, Any]:
    return compose()["services"][name]


def interpolated(value: object) -> str:
    """A value as the container sees it, with required secrets replaced by ``secret``."""

    def substitute(match: re.Match[str]) -> str:
        expression = match.group(1)
        for operator in (":-", "-"):
            if operator in expression:
                return expression.split(operator, 1)[1]
        return "secret"

    text = str(value).replace("$$", "\0")
    return re.sub(r"\$\{([^}]*)\}", substitute, text).replace("\0", "$")


def environment(name: str) -> dict[str, str]:
    env = service(name).get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: interpolated(value) for key, value in env.items()}


def command_words(name: str) -> list[str]:
    """The words of the service's command, looking inside ``sh -c`` wrappers."""
    command = service(name)["command"]
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"]:
        words = shlex.split(interpolated(words[2]))
    return words


def module_run_by(words: list[str]) -> str:
    at = words.index("-m")
    assert words[at - 1] in {"python", "python3"}, words
    return words[at + 1]


def dockerfile_instructions() -> list[tuple[str, str]]:
    text = (ROOT / "Dockerfile").read_text().replace("\\\n", " ")
    lines = (line.strip() for line in text.splitlines())
    return [
        (line.split(None, 1)[0].upper(), line.split(None, 1)[1])
        for line in lines
        if line and not line.startswith("#")
    ]


def healthcheck_urls(name: str) -> list[str]:
    test = service(name)["healthcheck"]["test"]
    text = test if isinstance(test, str) else " ".join(test)
    return re.findall(r"https?://[^\s'\"]+", text)


def scrape_jobs() -> dict[str, dict[str, Any]]:
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    return {job["job_name"]: job for job in config["scrape_configs"]}


def dashboard() -> dict[str, Any]:
    return json.loads((DEPLOY / "grafana" / "dashboards" / "social-prescribing.json").read_text())


def panels() -> list[dict[str, Any]]:
    found = []
    for panel in dashboard()["panels"]:
        found.append(panel)
        found.extend(panel.get("panels", []))
    return [panel for panel in found if panel.get("type") != "row"]


def metric_names(expr: str) -> set[str]:
    """The metric names a PromQL expression selects, histogram suffixes removed."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)
    keywords = {"bool", "offset", "and", "or", "unless", "group_left", "group_right"}
    names = set()
    for match in re.finditer(r"(?<![\w.])[a-zA-Z_:][a-zA-Z0-9_:]*", expr):
        if expr[match.end() :].lstrip().startswith("(") or match.group() in keywords:
            continue
        name = match.group()
        base = re.sub(r"_(?:bucket|sum|count)$", "", name)
        names.add(base if base in HISTOGRAMS else name)
    return names


def dashboard_queries() -> list[str]:
    exprs = [target["expr"] for panel in panels() for target in panel["targets"]]
    for variable in dashboard()["templating"]["list"]:
        query = variable.get("query", "")
        query = query.get("query", "") if isinstance(query, dict) else query
        exprs += re.findall(r"label_values\(\s*([a-zA-Z_:][\w:]*)", query)
    return exprs


def test_the_compose_file_follows_the_compose_specification():
    validator = jsonschema.Draft202012Validator(json.loads(COMPOSE_SCHEMA.read_text()))

    errors = [
        f"{list(error.absolute_path)}: {error.message}"
        for error in validator.iter_errors(compose())
    ]

    assert errors == []


def test_the_schema_check_catches_a_misspelt_key():
    validator = jsonschema.Draft202012Validator(json.loads(COMPOSE_SCHEMA.read_text()))
    broken = {"services": {"referrals": {"image": "x", "enviroment": {"SP_PORT": "8001"}}}}

    assert not validator.is_valid(broken)


@pytest.mark.parametrize("name", PORTS)
def test_each_service_runs_its_own_module(name):
    module = module_run_by(command_words(name))

    assert module == f"services.{name}"
    assert importlib.util.find_spec(f"{module}.__main__") is not None, f"{module} has no __main__"


@pytest.mark.parametrize("name", PORTS)
def test_each_service_listens_where_it_is_probed_and_scraped(name):
    port = PORTS[name]
    jobs = scrape_jobs()
    static_targets = [
        target for static in jobs[name].get("static_configs", []) for target in static["targets"]
    ]
    discovered = [
        (dns_name, sd["port"])
        for sd in jobs[name].get("dns_sd_configs", [])
        for dns_name in sd["names"]
    ]

    assert environment(name)["SP_PORT"] == str(port)
    assert environment(name)["SP_HOST"] == "0.0.0.0"
    assert [urlsplit(url).port for url in healthcheck_urls(name)] == [port]
    assert f"{name}:{port}" in static_targets or (name, port) in discovered
    assert str(port) in dict(dockerfile_instructions())["EXPOSE"].split()


@pytest.mark.parametrize("name", ["referrals", "directory"])
def test_the_services_with_pages_publish_their_port(name):
    published = [str(mapping).rsplit(":", 1)[-1] for mapping in service(name)["ports"]]

    assert published == [str(PORTS[name])]


def test_the_matcher_can_be_scaled_and_every_replica_is_scraped():
    matcher = service("matcher")
    job = scrape_jobs()["matcher"]

    assert "container_name" not in matcher
    assert "ports" not in matcher
    assert job["dns_sd_configs"][0]["names"] == ["matcher"]
    assert job["dns_sd_configs"][0]["type"] == "A"
    assert "SP_INSTANCE_ID" not in environment("matcher"), "replicas would share one name"
    assert "SP_INSTANCE_ID=matcher-$HOSTNAME;" in command_words("matcher")


@pytest.mark.parametrize("name", PORTS)
def test_every_sp_variable_is_a_setting_with_a_valid_value(name, monkeypatch):
    variables = dict(environment(name))
    for word in command_words(name):
        key, _, value = word.rstrip(";").partition("=")
        if key.startswith(ENV_PREFIX):
            variables[key] = value
    image_env = [value for key, value in dockerfile_instructions() if key == "ENV"]
    for key, value in re.findall(r"(SP_\w+)=(\S+)", " ".join(image_env)):
        variables.setdefault(key, value)
    for key in [key for key in os.environ if key.startswith(ENV_PREFIX)]:
        monkeypatch.delenv(key)
    for key, value in variables.items():
        if key.startswith(ENV_PREFIX):
            monkeypatch.setenv(key, value)

    unknown = {
        key
        for key in variables
        if key.startswith(ENV_PREFIX)
        and key.removeprefix(ENV_PREFIX).lower() not in Settings.model_fields
    }
    settings = Settings(_env_file=None)

    assert unknown == set()
    assert settings.bus == "kafka"
    assert settings.kafka_bootstrap_servers == "kafka:9092"
    assert settings.kafka_partitions == 6
    assert settings.migrate_on_start and settings.run_workers
    assert settings.load_demo_data is (name == "directory")


def test_each_service_has_its_own_postgres_database():
    init_sql = (DEPLOY / "postgres" / "init.sql").read_text()
    created = set(re.findall(r"CREATE DATABASE (\w+)", init_sql))
    mounts = [volume.split(":")[1] for volume in service("postgres")["volumes"]]

    for name in PORTS:
        url = urlsplit(environment(name)["SP_DATABASE_URL"])
        assert url.scheme == "postgresql+psycopg"
        assert (url.hostname, url.port, url.path) == ("postgres", 5432, f"/{name}")
    assert created == set(PORTS)
    assert any(mount.startswith("/docker-entrypoint-initdb.d/") for mount in mounts)


@pytest.mark.parametrize("name", PORTS)
def test_each_service_starts_once_postgres_and_kafka_are_healthy(name):
    depends_on = service(name)["depends_on"]

    for infrastructure in ("postgres", "kafka"):
        assert depends_on[infrastructure]["condition"] == "service_healthy"
        assert service(infrastructure)["healthcheck"]["test"]


def test_kafka_is_a_single_kraft_node_reachable_as_kafka_9092():
    env = {key: str(value) for key, value in service("kafka")["environment"].items()}

    assert service("kafka")["image"].startswith("apache/kafka:")
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == f"{env['KAFKA_NODE_ID']}@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"]
    assert env["KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR"] == "1"


def test_no_secret_is_written_in_the_compose_file():
    values = {
        key: value
        for body in compose()["services"].values()
        for key, value in (body.get("environment") or {}).items()
    }

    for key in SECRETS:
        assert REQUIRED_VARIABLE.match(values[key]), f"{key} must come from the environment"
    for name in PORTS:
        url = service(name)["environment"]["SP_DATABASE_URL"]
        password = re.fullmatch(r"[^:]+://[^:@]+:(.*)@[^@]+", url).group(1)
        assert REQUIRED_VARIABLE.match(password), f"{name}'s database password"
    assert ".env" in (ROOT / ".dockerignore").read_text().split()


def test_prometheus_config_scrapes_only_the_three_services_and_itself():
    config = load_yaml(DEPLOY / "prometheus" / "prometheus.yml")
    names = [job["job_name"] for job in config["scrape_configs"]]

    assert config["global"]["scrape_interval"]
    assert sorted(names) == sorted([*PORTS, "prometheus"])
    assert all(
        job.get("metrics_path", "/metrics") == "/metrics" for job in config["scrape_configs"]
    )


def test_grafana_reads_prometheus_and_the_dashboard_folder():
    datasource = load_yaml(DEPLOY / "grafana" / "provisioning" / "datasources" / "prometheus.yml")
    providers = load_yaml(DEPLOY / "grafana" / "provisioning" / "dashboards" / "dashboards.yml")
    mounts = dict(volume.split(":")[:2] for volume in service("grafana")["volumes"])
    source = datasource["datasources"][0]

    assert source["type"] == "prometheus"
    assert source["url"] == "http://prometheus:9090"
    assert "prometheus" in compose()["services"]
    assert mounts["./deploy/grafana/provisioning"] == "/etc/grafana/provisioning"
    assert mounts["./deploy/grafana/dashboards"] == providers["providers"][0]["options"]["path"]
    for panel in panels():
        assert panel["datasource"]["uid"] == source["uid"], panel["title"]


def test_the_dashboard_queries_only_metrics_the_services_export():
    queried = set().union(*(metric_names(expr) for expr in dashboard_queries()))

    assert queried - METRICS == set()


def test_the_dashboard_shows_every_exported_metric():
    queried = set().union(*(metric_names(expr) for expr in dashboard_queries()))

    assert METRICS - queried == set()


def test_the_metric_name_reader_sees_through_promql():
    expr = (
        "histogram_quantile(0.95, sum by (service, le) ("
        'rate(http_request_duration_seconds_bucket{status=~"5.."}[$__rate_interval])))'
        " / on (service) group_left sum(outbox_backlog) or vector(0)"
    )

    assert metric_names(expr) == {"http_request_duration_seconds", "outbox_backlog"}


def test_the_image_installs_the_project_without_dev_extras_and_runs_as_a_user():
    instructions = dockerfile_instructions()
    bases = [value.split()[0] for key, value in instructions if key == "FROM"]
    runs = " ".join(value for key, value in instructions if key == "RUN")
    users = [value for key, value in instructions if key == "USER"]
    cmd = json.loads(dict(instructions)["CMD"])

    assert set(bases) == {"python:3.11-slim"}
    assert "pip wheel" in runs or "pip install" in runs
    assert "[dev]" not in runs
    assert users and users[-1] not in {"root", "0"}
    assert importlib.util.find_spec(f"{module_run_by(cmd)}.__main__") is not None


def compose_binary() -> list[str] | None:
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    docker = shutil.which("docker")
    if (
        docker
        and subprocess.run([docker, "compose", "version"], capture_output=True).returncode == 0
    ):
        return [docker, "compose"]
    return None


@pytest.mark.skipif(compose_binary() is None, reason="no Docker Compose binary on this machine")
def test_docker_compose_accepts_the_file():
    result = subprocess.run(
        [*compose_binary(), "--project-directory", str(ROOT), "config", "--quiet"],
        cwd=ROOT,
        env={**os.environ, **SECRET_PLACEHOLDERS},
        capture_output=True,
        text=True,
        timeout=60,
    )

    assert result.returncode == 0, result.stderr

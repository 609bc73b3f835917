"""deploy/: the reference layout's files agree with the code. The compose file is read and checked here,
not run (no Docker daemon on the test machine); its init SQL runs on a throwaway PostgreSQL where one is
installed."""

import ipaddress
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
import yaml
from conftest import fake_engines, need
from sqlalchemy.engine import make_url

import hootproto
from hootkit.app import create_app
from hootkit.engines import models, voices
from hootkit.gateway import xiaozhi
from hootkit.serving import serve_in_loop
from hootkit.settings import Settings

sys.path.insert(0, str(Path(__file__).parents[1] / "store"))
sys.path.insert(0, str(Path(__file__).parents[1] / "remote"))
from speech_servers import SPEECH_VENV  # noqa: E402
from store_fixtures import _postgres_tool, postgres_url  # noqa: E402, F401 (a fixture)

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
HOOTS = ("hoot-a", "hoot-b")
SECRETS = ("POSTGRES_PASSWORD", "HOOTKIT_DB_PASSWORD")
# compose's ${NAME}, ${NAME:?message}, ${NAME:-default}...
VARIABLE = re.compile(r"\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}")


def dummy(name: str) -> str:
    """What the test puts in for a compose variable: URL-safe, and different for each variable."""
    return f"dummy{name.lower().replace('_', '')}"


def interpolate(value):
    if isinstance(value, str):
        return VARIABLE.sub(lambda match: dummy(match["name"]), value)
    if isinstance(value, dict):
        return {key: interpolate(item) for key, item in value.items()}
    if isinstance(value, list):
        return [interpolate(item) for item in value]
    return value


RAW = yaml.safe_load((DEPLOY / "compose.yaml").read_text())
COMPOSE = interpolate(RAW)
SERVICES = COMPOSE["services"]


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments), continuation lines joined, comments left out."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text())
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def final_stage() -> list[tuple[str, str]]:
    steps = dockerfile()
    start = max(index for index, (instruction, _) in enumerate(steps) if instruction == "FROM")
    return steps[start:]


def image_env(steps) -> dict[str, str]:
    env = {}
    for instruction, args in steps:
        if instruction == "ENV":
            env.update(item.split("=", 1) for item in shlex.split(args))
    return env


def serve_command() -> list[str]:
    [cmd] = [json.loads(args) for instruction, args in final_stage() if instruction == "CMD"]
    return cmd


def flag(command: list[str], name: str) -> str:
    """The value of the last `name` flag in an argv list (argparse keeps the last one)."""
    values = [command[index + 1] for index, item in enumerate(command[:-1]) if item == name]
    assert values, f"{name} is not in {command}"
    return values[-1]


def serve_port() -> int:
    return int(flag(serve_command(), "--port"))


def hoot_settings(monkeypatch, tmp_path, service: str) -> tuple[Settings, dict[str, str]]:
    """The settings `hoot serve` builds in this service's container: the image's and the service's HOOT_*
    variables, and the CMD's --host/--port (as hootkit.cli._serve passes them), nothing else."""
    for name in list(os.environ):
        if name.startswith("HOOT_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no hootkit.toml
    variables = {**image_env(final_stage()), **SERVICES[service]["environment"]}
    variables = {name: value for name, value in variables.items() if name.startswith("HOOT_")}
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    command = serve_command()
    return Settings(host=flag(command, "--host"), port=int(flag(command, "--port"))), variables


def setting(settings: Settings, variable: str):
    """The value a HOOT_A__B variable sets, or KeyError when no setting has that name."""
    value = settings
    for part in variable.removeprefix("HOOT_").lower().split("__"):
        fields = type(value).model_fields
        if part not in fields:
            raise KeyError(variable)
        value = getattr(value, part)
    return value


def read_from_environment(variable: str) -> bool:
    """Whether the code reads this variable itself (os.environ / os.getenv), beside the settings."""
    pattern = re.compile(r"(?:environ\.get|getenv|environ\[)\(?\s*[\"']" + re.escape(variable) + r"[\"']")
    return any(pattern.search(path.read_text()) for path in (ROOT / "server" / "hootkit").rglob("*.py"))


def host_port(url: str) -> tuple[str, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port


def networks(service: dict) -> list[str]:
    found = service.get("networks", [])
    return list(found) if isinstance(found, (list, dict)) else []


@pytest.mark.parametrize("service", HOOTS)
def test_every_hoot_variable_is_a_setting_and_means_what_it_says(monkeypatch, tmp_path, service):
    settings, variables = hoot_settings(monkeypatch, tmp_path, service)
    for name, raw in variables.items():
        try:
            value = setting(settings, name)
        except KeyError:
            assert read_from_environment(name), f"{name} is neither a setting nor read by the code"
            continue
        if isinstance(value, bool):
            assert value == (raw.lower() in ("1", "true", "yes", "on")), name
        elif isinstance(value, (list, dict)):
            assert value == json.loads(raw), name
        elif isinstance(value, Path):
            assert value == Path(raw), name
        else:
            assert str(value) == raw, name
    assert models.cache_dir().is_relative_to(settings.data_dir)  # kept on the data volume
    assert str(settings.data_dir) in [volume.split(":")[1] for volume in SERVICES[service]["volumes"]]

    store = make_url(settings.store_url)
    db = SERVICES["db"]["environment"]
    assert store.drivername == "postgresql+asyncpg" and store.host == "db" and store.port == 5432
    assert (store.database, store.username) == (db["POSTGRES_DB"], "hootkit")
    assert store.password == db["HOOTKIT_DB_PASSWORD"] == dummy("HOOTKIT_DB_PASSWORD")
    assert settings.llm.backend == "openai" and host_port(settings.llm.base_url)[0] == "llm"
    assert (settings.stt.backend, settings.tts.backend) == ("wyoming", "wyoming")
    assert host_port(settings.stt.url)[0] == "stt" and host_port(settings.tts.url)[0] == "tts"
    assert settings.trust_local is False and settings.host == "0.0.0.0"
    proxy = SERVICES["proxy"]["networks"]["edge"]["ipv4_address"]
    assert settings.forwarded_allow_ips == [proxy]


def test_the_hoot_servers_differ_only_in_their_data_volume():
    a, b = (dict(SERVICES[name]) for name in HOOTS)
    volumes_a, volumes_b = a.pop("volumes"), b.pop("volumes")
    assert a == b  # the same store_url, engine URLs, build, health check...
    data_a, data_b = ([item for item in volumes if item.endswith(":/data")]
                      for volumes in (volumes_a, volumes_b))
    assert len(data_a) == len(data_b) == 1 and data_a != data_b
    # lessons uploaded through either server land in one folder, which both watch
    assert sorted(set(volumes_a) - set(data_a)) == sorted(set(volumes_b) - set(data_b))
    assert any(volume.endswith(":/app/curriculum/lessons") for volume in volumes_a)
    assert Settings.model_fields["lessons_dir"].default == Path("curriculum/lessons")
    assert [args for instruction, args in final_stage() if instruction == "WORKDIR"][-1] == "/app"


def test_engine_urls_name_the_ports_the_engines_listen_on(monkeypatch, tmp_path):
    settings, _ = hoot_settings(monkeypatch, tmp_path, HOOTS[0])
    stt, tts, llm = (SERVICES[name]["command"] for name in ("stt", "tts", "llm"))
    assert host_port(flag(stt, "--uri"))[1] == host_port(settings.stt.url)[1]
    assert host_port(flag(tts, "--uri"))[1] == host_port(settings.tts.url)[1]
    assert int(flag(llm, "--port")) == host_port(settings.llm.base_url)[1]
    assert urlsplit(settings.llm.base_url).path == "/v1"
    assert settings.llm.model == flag(llm, "--served-model-name")  # vLLM answers only to that name
    assert settings.stt.language == flag(stt, "--language")
    assert flag(tts, "--voice") == voices.EMBEDDED  # "embedded" on a Wyoming TTS is its default voice
    assert settings.tts.voice == "embedded"


@pytest.mark.parametrize(("service", "program"),
                         [("stt", "wyoming-faster-whisper"), ("tts", "wyoming-piper")])
def test_engine_flags_exist_in_the_wyoming_servers(service, program):
    """The flags are the PyPI servers' (make install); the images may carry other versions of them."""
    binary = SPEECH_VENV / "bin" / program
    need(binary.exists(), f"{binary} is not installed (make install)")
    usage = subprocess.run([binary, "--help"], capture_output=True, text=True, timeout=20, check=True).stdout
    for item in SERVICES[service]["command"]:
        if item.startswith("--"):
            assert re.search(rf"(?<![\w-]){re.escape(item)}(?![\w-])", usage), f"{program} has no {item}"


def test_caddy_proxies_every_hoot_server_where_hoot_serve_listens():
    caddyfile = (DEPLOY / "Caddyfile").read_text()
    lines = [line.split("#")[0].split() for line in caddyfile.splitlines()]
    lines = [words for words in lines if words]
    assert lines[0] == ["{$HOOT_DOMAIN}", "{"]
    assert VARIABLE.fullmatch(RAW["services"]["proxy"]["environment"]["HOOT_DOMAIN"])
    [upstreams] = [words[1:-1] for words in lines if words[0] == "reverse_proxy"]
    assert sorted(upstreams) == [f"{name}:{serve_port()}" for name in HOOTS]
    [health] = [words[1] for words in lines if words[0] == "health_uri"]
    paths = {getattr(route, "path", None) for route in create_app(Settings()).routes}
    assert health == "/healthz" and {health, hootproto.PATH, "/dashboard"} <= paths
    # body and websocket frame limits stay Hootkit's own
    assert not {"request_body", "max_size", "flush_interval"} & {word for words in lines for word in words}
    assert "./Caddyfile:/etc/caddy/Caddyfile:ro" in SERVICES["proxy"]["volumes"]


def test_docker_health_checks_ask_healthz_where_hoot_serve_listens():
    [check] = {json.dumps(SERVICES[name]["healthcheck"]["test"]) for name in HOOTS}
    assert f"http://127.0.0.1:{serve_port()}/healthz" in check


def test_only_the_proxy_is_reachable_and_only_it_is_believed():
    published = {name for name, service in SERVICES.items() if service.get("ports")}
    assert published == {"proxy"}
    [subnet] = [pool["subnet"] for pool in COMPOSE["networks"]["edge"]["ipam"]["config"]]
    on_edge = {name for name, service in SERVICES.items() if "edge" in networks(service)}
    assert on_edge == {"proxy", *HOOTS}  # nothing else can send from the proxy's network
    assert networks(SERVICES["proxy"]) == ["edge"]  # so the servers see the proxy at this address
    proxy = SERVICES["proxy"]["networks"]["edge"]["ipv4_address"]
    assert ipaddress.ip_address(proxy) in ipaddress.ip_network(subnet)
    for name in HOOTS:
        assert json.loads(SERVICES[name]["environment"]["HOOT_FORWARDED_ALLOW_IPS"]) == [proxy]


@pytest.mark.parametrize("trusted", [True, False])
async def test_behind_the_proxy_a_board_is_told_wss_and_counted_at_its_address(monkeypatch, tmp_path,
                                                                               trusted):
    """The compose settings (fake engines, SQLite, this test standing in for the proxy at 127.0.0.1): what
    Caddy forwards is believed from the proxy's address only; believed, a XiaoZhi board's OTA check gets the
    wss:// URL and its pairing counts against the board's own address, not the proxy's."""
    settings, _ = hoot_settings(monkeypatch, tmp_path, HOOTS[0])
    proxy = "127.0.0.1" if trusted else SERVICES["proxy"]["networks"]["edge"]["ipv4_address"]
    settings = settings.model_copy(update={"store_url": "", "data_dir": tmp_path, "warmup": False,
                                           "lessons_dir": ROOT / "curriculum" / "lessons",
                                           "forwarded_allow_ips": [proxy]})
    app = create_app(settings, fake_engines())
    headers = {"Host": "hoot.example.org", "X-Forwarded-For": "203.0.113.7", "X-Forwarded-Proto": "https",
               "Device-Id": "aa:bb:cc:00:00:09"}
    async with serve_in_loop(app, settings=settings) as url:
        base = url.replace("ws://", "http://").removesuffix(hootproto.PATH)
        async with httpx.AsyncClient(base_url=base) as client:
            answer = await client.post("/xiaozhi/ota/", headers=headers, content=b"{}")
        assert answer.status_code == 200, answer.text
        told = answer.json()["websocket"]["url"]
        pairing = app.state.hoot.pairing
        if trusted:
            assert told == f"wss://hoot.example.org{xiaozhi.PATH}"
            assert (pairing.pending("203.0.113.7"), pairing.pending("127.0.0.1")) == (1, 0)
        else:
            assert told.startswith("ws://hoot.example.org")
            assert (pairing.pending("203.0.113.7"), pairing.pending("127.0.0.1")) == (0, 1)


def test_the_image_is_built_like_make_install():
    makefile = (ROOT / "Makefile").read_text()
    [cmake] = re.findall(r"^export CMAKE_ARGS \?= (.*)$", makefile, re.MULTILINE)
    steps = dockerfile()
    assert image_env(steps)["CMAKE_ARGS"] == cmake
    install = " ".join(args for instruction, args in steps if instruction == "RUN")
    assert "pip install --no-cache-dir ." in install
    assert "--require-hashes -r server/requirements/end-of-turn.txt" in install
    kept = {line[1:] for line in (ROOT / "deploy/Dockerfile.dockerignore").read_text().splitlines() if line.startswith("!")}
    for instruction, args in steps:
        if instruction == "COPY" and "--from" not in args:
            for source in [word for word in args.split() if not word.startswith("--")][:-1]:
                assert (ROOT / source).exists(), f"COPY {source}: not in the repository"
                assert source in kept, f"COPY {source}: left out of the build context by Dockerfile.dockerignore"
    final = final_stage()
    users = [args for instruction, args in final if instruction == "USER"]
    assert users and users[-1] not in ("root", "0")
    env = image_env(final)
    assert [args for instruction, args in final if instruction == "VOLUME"] == [env["HOOT_DATA_DIR"]]
    assert [args for instruction, args in final if instruction == "EXPOSE"] == [str(serve_port())]
    assert serve_command()[:2] == ["hoot", "serve"] and flag(serve_command(), "--host") == "0.0.0.0"
    assert SERVICES[HOOTS[0]]["build"] == {"context": "..", "dockerfile": "deploy/Dockerfile"}


def test_no_password_is_written_in_the_compose_file():
    text = (DEPLOY / "compose.yaml").read_text()
    for match in VARIABLE.finditer(text):
        if match["name"] in SECRETS or match["name"] == "HOOT_DOMAIN":
            assert match["op"] == ":?", f"${{{match['name']}}} must have no default"
    raw_store = RAW["services"][HOOTS[0]]["environment"]["HOOT_STORE_URL"]
    password = raw_store.split("://", 1)[1].rsplit("@", 1)[0].split(":", 1)[1]
    assert VARIABLE.fullmatch(password) and VARIABLE.fullmatch(password)["name"] == "HOOTKIT_DB_PASSWORD"
    db = RAW["services"]["db"]["environment"]
    for name in SECRETS:
        assert VARIABLE.fullmatch(db[name])["name"] == name
    assert not re.search(r"(?i)\bpassword\s+'", (DEPLOY / "initdb" / "10-hootkit.sql").read_text())


def test_init_sql_does_what_readme_says_for_the_store_urls_database():
    readme = (ROOT / "README.md").read_text()
    section = readme.split("#### Several servers sharing one PostgreSQL store", 1)[1]
    statements = re.search(r"```sql\n(.*?)```", section, re.DOTALL)[1]
    sql = " ".join((DEPLOY / "initdb" / "10-hootkit.sql").read_text().split())
    store = make_url(SERVICES[HOOTS[0]]["environment"]["HOOT_STORE_URL"])
    assert f"REVOKE CONNECT, TEMPORARY ON DATABASE {store.database} FROM PUBLIC;" in sql
    assert f"GRANT CONNECT ON DATABASE {store.database} TO {store.username};" in sql
    for statement in statements.strip().splitlines():
        assert " ".join(statement.split()) in sql
    assert "./initdb:/docker-entrypoint-initdb.d:ro" in SERVICES["db"]["volumes"]


def psql(port: int, database: str, *args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    """psql as the postgres image's entrypoint runs its init scripts: the superuser, stop at the first error;
    HOOTKIT_DB_PASSWORD only if `env` has it."""
    command = [_postgres_tool("psql"), "-v", "ON_ERROR_STOP=1", "--username", "postgres", "--no-password",
               "--no-psqlrc", "-h", "127.0.0.1", "-p", str(port), "--dbname", database, "-qtA", *args]
    environment = {name: value for name, value in os.environ.items() if name != "HOOTKIT_DB_PASSWORD"}
    environment.update(env or {})
    return subprocess.run(command, capture_output=True, text=True, timeout=20, env=environment)


@pytest.mark.timeout(120)
async def test_init_sql_on_a_real_postgresql(postgres_url):
    """The image's first start, on PostgreSQL here: POSTGRES_DB made, then initdb/10-hootkit.sql as the
    superuser. Then Hootkit's migrations run as its own role, and another role cannot even connect."""
    import asyncpg

    from hootkit.store.db import Store

    need(_postgres_tool("psql") is not None, "psql is not installed (apt-get install postgresql)")
    db = SERVICES["db"]["environment"]
    store = make_url(SERVICES[HOOTS[0]]["environment"]["HOOT_STORE_URL"])
    init = str(DEPLOY / "initdb" / "10-hootkit.sql")
    port = make_url(postgres_url).port
    assert psql(port, "postgres", "-c", f'CREATE DATABASE "{db["POSTGRES_DB"]}"').returncode == 0
    assert psql(port, db["POSTGRES_DB"], "-f", init).returncode != 0  # no password: the script fails
    done = psql(port, db["POSTGRES_DB"], "-f", init, env={"HOOTKIT_DB_PASSWORD": db["HOOTKIT_DB_PASSWORD"]})
    assert done.returncode == 0, done.stderr
    query = ("SELECT rolsuper, rolcanlogin, rolpassword LIKE 'SCRAM-SHA-256$%',"
             f" has_database_privilege('{store.username}', '{store.database}', 'CONNECT'),"
             f" has_database_privilege('{store.username}', '{store.database}', 'TEMPORARY')"
             f" FROM pg_authid WHERE rolname = '{store.username}'")
    assert psql(port, store.database, "-c", query).stdout.strip() == "f|t|t|t|f"
    assert psql(port, "postgres", "-c", "CREATE ROLE stranger LOGIN").returncode == 0
    with pytest.raises(asyncpg.InsufficientPrivilegeError, match="permission denied for database"):
        await asyncpg.connect(host="127.0.0.1", port=port, user="stranger", database=store.database)

    # the cluster trusts local connections, so the password is not checked here (rolpassword above is set)
    opened = await Store.open(store.set(host="127.0.0.1", port=port).render_as_string(hide_password=False))
    try:
        teacher = await opened.add_account("tom", "hash", "teacher")
        assert (await opened.add_class("Owls", teacher.id)).name == "Owls"
    finally:
        await opened.close()

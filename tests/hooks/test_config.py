"""config_from_connection / resolve_base_url over real airflow.sdk Connection objects (JSON and URI forms)."""

from __future__ import annotations

import json

import pytest
from airflow.sdk import Connection

from airflow_provider_feishu.api.endpoints import FEISHU_BASE_URL, LARK_BASE_URL
from airflow_provider_feishu.api.errors import FeishuConfigError
from airflow_provider_feishu.api.retry_policy import RetryPolicy
from airflow_provider_feishu.hooks.config import (
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT,
    config_from_connection,
    resolve_base_url,
)

CONN_ID = "feishu_default"
APP_ID = "cli_a1b2c3d4e5"
SECRET = "Sup3rSecretAppSecretValue"


def conn(*, extra=None, login=APP_ID, password=SECRET, host=None, port=None, conn_id=CONN_ID) -> Connection:
    return Connection(
        conn_id=conn_id,
        conn_type="feishu",
        login=login,
        password=password,
        host=host,
        port=port,
        extra=None if extra is None else json.dumps(extra),
    )


def config_error(connection, *fields: str) -> FeishuConfigError:
    with pytest.raises(FeishuConfigError) as info:
        config_from_connection(connection)
    text = str(info.value)
    assert repr(connection.conn_id) in text, text
    for field in fields:
        assert field in text, text
    assert SECRET not in text
    return info.value


# --- domain / host ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "base_url"),
    [
        (None, FEISHU_BASE_URL),
        ({}, FEISHU_BASE_URL),
        ({"domain": "feishu"}, FEISHU_BASE_URL),
        ({"domain": "lark"}, LARK_BASE_URL),
        ({"domain": " LARK "}, LARK_BASE_URL),
        ({"domain": ""}, FEISHU_BASE_URL),
        ({"domain": None}, FEISHU_BASE_URL),
        ({"extra__feishu__domain": "lark"}, LARK_BASE_URL),
        ({"domain": "", "extra__feishu__domain": "lark"}, LARK_BASE_URL),
        ({"domain": "feishu", "extra__feishu__domain": "lark"}, FEISHU_BASE_URL),  # the plain key wins
    ],
)
def test_domain(extra, base_url):
    assert config_from_connection(conn(extra=extra)).base_url == base_url


@pytest.mark.parametrize("domain", ["larksuite", "open.feishu.cn", "https://open.feishu.cn", "china", 5, True])
def test_unknown_domain(domain):
    config_error(conn(extra={"domain": domain}), "extra 'domain'", "feishu, lark")


@pytest.mark.parametrize(
    ("host", "port", "base_url"),
    [
        ("open.example.com", None, "https://open.example.com"),
        ("  open.example.com  ", None, "https://open.example.com"),
        ("https://open.example.com", None, "https://open.example.com"),
        ("https://open.example.com/", None, "https://open.example.com"),
        ("https://open.example.com/prefix/", None, "https://open.example.com/prefix"),
        ("HTTPS://open.example.com", None, "https://open.example.com"),
        ("open.example.com", 8443, "https://open.example.com:8443"),
        ("https://open.example.com", 8443, "https://open.example.com:8443"),
        ("open.example.com:9443", None, "https://open.example.com:9443"),
        ("https://open.example.com:9443", 8443, "https://open.example.com:9443"),  # the URL's own port wins
        ("http://127.0.0.1", 8080, "http://127.0.0.1:8080"),
        ("http://127.0.0.1:8080", None, "http://127.0.0.1:8080"),
        ("http://localhost:8080/", None, "http://localhost:8080"),
        ("http://[::1]:8080", None, "http://[::1]:8080"),
        ("https://10.0.0.5", None, "https://10.0.0.5"),
        ("", None, FEISHU_BASE_URL),
        ("   ", None, FEISHU_BASE_URL),
    ],
)
def test_host(host, port, base_url):
    assert config_from_connection(conn(host=host, port=port)).base_url == base_url


def test_host_wins_over_domain():
    cfg = config_from_connection(conn(host="https://open.example.com", extra={"domain": "lark"}))
    assert cfg.base_url == "https://open.example.com"


@pytest.mark.parametrize(
    ("host", "port", "field", "why"),
    [
        ("http://open.example.com", None, "host", "https"),
        ("http://10.0.0.5:8080", None, "host", "https"),
        ("http://localhost.evil.com", None, "host", "https"),
        ("open example.com", None, "host", "characters"),
        ("https://open .example.com", None, "host", "characters"),
        ("https://app:secret@open.example.com", None, "host", "credentials"),
        ("https://app@open.example.com", None, "host", "credentials"),
        ("https://open.example.com?x=1", None, "host", "query"),
        ("https://open.example.com/#frag", None, "host", "fragment"),
        ("ht!tp://open.example.com", None, "host", "https://open.example.com"),
        ("ftp://open.example.com", None, "host", "https://open.example.com"),
        ("https://", None, "host", "https://open.example.com"),
        ("https://open.example.com:70000", None, "host", "not a valid URL"),
        ("https://open.example.com:-1", None, "host", "not a valid URL"),
        ("https://open.example.com:port", None, "host", "not a valid URL"),
        ("https://open!example.com", None, "host", "characters"),
        ("open.example.com", 70000, "port", "65535"),
        ("open.example.com", -1, "port", "65535"),
    ],
)
def test_malformed_host(host, port, field, why):
    config_error(conn(host=host, port=port), field, why)


@pytest.mark.parametrize(
    ("host", "port", "domain", "expected"),
    [
        (None, None, None, FEISHU_BASE_URL),
        (None, None, "lark", LARK_BASE_URL),
        ("open.example.com", 443, None, "https://open.example.com:443"),
        ("https://open.example.com", None, "nonsense", "https://open.example.com"),
    ],
)
def test_resolve_base_url(host, port, domain, expected):
    assert resolve_base_url("c1", host, port, domain) == expected


def test_resolve_base_url_errors_name_the_conn():
    with pytest.raises(FeishuConfigError, match="'my_conn': host"):
        resolve_base_url("my_conn", "http://example.com", None, None)


# --- credentials -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("login", "password", "field"),
    [
        (None, SECRET, "login (App ID)"),
        ("", SECRET, "login (App ID)"),
        ("   ", SECRET, "login (App ID)"),
        (APP_ID, None, "password (App Secret)"),
        (APP_ID, "", "password (App Secret)"),
        (APP_ID, " \t ", "password (App Secret)"),
        (None, None, "login (App ID)"),  # the first problem is reported
    ],
)
def test_missing_credentials(login, password, field):
    config_error(conn(login=login, password=password), field)


def test_credentials_kept():
    cfg = config_from_connection(conn(login=f"  {APP_ID} "))
    assert cfg.app_id == APP_ID
    assert cfg.app_secret == SECRET
    assert cfg.secrets == (SECRET,)
    assert cfg.conn_id == CONN_ID


# --- numbers ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "timeout", "max_attempts"),
    [
        (None, DEFAULT_TIMEOUT, DEFAULT_MAX_RETRIES + 1),
        ({"timeout": 5}, 5.0, DEFAULT_MAX_RETRIES + 1),
        ({"timeout": "5"}, 5.0, DEFAULT_MAX_RETRIES + 1),
        ({"timeout": " 2.5 "}, 2.5, DEFAULT_MAX_RETRIES + 1),
        ({"timeout": ""}, DEFAULT_TIMEOUT, DEFAULT_MAX_RETRIES + 1),
        ({"max_retries": "5"}, DEFAULT_TIMEOUT, 6),
        ({"max_retries": 0}, DEFAULT_TIMEOUT, 1),
        ({"max_retries": "0"}, DEFAULT_TIMEOUT, 1),
        ({"extra__feishu__timeout": "7"}, 7.0, DEFAULT_MAX_RETRIES + 1),
        ({"extra__feishu__max_retries": "2"}, DEFAULT_TIMEOUT, 3),
        ({"timeout": "", "extra__feishu__timeout": "8"}, 8.0, DEFAULT_MAX_RETRIES + 1),
        ({"timeout": "3", "extra__feishu__timeout": "8"}, 3.0, DEFAULT_MAX_RETRIES + 1),
    ],
)
def test_timeout_and_retries_from_extras(extra, timeout, max_attempts):
    cfg = config_from_connection(conn(extra=extra))
    assert cfg.timeout == timeout
    assert isinstance(cfg.timeout, float)
    assert cfg.retry.max_attempts == max_attempts


def test_retry_delays_from_extras():
    cfg = config_from_connection(
        conn(extra={"retry_base_delay": "0.01", "retry_max_delay": "0.05", "max_rate_limit_wait": "2"})
    )
    assert cfg.retry == RetryPolicy(
        max_attempts=DEFAULT_MAX_RETRIES + 1, base_delay=0.01, max_delay=0.05, max_rate_limit_wait=2.0
    )


def test_explicit_arguments_win_over_extras():
    cfg = config_from_connection(conn(extra={"timeout": "5", "max_retries": "9"}), timeout=1.5, max_retries=0)
    assert cfg.timeout == 1.5
    assert cfg.retry.max_attempts == 1


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"timeout": 0}, "timeout argument"),
        ({"timeout": -1.0}, "timeout argument"),
        ({"max_retries": -1}, "max_retries argument"),
    ],
)
def test_bad_explicit_arguments(kwargs, field):
    with pytest.raises(FeishuConfigError, match=field):
        config_from_connection(conn(), **kwargs)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("timeout", "abc"),
        ("timeout", "-1"),
        ("timeout", "0"),
        ("timeout", "inf"),
        ("timeout", "-inf"),
        ("timeout", "nan"),
        ("timeout", True),
        ("timeout", False),
        ("timeout", [5]),
        ("timeout", {"s": 5}),
        ("max_retries", "abc"),
        ("max_retries", "-1"),
        ("max_retries", "inf"),
        ("max_retries", True),
        ("extra__feishu__timeout", "abc"),
        ("retry_base_delay", "-0.5"),
        ("retry_max_delay", "soon"),
        ("max_rate_limit_wait", "inf"),
    ],
)
def test_bad_numbers(name, value):
    field = name.removeprefix("extra__feishu__")
    err = config_error(conn(extra={name: value}), f"extra '{field}'")
    assert "number" in str(err)


@pytest.mark.parametrize("proxy", [5, ["http://p:1"], {"https": "http://p:1"}, True])
def test_bad_proxy(proxy):
    config_error(conn(extra={"proxy": proxy}), "extra 'proxy'")


@pytest.mark.parametrize(("proxy", "expected"), [(None, None), ("", None), ("http://proxy:3128", "http://proxy:3128")])
def test_proxy(proxy, expected):
    assert config_from_connection(conn(extra={"proxy": proxy})).proxy == expected


# --- URI form (extras arrive as strings) -----------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "base_url", "timeout", "max_attempts"),
    [
        (f"feishu://{APP_ID}:{SECRET}@/", FEISHU_BASE_URL, DEFAULT_TIMEOUT, DEFAULT_MAX_RETRIES + 1),
        (f"feishu://{APP_ID}:{SECRET}@/?domain=lark&timeout=5&max_retries=2", LARK_BASE_URL, 5.0, 3),
        (
            f"feishu://{APP_ID}:{SECRET}@open.example.com:8443/?timeout=2.5",
            "https://open.example.com:8443",
            2.5,
            DEFAULT_MAX_RETRIES + 1,
        ),
        (
            f"feishu://{APP_ID}:{SECRET}@https%3A%2F%2Fopen.example.com/",
            "https://open.example.com",
            DEFAULT_TIMEOUT,
            DEFAULT_MAX_RETRIES + 1,
        ),
        (
            f"feishu://{APP_ID}:{SECRET}@http%3A%2F%2F127.0.0.1:8080/",
            "http://127.0.0.1:8080",
            DEFAULT_TIMEOUT,
            DEFAULT_MAX_RETRIES + 1,
        ),
        (
            f"feishu://{APP_ID}:{SECRET}@/?extra__feishu__timeout=7&extra__feishu__max_retries=1",
            FEISHU_BASE_URL,
            7.0,
            2,
        ),
        (
            f"feishu://{APP_ID}:{SECRET}@/?__extra__=%7B%22timeout%22%3A+%223%22%7D",
            FEISHU_BASE_URL,
            3.0,
            DEFAULT_MAX_RETRIES + 1,
        ),
    ],
)
def test_uri_form(uri, base_url, timeout, max_attempts):
    connection = Connection.from_uri(uri, conn_id="feishu_uri")
    cfg = config_from_connection(connection)
    assert cfg.conn_id == "feishu_uri"
    assert (cfg.base_url, cfg.timeout, cfg.retry.max_attempts) == (base_url, timeout, max_attempts)
    assert cfg.app_id == APP_ID
    assert cfg.app_secret == SECRET


def test_uri_form_url_encoded_secret():
    connection = Connection.from_uri(f"feishu://{APP_ID}:s%2F3cr%40t%3Ax@/", conn_id="feishu_uri")
    assert config_from_connection(connection).app_secret == "s/3cr@t:x"


@pytest.mark.parametrize(
    ("uri", "fields"),
    [
        (f"feishu://{APP_ID}:{SECRET}@/?timeout=abc", ("extra 'timeout'",)),
        (f"feishu://{APP_ID}:{SECRET}@/?max_retries=-1", ("extra 'max_retries'",)),
        (f"feishu://{APP_ID}:{SECRET}@/?domain=larksuite", ("extra 'domain'",)),
        (f"feishu://{APP_ID}:{SECRET}@http%3A%2F%2Fopen.example.com/", ("host", "https")),
        (f"feishu://{APP_ID}@/", ("password (App Secret)",)),
        ("feishu://https://open.example.com", ("login (App ID)",)),
    ],
)
def test_uri_form_errors(uri, fields):
    config_error(Connection.from_uri(uri, conn_id="feishu_uri"), *fields)


# --- repr and cache key ----------------------------------------------------------------------


def test_repr_hides_secret_and_proxy():
    proxy = "http://proxyuser:proxypass@proxy.internal:3128"
    cfg = config_from_connection(conn(extra={"proxy": proxy}))
    assert cfg.proxy == proxy
    for text in (repr(cfg), str(cfg)):
        assert SECRET not in text
        assert "proxypass" not in text
        assert "proxy.internal" not in text
        assert APP_ID in text
    assert SECRET not in str(cfg.cache_key)


@pytest.mark.parametrize(
    ("other", "same"),
    [
        ({}, True),
        ({"password": SECRET + "x"}, False),
        ({"login": "cli_other"}, False),
        ({"host": "https://open.example.com"}, False),
        ({"extra": {"domain": "lark"}}, False),
        ({"extra": {"timeout": "3"}}, True),  # transport settings share the token
        ({"conn_id": "feishu_other"}, True),  # same app on the same host: one token
    ],
)
def test_cache_key(other, same):
    base = config_from_connection(conn())
    changed = config_from_connection(conn(**other))
    assert (base.cache_key == changed.cache_key) is same
    assert len(base.cache_key) == 3


def test_fractional_max_retries_is_refused():
    conn = Connection(conn_id="f", conn_type="feishu", login="cli_a", password="s", extra='{"max_retries": "2.7"}')
    with pytest.raises(FeishuConfigError, match="max_retries"):
        config_from_connection(conn)


@pytest.mark.parametrize(("raw", "share"), [(None, None), ("", None), ("0.25", 0.25), (1, 1.0)])
def test_rate_limit_share_pins_a_static_share(raw, share):
    assert config_from_connection(conn(extra={"rate_limit_share": raw})).rate_limit_share == share


@pytest.mark.parametrize("raw", ["0", "1.5", "-0.1", "half"])
def test_rate_limit_share_must_be_a_fraction(raw):
    config_error(conn(extra={"rate_limit_share": raw}), "extra 'rate_limit_share'")

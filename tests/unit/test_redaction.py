import base64
import hashlib
import hmac
import json
import urllib.parse
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approver.core.log_format import LOGGED_STRING_LIMIT, loggable_arguments
from approver.core.redaction import (
    _CATALOGUE_PLUGINS,
    MARKER_PATTERN,
    find_secrets_in_text,
    redact,
    secret_catalogue,
)
from tests.scaling import LINEAR, growth

KEY = b"test fingerprint key"
GITHUB = "ghp_" + "A1b2C3d4E5f6G7h8I9j0K1l2M3n4O5p6Q7r8"
JWT = "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"
PEM = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmU=\n-----END OPENSSH PRIVATE KEY-----"


def marker(kind: str, secret: str, key: bytes = KEY) -> str:
    digest = hmac.new(key, secret.encode(), hashlib.sha256).hexdigest()
    return f"[redacted:{kind}:{digest[:16]}]"


def resolve(document: Any, pointer: str) -> Any:
    """RFC 6901: follow a JSON Pointer into a document."""
    value = document
    for raw in pointer.split("/")[1:]:
        segment = raw.replace("~1", "/").replace("~0", "~")
        value = value[int(segment)] if isinstance(value, list) else value[segment]
    return value


# --- (1) credential key names --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "password",
        "Password",
        "passwd",
        "pass",
        "secret",
        "token",
        "access_token",
        "accessToken",
        "refresh-token",
        "id_token",
        "auth",
        "Authorization",
        "cookie",
        "Set-Cookie",
        "api_key",
        "apiKey",
        "API.KEY",
        "private_key",
        "client_secret",
        "session",
        "credential",
        "credentials",
        "passphrase",
        "X-Api-Key",
        "db_password",
        "newPassword",
        "stripe_api_key",
        "aws_secret_access_key",
    ],
)
def test_a_value_under_a_credential_name_is_replaced_whole(name: str) -> None:
    result = redact({name: "hunter2 is my secret", "user": "bob"}, KEY)
    pointer = "/" + name.replace("~", "~0").replace("/", "~1")
    assert result.value["user"] == "bob"
    assert MARKER_PATTERN.fullmatch(result.value[name])
    assert [finding.pointer for finding in result.findings] == [pointer]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("page_token", "abc"),  # pagination cursors are not credentials
        ("next_token", "eyJvZmZzZXQiOjEwfQ"),
        ("max_tokens", 4096),
        ("username", "bob"),
        ("password_file", "/run/secrets/db"),  # names a place, not the secret
        ("keyword", "hello world"),
        ("token_type", "bearer"),
        ("api_key_id", "short"),
        ("author", "Ada Lovelace"),
    ],
)
def test_names_that_only_mention_a_credential_keep_ordinary_values(name: str, value: Any) -> None:
    result = redact({name: value}, KEY)
    assert result.value == {name: value}
    assert result.findings == []


def test_numbers_under_a_credential_name_are_secrets_too_but_booleans_and_null_are_not() -> None:
    result = redact({"pin_password": 1234, "token": None, "auth": True, "session": 1.5, "secret": ""}, KEY)
    assert result.value["pin_password"] == marker("password", "1234")
    assert result.value["session"] == marker("session", "1.5")
    assert result.value["token"] is None
    assert result.value["auth"] is True
    assert result.value["secret"] == ""  # nothing to hide


def test_everything_inside_a_credential_object_is_secret() -> None:
    result = redact({"auth": {"type": "basic", "user": "u", "pins": [1, 2], "on": True}, "x": "y"}, KEY)
    inner = result.value["auth"]
    assert all(MARKER_PATTERN.fullmatch(inner[k]) for k in ("type", "user"))
    assert all(MARKER_PATTERN.fullmatch(pin) for pin in inner["pins"])
    assert inner["on"] is True
    assert result.value["x"] == "y"
    assert {f.pointer for f in result.findings} == {"/auth/type", "/auth/user", "/auth/pins/0", "/auth/pins/1"}


def test_a_credential_field_holding_a_known_token_keeps_the_token_kind() -> None:
    result = redact({"token": GITHUB}, KEY)
    assert result.value == {"token": marker("github_token", GITHUB)}


# --- markers -------------------------------------------------------------------------------------------------


def test_the_same_secret_gets_the_same_marker_under_one_key_and_another_under_another_key() -> None:
    first = redact({"password": "hunter2", "cmd": "mysql --password hunter2"}, KEY).value
    assert first["password"] == marker("password", "hunter2")
    assert first["cmd"] == "mysql --password " + marker("password", "hunter2")
    other = redact({"password": "hunter2"}, b"another key").value
    assert other["password"] == marker("password", "hunter2", b"another key") != first["password"]


def test_pointers_escape_slash_and_tilde_as_rfc_6901_says() -> None:
    result = redact({"a/b~c": {"password": "x"}}, KEY)
    assert [f.pointer for f in result.findings] == ["/a~1b~0c/password"]
    assert resolve(result.value, "/a~1b~0c/password") == marker("password", "x")


def test_a_token_in_a_member_name_is_replaced_and_the_pointer_uses_the_new_name() -> None:
    result = redact({f"x-{GITHUB}": 1}, KEY)
    new_name = "x-" + marker("github_token", GITHUB)
    assert result.value == {new_name: 1}
    assert [f.pointer for f in result.findings] == ["/" + new_name]


# --- (2) token shapes inside strings -------------------------------------------------------------------------

TOKENS = [
    ("github_token", GITHUB),
    ("github_token", "gho_" + "x" * 36),
    ("github_token", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ0123456789"),
    ("aws_access_key_id", "AKIAIOSFODNN7EXAMPLE"),
    ("aws_access_key_id", "ASIAY34FZKBOKMUTVV7A"),
    ("openai_api_key", "sk-proj-Abcdefghij1234567890XYZabcdef"),
    ("openai_api_key", "sk-Abcdefghij1234567890XYZabcdefghijklmnopqrstuv"),
    ("anthropic_api_key", "sk-ant-api03-AbCdEf0123456789xyzXYZ_-abcdef"),
    ("slack_token", "xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOpQrStUvWx"),
    ("google_api_key", "AIzaSyA-1234567890abcdefghijklmnopqrstu"),
    ("jwt", JWT),
    ("stripe_key", "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc"),
]


@pytest.mark.parametrize(("kind", "token"), TOKENS)
def test_token_shapes_are_found_anywhere_in_a_string_and_only_they_are_replaced(kind: str, token: str) -> None:
    command = f"deploy --verbose {token} && echo done"
    result = redact({"command": command}, KEY)
    assert result.value["command"] == f"deploy --verbose {marker(kind, token)} && echo done"
    assert [(f.pointer, f.kind) for f in result.findings] == [("/command", kind)]


@pytest.mark.parametrize(
    ("text", "kind", "secret"),
    [
        (f"key: {PEM} tail", "private_key", PEM),
        ("curl -H 'Authorization: Bearer abc123.def-456_ghi' x", "bearer_token", "abc123.def-456_ghi"),
        ("Authorization: Basic dXNlcjpwYXNzd29yZA==", "basic_auth", "dXNlcjpwYXNzd29yZA=="),
        ("git clone https://oauth2:s3cr3tValue@gitlab.com/x/y", "url_password", "s3cr3tValue"),
        ("mysql -u root --password hunter2 db", "password", "hunter2"),
        ("mysql -u root --password=hunter2 db", "password", "hunter2"),
        ("export DB_PASSWORD=hunter2", "password", "hunter2"),
        ('{"client_secret": "two words"}', "credential", "two words"),
        ('config = {\\"password\\": \\"p@ss\\"}', "password", "p@ss"),
        ("tool --signing-key Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1 run", "high_entropy", "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1"),
        ("https://x.io/cb?access_token=abc123def&state=1", "credential", "abc123def"),
    ],
)
def test_secrets_in_text_are_replaced_in_place(text: str, kind: str, secret: str) -> None:
    result = redact({"text": text}, KEY)
    assert result.value["text"] == text.replace(secret, marker(kind, secret))
    assert [f.kind for f in result.findings] == [kind]


@pytest.mark.parametrize(
    "text",
    [
        "pip install sk-learn-the-basics-of-machine-learning",  # sk- but a package name
        "my password is hunter2",  # prose, not a flag
        "Password: required",
        "token=${GITHUB_TOKEN}",  # a reference, not a value
        "--token --verbose",
        "use a Bearer token here",
        "the task-manager-with-a-very-long-name-here",
        "https://github.com/modelcontextprotocol/servers",
        "signature: a short one",
        'password = os.environ["DB_PASSWORD"]',  # code naming where the secret comes from
        "const token = getToken();",
    ],
)
def test_ordinary_text_is_left_alone(text: str) -> None:
    assert find_secrets_in_text(text) == []
    assert redact({"text": text}, KEY).value == {"text": text}


def test_a_private_key_cut_short_is_still_hidden_to_the_end() -> None:
    text = "here: -----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA..."
    assert find_secrets_in_text(text) == [("private_key", 6, len(text))]


def test_overlapping_evidence_is_one_span_named_by_the_most_specific_shape() -> None:
    text = f"--token {GITHUB}"
    assert find_secrets_in_text(text) == [("github_token", 8, len(text))]


# --- (3) random-looking values in credential-like places -----------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value", "redacted"),
    [
        ("signing_key", "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1", True),
        ("webhook_sig", "MEUCIQDx7y2kP9fZ3qL8vW1nR4tY6uI0oA5sD7fG9hJ2kL4m", True),
        ("github_token", "3f8a9c2e7b1d4f6a0c5e8b2d9f7a1c3e6b4d8f0a", True),  # 40 random hex digits
        ("signing_key", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", False),  # long but not random
        ("signing_key", "short1X", False),
        ("keywords", "one two three four five six seven", False),  # whitespace: prose
        ("author_url", "https://github.com/foo/bar-baz-qux", False),  # a URL, not a key
        ("description", "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1", False),  # random, but nothing hints at a secret
    ],
)
def test_random_strings_under_hinting_names(name: str, value: str, redacted: bool) -> None:
    result = redact({name: value}, KEY)
    assert (result.value[name] != value) is redacted
    if redacted:
        assert result.value[name] == marker("high_entropy", value)


def test_hints_reach_into_arrays_under_the_name() -> None:
    value = "Zx9Qw8Er7Ty6Ui5Op4As3Df2Gh1"
    result = redact({"keys": [value, "plain"]}, KEY)
    assert result.value == {"keys": [marker("high_entropy", value), "plain"]}
    assert [f.pointer for f in result.findings] == ["/keys/0"]


# --- totality and bounds -------------------------------------------------------------------------------------


def test_deep_nesting_does_not_exhaust_the_stack() -> None:
    document: Any = {"password": "x"}
    for _ in range(100_000):
        document = [document]
    result = redact(document, KEY)
    assert len(result.findings) == 1
    assert result.findings[0].pointer == "/0" * 100_000 + "/password"


def test_any_json_scalar_is_fine_at_the_top() -> None:
    for value in (None, True, 0, -1.5, float("inf"), "", "plain", 10**5000):
        assert redact(value, KEY).value == value


def test_odd_values_do_not_break_fingerprints() -> None:
    result = redact({"password": "\ud800 lone surrogate", "secret": 10**5000}, KEY)
    assert all(MARKER_PATTERN.fullmatch(result.value[k]) for k in ("password", "secret"))


def test_what_is_not_json_is_refused() -> None:
    with pytest.raises(TypeError):
        redact({"x": object()}, KEY)
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(ValueError, match="cycle"):
        redact(cycle, KEY)


def test_the_input_is_not_modified() -> None:
    original = {"password": "x", "nested": [{"token": "y"}]}
    snapshot = json.dumps(original)
    redact(original, KEY)
    assert json.dumps(original) == snapshot


MEGABYTE = 1024 * 1024


@pytest.mark.parametrize(
    "unit",
    [
        "lorem ipsum dolor sit amet ",
        "a",
        "key=1 ",
        "--token ",
        "sk-",
        "eyJaaaaaa.",
        "-----BEGIN RSA PRIVATE KEY-----",
        "github_pat_",
        "https://",
        "İkey=1 ",
    ],
)
def test_hostile_text_is_scanned_in_linear_time(unit: str) -> None:
    def scan(size: int) -> None:
        text = unit * (size // len(unit))
        middle = len(text) // 2
        text = text[:middle] + f" {GITHUB} " + text[middle:]
        assert GITHUB not in redact({"content": text}, KEY).value["content"]

    ratio = growth(scan, MEGABYTE)
    assert ratio < LINEAR, f"4x the text took {ratio:.1f}x the time for {unit!r}"


# --- properties ----------------------------------------------------------------------------------------------

base62 = st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789", min_size=36, max_size=36)
github_tokens: st.SearchStrategy[str] = st.builds(
    lambda prefix, body: prefix + body, st.sampled_from(["ghp_", "gho_", "ghu_", "ghs_", "ghr_"]), base62
)


@st.composite
def texts_with_tokens(draw: st.DrawFn) -> str:
    return draw(st.text(max_size=20)) + draw(github_tokens) + draw(st.text(max_size=20))


json_scalars = st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=30)
json_values: st.SearchStrategy[Any] = st.recursive(
    json_scalars | texts_with_tokens(),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(
            st.text(max_size=12) | st.sampled_from(["password", "token", "api_key", "cmd", "signing_key"]),
            children,
            max_size=4,
        )
    ),
    max_leaves=20,
)


def _generated_tokens(value: Any) -> list[str]:
    found: list[str] = []
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            found.extend(token for _, token in _token_spans(item))
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.values())
            stack.extend(item.keys())
    return found


def _token_spans(text: str) -> list[tuple[int, str]]:
    prefixes = {"ghp_", "gho_", "ghu_", "ghs_", "ghr_"}
    return [(i, text[i : i + 40]) for i in range(len(text) - 39) if text[i : i + 4] in prefixes]


@given(json_values)
@settings(max_examples=300)
def test_no_generated_github_token_survives(value: Any) -> None:
    output = json.dumps(redact(value, KEY).value, ensure_ascii=False)
    for token in _generated_tokens(value):
        if token[4:].isascii() and token[4:].isalnum():
            assert token not in output


@given(json_values)
@settings(max_examples=300)
def test_redacting_twice_changes_nothing_more(value: Any) -> None:
    once = redact(value, KEY)
    twice = redact(once.value, KEY)
    assert twice.value == once.value
    assert twice.findings == []


@given(json_values)
@settings(max_examples=300)
def test_every_pointer_points_at_a_replaced_value(value: Any) -> None:
    result = redact(value, KEY)
    for finding in result.findings:
        parent_pointer, _, last = finding.pointer.rpartition("/")
        target = resolve(result.value, finding.pointer)
        name = last.replace("~1", "/").replace("~0", "~")
        in_value = isinstance(target, str) and f"[redacted:{finding.kind}:" in target
        in_name = isinstance(resolve(result.value, parent_pointer), dict) and f"[redacted:{finding.kind}:" in name
        assert in_value or in_name


plain_values: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["a", "count", "items", "page_token"]), children, max_size=4)
    ),
    max_leaves=20,
)


@given(plain_values)
def test_values_with_nothing_secret_come_back_equal(value: Any) -> None:
    result = redact(value, KEY)
    assert result.value == value
    assert result.findings == []


# --- gaps found in review (issue 9): each of these was written raw into the log and the dialog ----------------

PASSWORD = "Hunter2Secret!x9"
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
GITLAB = "glpat-" + "xY3zA9bC8dE7fG6hJ5kL"
NPM = "npm_" + "aB3dE5gH7jK9mN1pQ3sT5vW7yZ9bC1dF3hJ5"
HUGGING_FACE = "hf_" + "aBcDeFgHiJkLmNoPqRsTuVwXyZaBcDeFgH"
SENDGRID = "SG." + "aBcDeFgHiJkLmNoPqRsTuV" + "." + "aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789aBcDeFg"


def _raw_anywhere(value: Any, secret: str) -> bool:
    return secret in json.dumps(value, ensure_ascii=False)


@pytest.mark.parametrize(
    ("value", "secret"),
    [
        (["--password", PASSWORD], PASSWORD),
        (["mysql", "-u", "root", "--password", PASSWORD, "db"], PASSWORD),
        (["mysql", "-uroot", f"-p{PASSWORD}", "db"], PASSWORD),
        ({"command": "mysql", "args": ["-uroot", f"-p{PASSWORD}"]}, PASSWORD),
        (f"mysql -u root -p{PASSWORD} db", PASSWORD),
        (f"mysqldump -h db.local -p'{PASSWORD}' shop > dump.sql", PASSWORD),
        ([{"name": "DB_PASSWORD", "value": PASSWORD}], PASSWORD),
        ({"env": [{"Name": "API_KEY", "Value": PASSWORD}]}, PASSWORD),
        ([["Authorization", f"Basic {PASSWORD}"]], PASSWORD),
        ({"headers": [["X-Api-Key", PASSWORD], ["Accept", "text/plain"]]}, PASSWORD),
        (f"aws configure set aws_secret_access_key {AWS_SECRET}", AWS_SECRET),
        (["aws", "configure", "set", "aws_secret_access_key", AWS_SECRET], AWS_SECRET),
        ({"value": AWS_SECRET}, AWS_SECRET),
        (f"the key is {AWS_SECRET} keep it safe", AWS_SECRET),
        ({"pw": PASSWORD}, PASSWORD),
        ({"pin": "4711"}, "4711"),
        ({"\uff50\uff41\uff53\uff53\uff57\uff4f\uff52\uff44": PASSWORD}, PASSWORD),  # fullwidth "password"
        (f"token {GITLAB}", GITLAB),
        (f"publish with {NPM}", NPM),
        (f"HF_HUB {HUGGING_FACE} please", HUGGING_FACE),
        (f"mail via {SENDGRID}", SENDGRID),
    ],
)
def test_review_gaps_are_redacted(value: Any, secret: str) -> None:
    result = redact(value, KEY)
    assert not _raw_anywhere(result.value, secret)
    assert result.findings


@pytest.mark.parametrize(
    ("encoded", "secret"),
    [
        (base64.b64encode(GITHUB.encode()).decode(), GITHUB),
        (base64.urlsafe_b64encode(f'{{"token": "{GITHUB}"}}'.encode()).decode().rstrip("="), GITHUB),
        ("".join(f"%{byte:02X}" for byte in GITHUB.encode()), GITHUB),
        (urllib.parse.quote(f"password={PASSWORD}", safe=""), PASSWORD),
        (urllib.parse.quote(base64.b64encode(f"https://bob:{PASSWORD}@db.test".encode()).decode(), safe=""), PASSWORD),
    ],
    ids=["base64", "base64url-json", "percent-every-byte", "percent-query", "percent-base64"],
)
def test_encoded_tokens_are_redacted(encoded: str, secret: str) -> None:
    result = redact({"q": f"https://example.com/search?q={encoded}&page=2"}, KEY)
    text = result.value["q"]
    assert encoded not in text
    assert secret not in urllib.parse.unquote(text)
    query = text.split("q=")[1].split("&")[0]
    assert secret not in base64.b64decode(query + "==", validate=False).decode(errors="replace")
    assert text.startswith("https://example.com/search?q=")
    assert "[redacted:" in text
    assert text.endswith("&page=2")


def test_encoded_plain_text_is_left_alone() -> None:
    text = "aGVsbG8gd29ybGQsIHRoaXMgaXMgZmluZQ== and caf%C3%A9%20au%20lait"
    assert redact({"q": text}, KEY).value == {"q": text}


@pytest.mark.parametrize("cut", [5, 12, 30, 39])
def test_the_head_of_a_token_cut_at_the_log_limit_is_not_left_raw(cut: int) -> None:
    prefix = "x" * (LOGGED_STRING_LIMIT - cut) + " "
    elided = loggable_arguments({"content": prefix + GITHUB + " and more text after it"})
    head = GITHUB[: cut - 1]
    assert head in elided["content"]  # the log keeps only the head of the token
    result = redact(elided, KEY)
    assert head not in result.value["content"]
    assert result.value["content"].startswith(prefix + "[redacted:")
    assert "elided:" in result.value["content"]  # the elision note stays readable
    assert redact(result.value, KEY).value == result.value


def test_a_cut_that_falls_between_words_redacts_nothing_extra() -> None:
    elided = loggable_arguments({"content": "word " * 1000})
    assert redact(elided, KEY).value == elided


@pytest.mark.parametrize(
    "value",
    [
        ["mkdir", "-p", "/tmp/x"],
        ["ssh", "-p2222", "host"],
        ["--name", "password"],
        [{"name": "PATH", "value": "/usr/bin"}],
        [["Accept", "text/plain"]],
        {"value": "3f8a9c2e7b1d4f6a0c5e8b2d9f7a1c3e6b4d8f0a"},  # a git commit hash, not an AWS secret
        {"value": "/usr/local/lib/python3.11/site-packages/x"},
        {"pinned": True, "spin": "fast"},
    ],
)
def test_look_alikes_of_the_review_gaps_stay_readable(value: Any) -> None:
    assert redact(value, KEY).value == value


def test_catalogue_kinds_come_from_detect_secrets() -> None:
    assert find_secrets_in_text(f"x {GITLAB} y")[0][0] == "gitlab_token"
    assert find_secrets_in_text(f"x {SENDGRID} y")[0][0] == "sendgrid_api_key"


@pytest.mark.parametrize(
    "unit",
    [
        "glpat-",
        "SG.",
        "hf_",
        "npm_",
        "%41",
        "QUFB",
        "mysql -p",
        "aws_key'",
        "AccountKey=",
        "a-us",
        "set password ",
        "xoxb-1-",
        "pypi-AgEIcHlwaS5vcmc",
        "AKC",
        "12345678:",
        "--password ",
    ],
)
def test_text_hostile_to_the_new_rules_is_scanned_in_linear_time(unit: str) -> None:
    def scan(size: int) -> None:
        text = unit * (size // len(unit))
        redact({"content": text}, KEY)
        redact({"content": loggable_arguments(text)}, KEY)

    ratio = growth(scan, MEGABYTE // 2)
    assert ratio < LINEAR, f"4x the text took {ratio:.1f}x the time for {unit!r}"


def test_every_catalogue_pattern_has_its_literals() -> None:
    catalogue = secret_catalogue()
    used = {entry.plugin for entry in catalogue}
    assert used == {class_name for _, class_name, _ in _CATALOGUE_PLUGINS}, "a detect-secrets plugin changed"
    assert {entry.kind for entry in catalogue} >= {"gitlab_token", "sendgrid_api_key", "slack_token", "twilio_api_key"}
    for entry in catalogue:
        for literal in entry.shape.triggers:
            assert literal == literal.lower() or not entry.shape.ignore_case


def test_a_token_head_cut_inside_minified_json_is_hidden_but_a_long_blob_is_kept() -> None:
    minified = '{"a":"' + "y" * (LOGGED_STRING_LIMIT - 30) + '","auth":"' + GITHUB + '"}'
    elided = loggable_arguments(minified)
    head = elided[:LOGGED_STRING_LIMIT].rsplit('"', 1)[1]
    assert len(head) >= 10 and GITHUB.startswith(head)
    assert head not in redact(elided, KEY).value
    blob = loggable_arguments("Q" * 6000)
    assert redact(blob, KEY).value == blob  # one 4 KB run is no token's head: nothing to hide, nothing hidden

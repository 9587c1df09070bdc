import fnmatch
import json
import os
import posixpath
import unicodedata
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from approver.core.policy import (
    ELEMENT_LIMIT,
    PATH_LIMIT,
    CompiledPolicy,
    Effect,
    EvaluationContext,
    Layer,
    PolicyError,
    default_context,
    evaluate_layers,
    lexical_path,
    parse_pointer,
    parse_policy,
    policy_json_schema,
    unbalanced_bracket,
)
from approver.platform.resources import resource_text


def policy(*rules: dict[str, Any]) -> str:
    return json.dumps({"rules": list(rules)})


def test_deny_beats_ask_beats_allow_whatever_the_order() -> None:
    compiled = parse_policy(
        policy(
            {"effect": "allow", "tool": "*"},
            {"effect": "ask", "tool": "write*"},
            {"effect": "deny", "tool": "write_secret", "id": "no-secrets"},
        ),
        "p.json",
    )
    assert compiled.evaluate("fs", "read").effect is Effect.ALLOW
    assert compiled.evaluate("fs", "write_file").effect is Effect.ASK
    outcome = compiled.evaluate("fs", "write_secret")
    assert outcome.effect is Effect.DENY
    assert outcome.rule_label == "no-secrets"


def test_no_match_means_ask() -> None:
    outcome = parse_policy(policy({"effect": "allow", "server": "fs", "tool": "read"}), "p").evaluate("git", "read")
    assert outcome.effect is Effect.ASK
    assert outcome.rule is None
    assert outcome.explain() == "no rule matches this call"


def test_globs_match_exact_code_points_and_case() -> None:
    compiled = parse_policy(policy({"effect": "allow", "tool": "read_file"}), "p")
    assert compiled.evaluate("fs", "read_file").effect is Effect.ALLOW
    assert compiled.evaluate("fs", "Read_file").effect is Effect.ASK
    assert compiled.evaluate("fs", "read_fіle").effect is Effect.ASK  # Cyrillic і
    assert compiled.evaluate("fs", "read_file\u200b").effect is Effect.ASK  # zero-width space
    assert compiled.evaluate("fs", "read_file\n").effect is Effect.ASK


@given(tool=st.text(), server=st.text())
def test_a_deny_that_matches_always_wins(tool: str, server: str) -> None:
    compiled = parse_policy(
        policy({"effect": "allow", "tool": "*"}, {"effect": "deny", "tool": "*"}, {"effect": "ask"}), "p"
    )
    assert compiled.evaluate(server, tool).effect is Effect.DENY


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("{", "p.json: not valid JSON"),
        ("[]", "p.json: the policy must be a JSON object"),
        ('{"version": 2, "rules": []}', "p.json: policy version 2 is not supported"),
        (policy({"effect": "permit"}), "p.json: rule 1, effect: 'permit' is not one of allow, deny, ask"),
        (policy({"effect": "alow"}), "rule 1, effect: 'alow' is not one of allow, deny, ask (did you mean 'allow'?)"),
        (
            policy({"effect": "allow"}, {"effect": "allow", "id": "x", "tool": ""}),
            "p.json: rule 2 ('x'), tool: String should have at least 1 character",
        ),
        (policy({"effect": "allow", "tol": "x"}), "p.json: rule 1, tol: unknown field (did you mean 'tool'?)"),
        (policy({"effect": "allow", "frobnicate": 1}), "rule 1, frobnicate: unknown field (a typo, or a feature"),
        (
            policy({"effect": "allow", "args": {"/p": {"regx": "a"}}}),
            "args./p.regx: unknown field (did you mean 'regex'?)",
        ),
        (
            policy({"effect": "allow", "limit": {"per_hour": 0}}),
            "limit.per_hour: Input should be greater than or equal to 1 (found 0)",
        ),
        (
            policy({"effect": "allow", "limit": {"per_hour": 5, "then": "dny"}}),
            "then: 'dny' is not one of ask, deny (did you mean 'deny'?)",
        ),
        ('{"rulez": []}', "p.json: rulez: unknown field (did you mean 'rules'?)"),
        (policy({"tool": "x"}), "p.json: rule 1, effect: Field required"),
        ('{"rules": [], "rules": []}', "duplicate key 'rules'"),
        ('{"rules": {}}', "p.json: rules: Input should be a valid"),
    ],
)
def test_invalid_policies_name_file_rule_and_problem(document: str, message: str) -> None:
    with pytest.raises(PolicyError) as caught:
        parse_policy(document, "p.json")
    assert message in str(caught.value)


# -- argument matchers, expiry, layers, limits ----------------------------------------------------------------

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


def context(home: str = "/home/u", usage: tuple[int, int] = (0, 0), resolve: object = None) -> EvaluationContext:
    return EvaluationContext(
        now=NOW,
        home=home,
        resolve=resolve or posixpath.normpath,  # type: ignore[arg-type]
        usage=lambda _key: usage,
    )


def decide(rules: list[dict[str, Any]], arguments: dict[str, Any], ctx: EvaluationContext | None = None) -> str:
    compiled = parse_policy(policy(*rules), "p")
    return compiled.evaluate("fs", "write", arguments, ctx or context()).effect.value


@pytest.mark.parametrize(
    ("matcher", "value", "expected"),
    [
        ({"equals": "/tmp/a"}, "/tmp/a", "allow"),
        ({"equals": 1}, True, "ask"),  # JSON types matter
        ({"equals": True}, 1, "ask"),
        ({"equals": {"a": [1, 2]}}, {"a": [1, 2]}, "allow"),
        ({"equals": None}, None, "allow"),
        ({"glob": "*.md"}, "notes.md", "allow"),
        ({"glob": "*.md"}, "notes.md\u200b", "ask"),  # an invisible character never matches
        ({"glob": "*.md"}, 5, "ask"),
        ({"regex": "[a-z]+"}, "abc", "allow"),
        ({"regex": "[a-z]+"}, "abc1", "ask"),  # full match only
        ({"max_length": 3}, "abcd", "ask"),
        ({"max_length": 3}, "abc", "allow"),
        ({"max_length": 2}, [1, 2, 3], "ask"),
        ({"under": "/home/u/project"}, "/home/u/project/a.txt", "allow"),
        ({"under": "/home/u/project"}, "/home/u/project", "allow"),
        ({"under": "/home/u/project"}, "/home/u/project/../.ssh/id_rsa", "ask"),
        ({"under": "/home/u/project"}, "/home/u/projectile/x", "ask"),
        ({"under": "~/project"}, "~/project/x", "allow"),
        ({"under": "/home/u/project"}, "relative/x", "ask"),
        ({"glob": "*.md", "max_length": 8}, "notes.md", "allow"),
        ({"glob": "*.md", "max_length": 7}, "notes.md", "ask"),
    ],
)
def test_argument_matchers(matcher: dict[str, object], value: object, expected: str) -> None:
    assert decide([{"effect": "allow", "args": {"/path": matcher}}], {"path": value}) == expected


def test_a_missing_argument_never_matches() -> None:
    assert decide([{"effect": "allow", "args": {"/path": {"glob": "*"}}}], {}) == "ask"
    assert decide([{"effect": "deny", "args": {"/path": {"glob": "*"}}}], {}) == "ask"


def test_pointers_reach_into_objects_and_arrays() -> None:
    rules = [{"effect": "allow", "args": {"/files/1/name": {"equals": "b"}, "/a~1b": {"equals": 1}}}]
    assert decide(rules, {"files": [{"name": "a"}, {"name": "b"}], "a/b": 1}) == "allow"
    assert decide(rules, {"files": [{"name": "a"}], "a/b": 1}) == "ask"
    assert parse_pointer("/a~1b/c~0d") == ("a/b", "c~d")


def test_uncertainty_goes_to_the_safe_side() -> None:
    long_value = "a" * 20_000
    deny = [{"effect": "deny", "args": {"/cmd": {"regex": "a+"}}}]
    allow = [{"effect": "allow", "args": {"/cmd": {"regex": "a+"}}}]
    assert decide(deny, {"cmd": long_value}) == "deny"  # padding cannot slip past a deny
    assert decide(allow, {"cmd": long_value}) == "ask"


def test_under_follows_symlinks_that_exist(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    outside = tmp_path / "secret.txt"
    outside.write_text("s")
    (project / "link").symlink_to(outside)
    rules = [{"effect": "allow", "args": {"/path": {"under": str(project)}}}]
    real = context(resolve=os.path.realpath)
    assert decide(rules, {"path": str(project / "notes.txt")}, real) == "allow"
    assert decide(rules, {"path": str(project / "link")}, real) == "ask"  # the link escapes the project


@given(
    segments=st.lists(st.sampled_from(["..", ".", "a", "b", "project", ""]), min_size=1, max_size=8),
)
def test_a_path_that_escapes_never_matches_under(segments: list[str]) -> None:
    path = "/home/u/project/" + "/".join(segments)
    inside = posixpath.normpath(path).startswith("/home/u/project")
    verdict = decide([{"effect": "allow", "args": {"/p": {"under": "/home/u/project"}}}], {"p": path})
    assert verdict == ("allow" if inside else "ask")


def test_expired_rules_no_longer_apply() -> None:
    past = (NOW - timedelta(minutes=1)).isoformat()
    future = (NOW + timedelta(minutes=1)).isoformat()
    assert decide([{"effect": "allow", "expires": past}], {}) == "ask"
    assert decide([{"effect": "allow", "expires": future}], {}) == "allow"
    with pytest.raises(PolicyError, match="give a time zone"):
        parse_policy(policy({"effect": "allow", "expires": "2026-12-01T00:00:00"}), "p")


def test_managed_rules_cannot_be_overridden() -> None:
    managed = CompiledPolicy(parse_policy(policy({"effect": "deny", "tool": "write"}), "m").policy, Layer.MANAGED)
    user = parse_policy(policy({"effect": "allow", "tool": "*"}), "u")
    outcome = evaluate_layers([managed, user], "fs", "write", {}, context())
    assert outcome.effect is Effect.DENY
    assert outcome.rule_label == "managed rules[0]"
    allowed = CompiledPolicy(parse_policy(policy({"effect": "allow", "tool": "write"}), "m").policy, Layer.MANAGED)
    user_deny = parse_policy(policy({"effect": "deny"}), "u")
    assert evaluate_layers([allowed, user_deny], "fs", "write", {}, context()).effect is Effect.ALLOW
    assert evaluate_layers([allowed, user_deny], "fs", "read", {}, context()).effect is Effect.DENY


def test_past_its_limit_an_allow_rule_says_what_the_limit_says() -> None:
    rules = [{"effect": "allow", "id": "few", "limit": {"per_minute": 3, "then": "deny"}}]
    assert decide(rules, {}, context(usage=(2, 2))) == "allow"
    compiled = parse_policy(policy(*rules), "p")
    outcome = compiled.evaluate("fs", "write", {}, context(usage=(3, 3)))
    assert outcome.effect is Effect.DENY
    assert "allows 3 calls a minute" in outcome.explain()
    hourly = [{"effect": "allow", "limit": {"per_hour": 10}}]
    assert decide(hourly, {}, context(usage=(0, 10))) == "ask"


def test_untrusted_layers_keep_denies_and_drop_allows() -> None:
    document = policy({"effect": "allow", "tool": "write"}, {"effect": "deny", "tool": "rm"})
    narrowed = parse_policy(document, "p", allows=False)
    assert narrowed.evaluate("fs", "write", {}, context()).effect is Effect.ASK
    assert narrowed.evaluate("fs", "rm", {}, context()).effect is Effect.DENY


@pytest.mark.parametrize(
    ("rule", "message"),
    [
        ({"effect": "allow", "args": {"path": {"glob": "*"}}}, "is not a JSON Pointer"),
        ({"effect": "allow", "args": {"/p": {}}}, "a matcher needs at least one of"),
        ({"effect": "allow", "args": {"/p": {"regex": "("}}}, "not a valid regular expression"),
        ({"effect": "allow", "args": {"/p": {"under": "relative"}}}, "needs an absolute directory"),
        ({"effect": "allow", "args": {"/p": {"glob": "*", "equal": 1}}}, "unknown field"),
        ({"effect": "allow", "limit": {"then": "deny"}}, "a limit needs per_minute or per_hour"),
    ],
)
def test_invalid_rules_say_what_is_wrong(rule: dict[str, object], message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(policy(rule), "p.json")


def test_the_json_schema_describes_the_policy_file() -> None:
    schema = policy_json_schema()
    assert schema["title"] == "MCP Approver policy"
    rule = schema["$defs"]["Rule"]
    assert {"effect", "server", "tool", "args", "expires", "limit", "id", "note"} <= set(rule["properties"])
    exported = json.loads(resource_text("policy.schema.json"))
    assert exported == schema, "approver/resources/policy.schema.json is stale: run `approver rules schema`"


def test_ten_thousand_rules_index_by_server_and_tool() -> None:
    rules = [{"effect": "allow", "server": f"s{n}", "tool": f"t{n}"} for n in range(10_000)]
    rules.append({"effect": "deny", "server": "s5", "tool": "t*"})
    compiled = parse_policy(policy(*rules), "p")
    assert len(compiled.candidates("s5", "t5")) == 2
    assert compiled.evaluate("s5", "t5", {}, default_context()).effect is Effect.DENY
    assert compiled.evaluate("s6", "t6", {}, default_context()).effect is Effect.ALLOW


# -- every reading a server may give an argument: deny on any, allow only on all -------------------------------

REAL = EvaluationContext(now=NOW, home="/home/u", resolve=os.path.realpath, usage=lambda _key: (0, 0))


@pytest.fixture
def linked(tmp_path: Path) -> Path:
    """project/, outside/inner/, outside/secret.txt, project/link -> outside/inner, project/danger/ (empty)."""
    (tmp_path / "outside" / "inner").mkdir(parents=True)
    (tmp_path / "outside" / "secret.txt").write_text("s")
    (tmp_path / "project" / "danger").mkdir(parents=True)
    (tmp_path / "project" / "link").symlink_to(tmp_path / "outside" / "inner")
    return tmp_path


def test_under_resolves_symlinks_before_dotdot_as_the_os_does(linked: Path) -> None:
    escape = f"{linked}/project/link/../secret.txt"  # the OS opens outside/secret.txt
    allow = [{"effect": "allow", "args": {"/path": {"under": str(linked / "project")}}}]
    deny = [{"effect": "deny", "args": {"/path": {"under": str(linked / "outside")}}}]
    assert decide(allow, {"path": escape}, REAL) == "ask"
    assert decide(deny, {"path": escape}, REAL) == "deny"
    assert decide(allow, {"path": f"{linked}/project/link/../../project/x"}, REAL) == "allow"  # back inside
    assert decide(allow, {"path": f"{linked}/project/danger/../x"}, REAL) == "allow"  # no symlink: same either way


def test_under_also_reads_dotdot_as_text_first_as_node_servers_do(linked: Path) -> None:
    # Node's path.resolve drops link/.. as text: project/danger/x; the OS would open outside/danger/x
    spelled = f"{linked}/project/link/../danger/x"
    danger = [{"effect": "deny", "args": {"/p": {"under": str(linked / "project/danger")}}}]
    assert decide(danger, {"p": spelled}, REAL) == "deny"
    assert decide([{"effect": "deny", "args": {"/p": {"under": str(linked / "outside")}}}], {"p": spelled}, REAL) == (
        "deny"
    )
    allow_project = [{"effect": "allow", "args": {"/p": {"under": str(linked / "project")}}}]
    assert decide(allow_project, {"p": spelled}, REAL) == "ask"  # one reading is outside the project


def test_file_uris_are_read_as_their_path_by_deny_rules_only() -> None:
    deny = [{"effect": "deny", "args": {"/p": {"under": "/etc"}}}]
    assert decide(deny, {"p": "file:///etc/passwd"}) == "deny"
    assert decide(deny, {"p": "file:///%65tc/passwd"}) == "deny"
    assert decide(deny, {"p": "file://localhost/tmp/../etc/passwd"}) == "deny"
    allow = [{"effect": "allow", "args": {"/p": {"under": "/home/u/project"}}}]
    assert decide(allow, {"p": "file:///home/u/project/a"}) == "ask"


def NFC(text: str) -> str:
    return unicodedata.normalize("NFC", text)


def NFD(text: str) -> str:
    return unicodedata.normalize("NFD", text)


@pytest.mark.parametrize(
    ("matcher", "value"),
    [
        ({"under": NFC("/data/café")}, NFD("/data/café/secret.txt")),
        ({"under": NFD("/data/café")}, NFC("/data/café/secret.txt")),
        ({"equals": NFC("Zoë")}, NFD("Zoë")),
        ({"glob": NFC("/data/café/*")}, NFD("/data/café/x")),
        ({"regex": NFC(".*café.*")}, NFD("un café")),
        ({"under": "/data/files"}, "/data/\ufb01les/x"),  # the fi ligature: a compatibility form
        ({"under": "/home/u/.ssh"}, "/home/u/project/\u2025/.ssh/id_rsa"),  # ‥ folds to ..
        ({"glob": "/etc/*"}, "/tmp/..\uff0fetc/passwd"),  # a full-width solidus folds to /
    ],
)
def test_deny_treats_unicode_equivalent_spellings_as_equal(matcher: dict[str, object], value: str) -> None:
    assert decide([{"effect": "deny", "args": {"/v": matcher}}], {"v": value}) == "deny"
    assert decide([{"effect": "ask", "args": {"/v": matcher}}], {"v": value}) == "ask"


def test_allow_stays_exact_and_every_folded_reading_must_stay_inside() -> None:
    allow = [{"effect": "allow", "args": {"/p": {"under": NFC("/data/café")}}}]
    assert decide(allow, {"p": NFC("/data/café/x")}) == "allow"
    assert decide(allow, {"p": NFD("/data/café/x")}) == "ask"  # not written the way the rule says
    assert decide([{"effect": "allow", "args": {"/n": {"equals": NFC("Zoë")}}}], {"n": NFD("Zoë")}) == "ask"
    project = [{"effect": "allow", "args": {"/p": {"under": "/home/u/project"}}}]
    assert decide(project, {"p": "/home/u/project/\u2025/\u2025/.ssh/id_rsa"}) == "ask"  # NFKC: ../..
    assert decide(project, {"p": "/home/u/project/caf\u00e9/x"}) == "allow"
    assert decide([{"effect": "allow", "args": {"/p": {"max_length": 4}}}], {"p": NFC("café")}) == "allow"


def test_deny_reads_json_text_the_way_servers_parse_it_back() -> None:
    deny_first = [{"effect": "deny", "args": {"/paths/0": {"under": "/secret"}}}]
    assert decide(deny_first, {"paths": ["/secret/a"]}) == "deny"
    assert decide(deny_first, {"paths": json.dumps(["/secret/a"])}) == "deny"
    assert decide(deny_first, {"paths": " \n" + json.dumps(["/secret/a"])}) == "deny"
    nested = [{"effect": "deny", "args": {"/opts/recursive": {"equals": True}}}]
    assert decide(nested, {"opts": '{"recursive": false, "recursive": true}'}) == "deny"  # the last key wins
    assert decide([{"effect": "deny", "args": {"/n": {"equals": 0}}}], {"n": "0"}) == "deny"
    assert decide([{"effect": "deny", "args": {"/p": {"under": "/secret"}}}], {"p": '"/secret/a"'}) == "deny"
    assert decide(deny_first, {"paths": "[not json"}) == "ask"


def test_a_star_step_means_any_element_for_deny_and_every_element_for_allow() -> None:
    deny = [{"effect": "deny", "args": {"/paths/*": {"under": "/secret"}}}]
    assert decide(deny, {"paths": ["/ok", "/ok2", "/secret/a"]}) == "deny"
    assert decide(deny, {"paths": json.dumps(["/ok", "/secret/a"])}) == "deny"
    assert decide(deny, {"paths": ["/ok"]}) == "ask"
    assert decide(deny, {"paths": []}) == "ask"
    allow = [{"effect": "allow", "args": {"/paths/*": {"under": "/home/u/project"}}}]
    assert decide(allow, {"paths": ["/home/u/project/a", "/home/u/project/b"]}) == "allow"
    assert decide(allow, {"paths": ["/home/u/project/a", "/etc/passwd"]}) == "ask"
    assert decide(allow, {"paths": []}) == "ask"  # nothing to vouch for
    assert decide(allow, {"paths": json.dumps(["/home/u/project/a"])}) == "ask"  # text the rule did not see
    assert decide(allow, {"paths": "/home/u/project/a"}) == "ask"
    deep = [{"effect": "allow", "args": {"/files/*/path": {"glob": "/home/u/project/*"}}}]
    assert decide(deep, {"files": [{"path": "/home/u/project/a"}, {"path": "/home/u/project/b"}]}) == "allow"
    assert decide(deep, {"files": [{"path": "/home/u/project/a"}, {"name": "b"}]}) == "ask"
    assert decide([{"effect": "allow", "args": {"/o/*": {"equals": 1}}}], {"o": {"*": 1, "x": 2}}) == "allow"


def test_allow_needs_json_text_to_match_as_the_value_it_encodes_too() -> None:
    any_text = [{"effect": "allow", "args": {"/q": {"glob": "*"}}}]
    assert decide(any_text, {"q": "select 1"}) == "allow"
    assert decide(any_text, {"q": '["/etc/passwd"]'}) == "ask"  # a server may read it as a list
    assert decide(any_text, {"q": "5"}) == "allow"  # a number in text is the same number to a coercing server
    assert decide([{"effect": "allow", "args": {"/q": {"equals": '["a"]'}}}], {"q": '["a"]'}) == "allow"
    assert decide([{"effect": "allow", "args": {"/q": {"max_length": 10}}}], {"q": '{"a": 1}'}) == "allow"


def test_regex_dot_takes_line_breaks_for_deny_but_not_for_allow() -> None:
    attack = "echo hi\nrm -rf /tmp/x"
    assert decide([{"effect": "deny", "args": {"/c": {"regex": ".*rm -rf.*"}}}], {"c": attack}) == "deny"
    assert decide([{"effect": "deny", "args": {"/c": {"regex": ".*rm -rf.*"}}}], {"c": "echo\r\u2028rm -rf"}) == "deny"
    allow = [{"effect": "allow", "args": {"/c": {"regex": "echo .*"}}}]
    assert decide(allow, {"c": "echo hi"}) == "allow"
    assert decide(allow, {"c": attack}) == "ask"


@pytest.mark.parametrize(
    ("glob", "value", "allow", "deny"),
    [
        ("/home/u/project/*", "/home/u/project/a/b.txt", "allow", "deny"),  # * crosses /
        ("/home/u/project/*", "/home/u/project/../.ssh/id_rsa", "ask", "deny"),
        ("/home/u/project/*", "/home/u/project/a/../b", "allow", "deny"),  # .. that stays inside
        ("/etc/*", "/tmp/../etc/passwd", "ask", "deny"),
        ("/etc/*", "//etc/passwd", "ask", "deny"),
        ("/etc/*", "/etc/./passwd", "allow", "deny"),
        ("https://example.com/*", "https://example.com/a/b?c=1", "allow", "deny"),
        ("https://evil.example/admin/*", "https://evil.example/x/../admin/y", "ask", "deny"),
        ("https://example.com/*", "https://example.com/../../x", "allow", "deny"),  # .. stops at the origin
        ("ls *", "ls -l\nrm -rf /", "ask", "deny"),  # an allow's * never takes a line feed
        ("ls [!x]*", "ls \n", "ask", "deny"),
    ],
)
def test_glob_meaning_for_allow_and_deny(glob: str, value: str, allow: str, deny: str) -> None:
    assert decide([{"effect": "allow", "args": {"/v": {"glob": glob}}}], {"v": value}) == allow
    assert decide([{"effect": "deny", "args": {"/v": {"glob": glob}}}], {"v": value}) == deny


@given(glob=st.text(alphabet="ab*?[]!-/.\n", max_size=8), value=st.text(alphabet="ab[]!-/.\n", max_size=8))
def test_deny_globs_mean_what_fnmatch_means(glob: str, value: str) -> None:
    if not glob or unbalanced_bracket(glob) is not None:
        return
    rule = [{"effect": "deny", "tool": glob}]
    expected = "deny" if fnmatch.fnmatchcase(value, glob) else "ask"
    assert parse_policy(policy(*rule), "p").evaluate("fs", value).effect.value == expected


def test_names_with_line_breaks_never_match_an_allow_wildcard() -> None:
    compiled = parse_policy(policy({"effect": "allow", "tool": "read_*"}, {"effect": "deny", "tool": "x*"}), "p")
    assert compiled.evaluate("fs", "read_file").effect is Effect.ALLOW
    assert compiled.evaluate("fs", "read_\nwrite").effect is Effect.ASK
    assert compiled.evaluate("fs", "x\ny").effect is Effect.DENY


@pytest.mark.parametrize(
    "rule",
    [
        {"effect": "deny", "tool": "ech[o"},
        {"effect": "deny", "server": "fs[", "tool": "x"},
        {"effect": "deny", "args": {"/c": {"glob": "ech[o"}}},
        {"effect": "deny", "tool": "[!]"},
    ],
)
def test_a_bracket_that_never_closes_is_refused(rule: dict[str, object]) -> None:
    with pytest.raises(PolicyError, match=r"opens a set that is never closed: end it with \], or write \[\[\]"):
        parse_policy(policy(rule), "p.json")


def test_balanced_brackets_are_accepted() -> None:
    for glob in ("[[]", "[]]", "[!]]", "read[1]", "[a-z]*", "x]"):
        parse_policy(policy({"effect": "deny", "tool": glob}), "p")


@pytest.mark.parametrize(
    ("text", "resolved"),
    [
        ("/a/./b//c/", "/a/b/c/"),
        ("/a/../../b", "/b"),
        ("//etc/passwd", "/etc/passwd"),
        ("a/../../b", "../b"),
        ("https://h.example/a/../b?x=/../y#/..", "https://h.example/b?x=/../y#/.."),
        ("https://h.example", "https://h.example"),
        ("https://h.example/..", "https://h.example/"),
    ],
)
def test_lexical_paths(text: str, resolved: str) -> None:
    assert lexical_path(text) == resolved


def test_a_deny_under_a_folder_ignores_case_as_macos_and_windows_file_systems_do() -> None:
    deny = [{"effect": "deny", "args": {"/p": {"under": "/Users/u/Secrets"}}}]
    assert decide(deny, {"p": "/users/U/secrets/key"}) == "deny"
    allow = [{"effect": "allow", "args": {"/p": {"under": "/Users/u/project"}}}]
    assert decide(allow, {"p": "/Users/u/Project/a"}) == "ask"


def test_values_too_large_to_check_count_as_doubt() -> None:
    many = [f"/home/u/project/{n}" for n in range(ELEMENT_LIMIT + 1)]
    assert decide([{"effect": "allow", "args": {"/p/*": {"under": "/home/u/project"}}}], {"p": many}) == "ask"
    assert decide([{"effect": "deny", "args": {"/p/*": {"under": "/secret"}}}], {"p": many}) == "deny"
    deep = "/home/u/project/" + "a/" * PATH_LIMIT
    assert decide([{"effect": "allow", "args": {"/p": {"under": "/home/u/project"}}}], {"p": deep}) == "ask"
    assert decide([{"effect": "deny", "args": {"/p": {"under": "/secret"}}}], {"p": deep}) == "deny"


MATCHERS: list[dict[str, Any]] = [
    {"under": "/a"},
    {"under": NFC("/é")},
    {"glob": "/a/*"},
    {"glob": NFC("*é*")},
    {"glob": "[!/]*"},
    {"regex": "/a/.*"},
    {"regex": "[^b]*"},
    {"equals": "/a/b"},
    {"equals": ["/a"]},
    {"max_length": 3},
    {"glob": "*", "max_length": 6},
]
VALUES = st.recursive(
    st.lists(
        st.sampled_from(["/", "a", "b", ".", "..", "é", "e\u0301", "\u2025", "\n", "[", "]", '"', ","]), max_size=8
    ).map("".join),
    lambda inner: st.lists(inner, max_size=3),
    max_leaves=4,
)


@settings(max_examples=400)
@given(matcher=st.sampled_from(MATCHERS), pointer=st.sampled_from(["/v", "/v/0", "/v/*"]), value=VALUES)
def test_an_allow_never_lets_through_what_the_same_deny_would_not_catch(
    matcher: dict[str, Any], pointer: str, value: Any
) -> None:
    arguments = {"v": value}
    allowed = decide([{"effect": "allow", "args": {pointer: matcher}}], arguments) == "allow"
    denied = decide([{"effect": "deny", "args": {pointer: matcher}}], arguments) == "deny"
    assert denied or not allowed
    json_text = {"v": json.dumps(value)}  # the same value sent as JSON text: a deny reads through it
    if denied and isinstance(value, list) and pointer != "/v":
        assert decide([{"effect": "deny", "args": {pointer: matcher}}], json_text) == "deny"


@pytest.mark.parametrize(
    ("matcher", "value"),
    [
        ({"equals": True}, "yes"),  # pydantic reads "yes", "on", "1", "t"… as true
        ({"equals": True}, 1),
        ({"equals": False}, "Off"),
        ({"equals": 1}, True),
        ({"equals": 1}, "1.0"),  # JSON text, and 1.0 is 1
        ({"glob": "https://evil.example/admin/*"}, "HTTPS://Evil.Example/admin/x"),  # scheme and host ignore case
        ({"glob": "https://evil.example/admin/*"}, "https://evil.example/x/%2e%2E/admin/y"),  # a URL's %2e is a dot
    ],
)
def test_deny_reads_values_as_lax_servers_coerce_them(matcher: dict[str, object], value: object) -> None:
    assert decide([{"effect": "deny", "args": {"/v": matcher}}], {"v": value}) == "deny"


def test_allow_takes_scalars_and_urls_as_written() -> None:
    assert decide([{"effect": "allow", "args": {"/v": {"equals": True}}}], {"v": "yes"}) == "ask"
    assert decide([{"effect": "allow", "args": {"/v": {"equals": True}}}], {"v": True}) == "allow"
    origin = [{"effect": "allow", "args": {"/v": {"glob": "https://example.com/*"}}}]
    assert decide(origin, {"v": "https://example.com/docs/a"}) == "allow"
    assert decide(origin, {"v": "https://example.com/docs/%2e%2e/%2e%2e/x"}) == "allow"  # stays on the site
    assert decide(origin, {"v": "HTTPS://example.com/a"}) == "ask"


def test_allow_checks_the_composed_forms_so_accents_still_match_word_characters() -> None:
    names = [{"effect": "allow", "args": {"/n": {"regex": r"[\w ]+"}}}]
    assert decide(names, {"n": NFC("José Müller")}) == "allow"
    shell = [{"effect": "allow", "args": {"/c": {"regex": "ls [^;]*"}}}]
    assert decide(shell, {"c": "ls x\u037erm -rf /"}) == "ask"  # GREEK QUESTION MARK composes to ;

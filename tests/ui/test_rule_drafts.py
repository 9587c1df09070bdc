"""'Approve similar' and 'Deny always' drafts: valid rules that match this call, narrowed by argument."""

from __future__ import annotations

import json

from approver.core.models import ToolInfo
from approver.core.policy import Effect
from approver.core.tool_pins import definition_digest
from approver.ui.rule_documents import compile_rules, rule_matches
from approver.ui.rule_drafts import literal_glob, rule_draft
from tests.ui.conftest import approval_request


def test_an_allow_draft_is_narrowed_to_arguments_like_these() -> None:
    request = approval_request(
        {
            "path": "/home/u/project/notes.md",
            "url": "https://example.com/a/b?c=1",
            "mode": "overwrite",
            "count": 3,
            "content": "x" * 500,
            "options": {"recursive": True},
        }
    )
    draft = rule_draft(request, Effect.ALLOW)
    assert draft["effect"] == "allow"
    assert (draft["server"], draft["tool"]) == ("fs", "write_file")
    assert draft["args"] == {
        "/path": {"under": "/home/u/project"},
        "/url": {"glob": "https://example.com/*"},
        "/mode": {"equals": "overwrite"},
        "/count": {"equals": 3},
    }
    assert draft["note"] == "Allowed in MCP Approver from a call of write_file on fs by Claude Desktop"
    compile_rules([draft])  # valid as drafted
    arguments = request.call.arguments
    assert rule_matches(draft, "fs", "write_file", arguments)
    assert rule_matches(draft, "fs", "write_file", {**arguments, "path": "/home/u/project/other.md"})
    assert not rule_matches(draft, "fs", "write_file", {**arguments, "path": "/home/u/.bashrc"})
    assert not rule_matches(draft, "fs", "write_file", {**arguments, "url": "https://example.com.evil.net/"})
    assert not rule_matches(draft, "fs", "write_file", {**arguments, "mode": "append"})


def test_a_deny_draft_covers_the_tool_whatever_the_arguments() -> None:
    draft = rule_draft(approval_request({"path": "/etc/passwd"}), Effect.DENY)
    assert "args" not in draft
    assert rule_matches(draft, "fs", "write_file", {"path": "/anything"})


def test_names_with_glob_characters_match_only_themselves() -> None:
    name = "read[1]*?"
    assert literal_glob(name) == "read[[]1][*][?]"
    draft = rule_draft(approval_request({}, tool=name, server="s*"), Effect.DENY)
    assert rule_matches(draft, "s*", name, {})
    assert not rule_matches(draft, "sx", name, {})
    assert not rule_matches(draft, "s*", "read1xx", {})


def test_an_allow_draft_for_a_list_of_paths_limits_every_element() -> None:
    paths = ["/home/u/project/a.md", "/home/u/project/docs/b.md"]
    request = approval_request({"paths": paths}, tool="read_multiple_files")
    draft = rule_draft(request, Effect.ALLOW)
    assert draft["args"] == {"/paths/*": {"under": "/home/u/project"}}
    assert rule_matches(draft, "fs", "read_multiple_files", {"paths": paths})
    assert rule_matches(draft, "fs", "read_multiple_files", {"paths": ["/home/u/project/c.md"]})
    assert not rule_matches(draft, "fs", "read_multiple_files", {"paths": [*paths, "/home/u/.ssh/id_rsa"]})
    assert not rule_matches(draft, "fs", "read_multiple_files", {"paths": ["/home/u/project/../.ssh/id_rsa"]})
    assert not rule_matches(draft, "fs", "read_multiple_files", {"paths": json.dumps(["/home/u/.ssh/id_rsa"])})
    assert not rule_matches(draft, "fs", "read_multiple_files", {"paths": []})


def test_other_lists_are_pinned_when_short_and_left_open_when_long() -> None:
    spread = rule_draft(approval_request({"paths": ["/etc/hosts", "/home/u/a"]}), Effect.ALLOW)
    assert spread["args"] == {"/paths": {"equals": ["/etc/hosts", "/home/u/a"]}}  # they share only /
    tags = rule_draft(approval_request({"tags": ["a", "b"]}), Effect.ALLOW)
    assert tags["args"] == {"/tags": {"equals": ["a", "b"]}}
    assert rule_matches(tags, "fs", "write_file", {"tags": ["a", "b"]})
    assert not rule_matches(tags, "fs", "write_file", {"tags": ["a", "b", "c"]})
    assert "args" not in rule_draft(approval_request({"lines": ["x" * 300]}), Effect.ALLOW)


def test_an_allow_draft_is_made_for_the_definition_on_screen() -> None:
    request = approval_request({"path": "/home/u/project/a.md"})
    definition = {"name": "write_file", "description": "Write a file"}
    info = ToolInfo(description="Write a file", digest=definition_digest(definition), definition=definition)
    request = request.model_copy(update={"call": request.call.model_copy(update={"tool_info": info})})
    allow = rule_draft(request, Effect.ALLOW)
    assert allow["definition"] == definition_digest(definition)
    assert "definition" not in rule_draft(request, Effect.DENY)  # a deny stays whatever the tool becomes
    assert compile_rules([allow])  # a valid rule

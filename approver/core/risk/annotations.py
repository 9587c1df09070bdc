"""Evidence from the tool itself: its annotations, its name, its description, and who it sends to."""

from __future__ import annotations

from approver.core.models import ToolCall
from approver.core.risk.arguments import _Arguments, _wordset
from approver.core.risk.findings import _Findings
from approver.core.risk.model import RiskLevel, _lower
from approver.core.risk.quoting import _show
from approver.core.risk.tool import (
    _CATEGORIES,
    _CONTRADICTS_READ_ONLY,
    _DESCRIPTION_CATEGORIES,
    _MODIFYING,
    _Category,
    _category_of,
    _Tool,
    _words,
)

_RECIPIENT_KEYS = _wordset("to cc bcc recipient recipients email emails channel chat chatid user users phone number")


def _recipient_impact(arguments: _Arguments, tool: _Tool, findings: _Findings) -> None:
    """For a tool that sends, who receives it is the effect that matters."""
    if "send" not in tool.categories:
        return
    recipients = [site.text for site in arguments.sites if site.key in _RECIPIENT_KEYS and site.text.strip()]
    if recipients:
        shown = ", ".join(_show(recipient, 60) for recipient in recipients[:3])
        more = f" and {len(recipients) - 3} more" if len(recipients) > 3 else ""
        findings.impact(_CATEGORIES["send"][0], 4, f"Sends a message to {shown}{more}.")


def _tool_sentence(call: ToolCall, tool: _Tool) -> str:
    name, server = _show(call.tool, 60), _show(call.server, 40)
    if tool.read_only is True and not (set(tool.categories) & _MODIFYING):
        return f"Runs the tool '{name}' on '{server}', which the server says only reads."
    if tool.categories:
        category = next(iter(tool.categories))
        return f"Runs the tool '{name}' on '{server}', which {_CATEGORIES[category][1]}."
    return f"Runs the tool '{name}' on '{server}'."


# --- annotations and the tool's name -------------------------------------------------------------------------


def _annotation_reasons(call: ToolCall, tool: _Tool, findings: _Findings) -> None:
    if not tool.described:
        findings.add(
            "tool.undescribed",
            RiskLevel.MEDIUM,
            "The server never listed this tool, so nothing is known about what it does; MCP's rules say to assume "
            "it may change or delete things and reach the internet.",
        )
    elif not tool.annotated:
        findings.add(
            "annotations.missing",
            RiskLevel.MEDIUM,
            "The server does not say this tool is read-only, so MCP's rules say to assume it may change or delete "
            "things and reach the internet.",
        )
    else:
        if tool.read_only is True:
            findings.add(
                "annotations.read_only",
                RiskLevel.LOW,
                "The server says this tool only reads and changes nothing (a claim MCP Approver cannot check).",
            )
        elif tool.destructive is True:
            findings.add(
                "annotations.destructive", RiskLevel.HIGH, "The server says this tool may delete or overwrite things."
            )
        elif tool.destructive is None:
            findings.add(
                "annotations.destructive_default",
                RiskLevel.MEDIUM,
                "The server does not say this tool is read-only or harmless, so MCP's rules say to assume it may "
                "delete or overwrite things.",
            )
        else:
            findings.add(
                "annotations.additive",
                RiskLevel.LOW,
                "The server says this tool changes things but never deletes or overwrites them (its claim).",
            )
        if tool.open_world is True:
            findings.add(
                "annotations.open_world",
                RiskLevel.LOW,
                "The server says this tool reaches outside your computer (the internet or other services).",
            )
        elif tool.open_world is None:
            findings.add(
                "annotations.open_world",
                RiskLevel.LOW,
                "The server does not say whether this tool reaches the internet, so assume it can.",
            )
    modifying = [category for category in tool.categories if category in _CONTRADICTS_READ_ONLY]
    if tool.read_only is True and modifying:
        category = modifying[0]
        findings.add(
            "annotations.contradiction",
            RiskLevel.HIGH,
            f"The server says '{_show(call.tool, 60)}' only reads, but its name says it "
            f"{_CATEGORIES[category][1]}; the claim may be false.",
        )
    if any(not character.isascii() for character in call.tool):
        findings.add(
            "tool.name_unusual",
            RiskLevel.MEDIUM,
            f"The tool's name '{_show(call.tool, 60)}' contains non-English letters or invisible marks, which can "
            "imitate another tool's name.",
        )


def _tool_word_reasons(call: ToolCall, tool: _Tool, findings: _Findings) -> None:
    contradicted = tool.read_only is True and any(c in _CONTRADICTS_READ_ONLY for c in tool.categories)
    lowered = 1 if tool.read_only is True and not contradicted else 0
    name = _show(call.tool, 60)
    for category, word in tool.categories.items():
        level, phrase = _CATEGORIES[category]
        findings.add(
            f"tool.{category}", _lower(level, lowered), f"The tool's name ('{name}': {word}) says it {phrase}."
        )
    if tool.categories:
        return
    description = call.tool_info.description if call.tool_info is not None else None
    if not description:
        return
    seen: set[_Category] = set()
    for word in _words(description[:4000]):
        mentioned = _category_of(word)
        if mentioned is None or mentioned in seen or mentioned not in _DESCRIPTION_CATEGORIES:
            continue
        seen.add(mentioned)
        level, phrase = _CATEGORIES[mentioned]
        findings.add(
            f"tool.description.{mentioned}",
            _lower(level, 1 + lowered),
            f"The tool's description mentions '{word}', a sign that it {phrase}.",
        )

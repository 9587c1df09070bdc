"""Evidence from the text of the arguments: invisible characters and sheer size."""

from __future__ import annotations

import unicodedata

from approver.core.risk.arguments import _Arguments, _render_location, _utf8_length
from approver.core.risk.findings import _Findings
from approver.core.risk.model import MAX_STRING_BYTES, MAX_TOTAL_BYTES, RiskLevel
from approver.core.risk.quoting import _INVISIBLE, _show, _size

# --- text: invisible characters and size ---------------------------------------------------------------------


def _text_reasons(arguments: _Arguments, findings: _Findings) -> None:
    for site in arguments.sites:
        size = _utf8_length(site.text) if len(site.text) * 4 > MAX_STRING_BYTES else len(site.text)
        if size > MAX_STRING_BYTES:
            findings.add(
                "size.string",
                RiskLevel.MEDIUM,
                f"'{_show(site.where, 60)}' is {_size(size)} of text, too long to review here; it could hide "
                "something.",
            )
        if _INVISIBLE.search(site.text):
            _invisible_reason(site.text, f"The text in '{_show(site.where, 60)}'", findings)
    for name, location in arguments.keys:
        if _INVISIBLE.search(name):
            _invisible_reason(name, f"The argument name '{_show(_render_location((location, name)), 60)}'", findings)
    if arguments.total_bytes > MAX_TOTAL_BYTES:
        findings.add(
            "size.total",
            RiskLevel.MEDIUM,
            f"The arguments total {_size(arguments.total_bytes)}, too much to review here; they could hide something.",
        )


def _invisible_reason(text: str, subject: str, findings: _Findings) -> None:
    first = _INVISIBLE.search(text)
    if first is None:
        return
    count = len(_INVISIBLE.findall(text, first.start(), first.start() + 1_000_000))
    character = first.group()
    name = unicodedata.name(character, "UNNAMED")
    plural = "s" if count > 1 else ""
    if 0xE0000 <= ord(character) <= 0xE007F:
        detail = "hidden 'tag' characters can spell out instructions that you cannot see"
    else:
        detail = "what you see may not be what the AI or the tool reads"
    findings.add(
        "text.invisible",
        RiskLevel.HIGH,
        f"{subject} contains {count} invisible or direction-changing character{plural} "
        f"(such as U+{ord(character):04X} {name}): {detail}.",
    )

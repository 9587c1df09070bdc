"""One policy rule as a form: effect, server, tool, id and note as fields, everything else as JSON.

Used by the rules editor and by "Always allow…" in the approval dialog. The form does not judge validity (the
policy parser does, through approver.ui.rule_documents); it only turns what was typed into a document.
"""

from __future__ import annotations

from PySide6.QtCore import Signal
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import QComboBox, QFormLayout, QLineEdit, QPlainTextEdit, QWidget

from approver.core.policy import Effect
from approver.ui.rule_documents import Document, join_rule, split_rule

EFFECT_LABELS = {
    Effect.ALLOW: "Allow without asking",
    Effect.DENY: "Deny without asking",
    Effect.ASK: "Ask me",
}


class RuleForm(QWidget):
    changed = Signal()

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.effect = QComboBox()
        for effect, label in EFFECT_LABELS.items():
            self.effect.addItem(label, effect.value)
        self.effect.setAccessibleName("Effect")
        self.server = QLineEdit()
        self.server.setPlaceholderText("* (any server)")
        self.server.setAccessibleName("Server (glob)")
        self.server.setToolTip("The server's name as given to `approver proxy --name`; * and ? are wildcards.")
        self.tool = QLineEdit()
        self.tool.setPlaceholderText("* (any tool)")
        self.tool.setAccessibleName("Tool (glob)")
        self.tool.setToolTip("The tool's name; * and ? are wildcards.")
        self.rule_id = QLineEdit()
        self.rule_id.setPlaceholderText("optional: a name for the rule")
        self.rule_id.setAccessibleName("Rule id")
        self.note = QLineEdit()
        self.note.setPlaceholderText("optional: why this rule exists")
        self.note.setAccessibleName("Note")
        self.extra = QPlainTextEdit()
        self.extra.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.extra.setPlaceholderText('{"args": {"/path": {"under": "~/project"}}, "expires": "2030-01-01T00:00:00Z"}')
        self.extra.setTabChangesFocus(True)
        self.extra.setAccessibleName("Other fields (JSON)")
        self.extra.setToolTip("Anything else the policy allows in a rule — argument matchers, expiry, limits.")
        layout = QFormLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addRow("&Effect:", self.effect)
        layout.addRow("Ser&ver:", self.server)
        layout.addRow("&Tool:", self.tool)
        layout.addRow("I&d:", self.rule_id)
        layout.addRow("&Note:", self.note)
        layout.addRow("&Other fields (JSON):", self.extra)
        self.effect.currentIndexChanged.connect(self.changed)
        for line in (self.server, self.tool, self.rule_id, self.note):
            line.textEdited.connect(self.changed)
        self.extra.textChanged.connect(self.changed)

    def set_document(self, document: Document) -> None:
        form, extra = split_rule(document)
        widgets = (self.effect, self.server, self.tool, self.rule_id, self.note, self.extra)
        for widget in widgets:
            widget.blockSignals(True)
        try:
            index = self.effect.findData(form.get("effect"))
            if index < 0:  # not an effect this version knows: keep it visible so the parser can name it
                self.effect.addItem(form.get("effect", ""), form.get("effect", ""))
                index = self.effect.count() - 1
            self.effect.setCurrentIndex(index)
            self.server.setText(form.get("server", ""))
            self.tool.setText(form.get("tool", ""))
            self.rule_id.setText(form.get("id", ""))
            self.note.setText(form.get("note", ""))
            self.extra.setPlainText(extra)
        finally:
            for widget in widgets:
                widget.blockSignals(False)

    def document(self) -> Document:
        """The rule as typed; raises RuleEditError when the JSON field cannot be read."""
        form = {
            "effect": str(self.effect.currentData()),
            "server": self.server.text(),
            "tool": self.tool.text(),
            "id": self.rule_id.text(),
            "note": self.note.text(),
        }
        return join_rule(form, self.extra.toPlainText())

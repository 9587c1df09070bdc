"""The approval dialog: renders one ApprovalRequest (through its Presentation) and emits the person's answer.

Deny is the default: Enter, Escape and closing the window deny. Allowing takes a deliberate act — an Allow button
or Ctrl+Return — and the Allow buttons only arm a moment after the dialog appears, so a click or key press meant
for another window cannot allow a call. Every piece of text from the call is shown as plain text (never as rich
text: a description could otherwise carry markup), with invisible characters made visible by the presentation.
"""

from __future__ import annotations

import math
import re
import time
from collections.abc import Callable

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import (
    QCloseEvent,
    QColor,
    QFont,
    QFontDatabase,
    QGuiApplication,
    QKeySequence,
    QPalette,
    QShortcut,
    QShowEvent,
    QTextCharFormat,
    QTextCursor,
    QTextOption,
)
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QSplitter,
    QTabWidget,
    QTextEdit,
    QVBoxLayout,
    QWidget,
)

from approver.core.approval import ApprovalRequest, HumanAnswer, Scope, shown_digest
from approver.core.models import Decision
from approver.core.policy import Effect
from approver.core.risk import RiskLevel
from approver.ui.labels import plain_label
from approver.ui.presence import PresenceGate, Proof
from approver.ui.presentation import DEFINITION_CHANGED_HEADING, FlagKind, Presentation
from approver.ui.rule_documents import RuleEditError, problem_with
from approver.ui.rule_drafts import rule_draft
from approver.ui.rule_form import RuleForm

ARM_DELAY_MS = 700
COUNTDOWN_TICK_MS = 250
DEFAULT_MINUTES = 15
DETAILS_SHARE = 0.6  # of the height shared with the parameters, at most
HIGHLIGHT_LIMIT = 5000  # markers beyond this many are still shown, just not tinted (tinting is per span)
# Marker text in the details pane (values there come as plain strings; a lookalike written by hand only earns a
# tint, which errs on the side of caution).
_MARKER = re.compile(r"⟨U\+[0-9A-F]{4,6} [^⟩\n]*⟩")
RISK_COLOURS = {
    RiskLevel.LOW: "#2e7d32",
    RiskLevel.MEDIUM: "#a05a00",
    RiskLevel.HIGH: "#c62828",
    RiskLevel.CRITICAL: "#7b1fa2",
}
REMOVED_COLOUR, ADDED_COLOUR = "#c62828", "#2e7d32"  # red and green: lines a redefined tool lost and gained
MARKER_TINT = QColor(255, 152, 0, 110)  # translucent orange: readable on light and dark palettes


def warning_colour(palette: QPalette) -> QColor:
    """Red that reads on the palette in use: lighter on a dark one."""
    dark = palette.color(QPalette.ColorRole.Base).lightness() < 128
    return QColor("#ff8a80" if dark else "#c62828")


def _read_only_text(name: str, *, wrap_anywhere: bool) -> QPlainTextEdit:
    view = QPlainTextEdit()
    view.setReadOnly(True)
    view.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
    view.setWordWrapMode(
        QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere if wrap_anywhere else QTextOption.WrapMode.NoWrap
    )
    view.setLineWrapMode(
        QPlainTextEdit.LineWrapMode.WidgetWidth if wrap_anywhere else QPlainTextEdit.LineWrapMode.NoWrap
    )
    view.setTextInteractionFlags(
        Qt.TextInteractionFlag.TextSelectableByKeyboard | Qt.TextInteractionFlag.TextSelectableByMouse
    )
    view.setTabChangesFocus(True)
    view.setAccessibleName(name)
    return view


def _tint_markers(view: QPlainTextEdit, spans: tuple[tuple[int, int], ...]) -> None:
    selections = []
    tint = QTextCharFormat()
    tint.setBackground(MARKER_TINT)
    tint.setFontWeight(QFont.Weight.Bold)
    for start, end in spans[:HIGHLIGHT_LIMIT]:
        selection = QTextEdit.ExtraSelection()
        cursor = QTextCursor(view.document())
        cursor.setPosition(start)
        cursor.setPosition(end, QTextCursor.MoveMode.KeepAnchor)
        selection.cursor = cursor
        selection.format = tint
        selections.append(selection)
    view.setExtraSelections(selections)


class RuleDraftDialog(QDialog):
    """ "Always allow…": the drafted rule, for the person to narrow or widen, then confirm."""

    confirmed = Signal(dict)

    def __init__(self, request: ApprovalRequest, parent: QWidget) -> None:
        super().__init__(parent)
        self.setWindowTitle("MCP Approver — Always allow calls like this")
        self.setWindowModality(Qt.WindowModality.WindowModal)
        intro = plain_label(
            "From now on this rule decides calls like this one without asking. It is narrowed to this call's "
            "arguments where it could be; edit it to taste, then save it. This call is allowed with it.",
            selectable=True,
        )
        self.form = RuleForm()
        self.form.set_document(rule_draft(request, Effect.ALLOW))
        self.problem = plain_label(selectable=True)
        self.problem.setAccessibleName("Problem with the rule")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setAccessibleName("Cancel: back to the question")
        self.cancel_button.setDefault(True)
        self.save_button = QPushButton("Save rule and allow")
        self.save_button.setAccessibleName("Save the rule and allow this call")
        self.save_button.setAutoDefault(False)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.cancel_button)
        buttons.addWidget(self.save_button)
        layout = QVBoxLayout(self)
        layout.addWidget(intro)
        layout.addWidget(self.form, 1)
        layout.addWidget(self.problem)
        layout.addLayout(buttons)
        self.cancel_button.clicked.connect(self.reject)
        self.save_button.clicked.connect(self._save)
        self.form.changed.connect(self._check)
        self._check()
        self.resize(620, 420)

    def _current(self) -> tuple[dict[str, object] | None, str | None]:
        try:
            document = self.form.document()
        except RuleEditError as exc:
            return None, str(exc)
        if document.get("effect") == Effect.ASK.value:
            return None, "A rule made from this call must allow or deny."
        problem = problem_with([document])
        return (None, problem) if problem else (document, None)

    def _check(self) -> None:
        document, problem = self._current()
        self.problem.setText(f"⚠ {problem}" if problem else "")
        self.problem.setVisible(problem is not None)
        self.save_button.setEnabled(document is not None)

    def _save(self) -> None:
        document, _problem = self._current()
        if document is not None:
            self.confirmed.emit(document)
            self.accept()


class ApprovalDialog(QDialog):
    answered = Signal(object)  # HumanAnswer, exactly once

    def __init__(
        self,
        request: ApprovalRequest,
        presentation: Presentation,
        *,
        arm_delay_ms: int = ARM_DELAY_MS,
        clock: Callable[[], float] = time.time,
        presence: PresenceGate | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.request = request
        self.presence = presence
        self._cancel_proof: Callable[[], None] | None = None  # a proof of presence being asked for
        self.presentation = presentation
        self.shown_digest = shown_digest(presentation.shown_text())
        self._clock = clock
        self._settled = False
        self._total_seconds = max(1.0, request.deadline_at - clock())
        self._draft: RuleDraftDialog | None = None
        self._sized = False
        self.setWindowTitle(presentation.title)
        self.setWindowFlag(Qt.WindowType.WindowStaysOnTopHint, True)
        self.setAccessibleName("Approval needed")
        self.setAccessibleDescription(presentation.headline)

        layout = QVBoxLayout(self)
        layout.addLayout(self._header())
        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self._details())
        self.splitter.addWidget(self._parameters())
        self.splitter.setStretchFactor(1, 1)
        layout.addWidget(self.splitter, 1)
        layout.addLayout(self._countdown())
        layout.addLayout(self._buttons())

        self._allow_buttons = (
            self.allow_once_button,
            self.allow_session_button,
            self.allow_minutes_button,
            self.always_allow_button,
        )
        self._arm_timer = QTimer(self)
        self._arm_timer.setSingleShot(True)
        self._arm_timer.setInterval(arm_delay_ms)
        self._arm_timer.timeout.connect(self._arm)
        self.rearm()
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            QShortcut(QKeySequence(keys), self, self._allow_once_by_key)
        self._ticker = QTimer(self)
        self._ticker.timeout.connect(self.refresh_countdown)
        self._ticker.start(COUNTDOWN_TICK_MS)
        self.refresh_countdown()
        self.deny_button.setFocus()

    # -- building --------------------------------------------------------------------------------------------

    def _header(self) -> QHBoxLayout:
        presentation = self.presentation
        level = presentation.risk_level
        self.risk_badge = plain_label(f"{level.value.upper()} RISK", wrap=False, selectable=True)
        self.risk_badge.setAccessibleName(f"Risk: {level.value}")
        self.risk_badge.setStyleSheet(
            f"QLabel {{ background: {RISK_COLOURS[level]}; color: white; font-weight: bold; padding: 4px 8px;"
            " border-radius: 4px; }"
        )
        self.risk_badge.setSizePolicy(QSizePolicy.Policy.Fixed, QSizePolicy.Policy.Fixed)
        self.headline = plain_label(presentation.headline, selectable=True)
        font = self.headline.font()
        font.setPointSizeF(font.pointSizeF() * 1.2)
        font.setBold(True)
        self.headline.setFont(font)
        self.impact = plain_label(presentation.impact, selectable=True)
        self.impact.setAccessibleName("Impact")
        for label in (self.headline, self.impact):
            # A tool name can be one long word: it may not widen the dialog off the screen (the details pane
            # below shows every name in full, wrapped anywhere).
            label.setMinimumWidth(1)
        text = QVBoxLayout()
        text.addWidget(self.headline)
        text.addWidget(self.impact)
        row = QHBoxLayout()
        row.addWidget(self.risk_badge, 0, Qt.AlignmentFlag.AlignTop)
        row.addLayout(text, 1)
        return row

    def _details(self) -> QWidget:
        """Scope, warnings and the reasons for the risk level, in one scrollable, selectable pane."""
        view = QTextEdit()
        view.setReadOnly(True)
        view.setAcceptRichText(False)
        view.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        view.setTabChangesFocus(True)
        view.setAccessibleName("Details of the call")
        cursor = QTextCursor(view.document())
        bold = QTextCharFormat()
        bold.setFontWeight(QFont.Weight.Bold)
        plain = QTextCharFormat()
        first = True

        def line(label: str, value: str, label_format: QTextCharFormat = bold) -> None:
            nonlocal first
            if not first:
                cursor.insertBlock()
            first = False
            cursor.insertText(label, label_format)
            self._insert_with_markers(cursor, value, plain)

        for label, value in self.presentation.scope:
            line(f"{label}: ", value)
        if self.presentation.definition_changes:
            # A rug pull, shown: per changed field its diff, removed lines red and added lines green.
            heading = QTextCharFormat(bold)
            heading.setForeground(warning_colour(view.palette()))
            removed, added = QTextCharFormat(plain), QTextCharFormat(plain)
            removed.setForeground(QColor(REMOVED_COLOUR))
            added.setForeground(QColor(ADDED_COLOUR))
            line("", "")
            line(DEFINITION_CHANGED_HEADING, "", heading)
            for field, diff in self.presentation.definition_changes:
                line(f"{field}:", "")
                for text in diff.splitlines():
                    cursor.insertBlock()
                    colour = removed if text.startswith("-") else added if text.startswith("+") else plain
                    self._insert_with_markers(cursor, text, colour)
        flags = self.presentation.flags
        if flags:
            warning = QTextCharFormat(bold)
            warning.setForeground(warning_colour(view.palette()))
            line("", "")
            line(f"⚠ Warnings ({len(flags)})", "", warning)
            for flag in flags:
                kind = {FlagKind.BIDI: "direction", FlagKind.INVISIBLE: "invisible", FlagKind.LOOKALIKE: "look-alike"}
                line(f"• {kind[flag.kind]} — ", flag.line())
        if self.presentation.reasons:
            line("", "")
            line(f"Why the risk is {self.presentation.risk_level.value}:", "")
            for reason in self.presentation.reasons:
                line("• ", reason)
        line("", "")
        line("If nobody answers in time: ", self.presentation.deadline_action.value)
        view.moveCursor(QTextCursor.MoveOperation.Start)
        self.details = view
        return view

    @staticmethod
    def _insert_with_markers(cursor: QTextCursor, value: str, plain: QTextCharFormat) -> None:
        tinted = QTextCharFormat(plain)
        tinted.setBackground(MARKER_TINT)
        tinted.setFontWeight(QFont.Weight.Bold)
        position = 0
        for match in _MARKER.finditer(value):
            cursor.insertText(value[position : match.start()], plain)
            cursor.insertText(match.group(0), tinted)
            position = match.end()
        cursor.insertText(value[position:], plain)

    def _parameters(self) -> QWidget:
        presentation = self.presentation
        self.parameters_summary = plain_label(f"Parameters — {presentation.arguments_summary}", selectable=True)
        self.parameters_summary.setAccessibleName("Size of the parameters")
        self.copy_button = QPushButton("Copy JSON")
        self.copy_button.setAccessibleName("Copy the parameters as JSON")
        self.copy_button.setAutoDefault(False)
        self.copy_button.clicked.connect(self.copy_json)
        self.structured = _read_only_text("Parameters", wrap_anywhere=True)
        self.structured.setPlainText(presentation.arguments_text)
        _tint_markers(self.structured, presentation.argument_markers)
        self.raw_json = _read_only_text("Parameters as raw JSON", wrap_anywhere=False)
        self.tabs = QTabWidget()
        self.tabs.setAccessibleName("Parameter views")
        self.tabs.addTab(self.structured, "&Structured")
        self.tabs.addTab(self.raw_json, "&Raw JSON")
        self.tabs.currentChanged.connect(self._fill_raw_json)
        header = QHBoxLayout()
        header.addWidget(self.parameters_summary, 1)
        header.addWidget(self.copy_button)
        pane = QWidget()
        column = QVBoxLayout(pane)
        column.setContentsMargins(0, 0, 0, 0)
        column.addLayout(header)
        column.addWidget(self.tabs, 1)
        return pane

    def showEvent(self, event: QShowEvent) -> None:
        super().showEvent(event)
        self.rearm()  # the delay counts from when the person can see the dialog, not from when it was built
        if not self._sized:
            self._sized = True
            self._share_height()

    def _share_height(self) -> None:
        """Give the details all the height they need (up to DETAILS_SHARE of it) and the parameters the rest."""
        total = sum(self.splitter.sizes())
        document = self.details.document()
        document.setTextWidth(self.details.viewport().width())
        wanted = math.ceil(document.size().height()) + 2 * self.details.frameWidth() + 4
        details = max(1, min(wanted, int(total * DETAILS_SHARE)))
        self.splitter.setSizes([details, total - details])

    def _fill_raw_json(self, index: int) -> None:
        # Filled on first view: laying out megabytes of JSON nobody looks at would only slow the dialog down.
        if self.tabs.widget(index) is self.raw_json and self.raw_json.document().isEmpty():
            self.raw_json.setPlainText(self.presentation.raw_json)

    def _countdown(self) -> QHBoxLayout:
        self.countdown = plain_label(wrap=False, selectable=True)
        self.countdown.setAccessibleName("Time left to answer")
        self.countdown_bar = QProgressBar()
        self.countdown_bar.setRange(0, 1000)
        self.countdown_bar.setTextVisible(False)
        self.countdown_bar.setAccessibleName("Time left")
        self.countdown_bar.setMaximumHeight(8)
        # Other calls wait behind this one: said here, not in a notification that would cover these buttons.
        self.more_waiting = plain_label(wrap=False, selectable=True)
        self.more_waiting.setAccessibleName("Other calls waiting")
        self.more_waiting.setStyleSheet("QLabel { font-weight: bold; }")
        self.more_waiting.setVisible(False)
        row = QHBoxLayout()
        row.addWidget(self.countdown)
        row.addWidget(self.countdown_bar, 1)
        row.addWidget(self.more_waiting)
        return row

    def show_more_waiting(self, count: int) -> None:
        """Said in the dialog and its title (which a taskbar shows)."""
        self.more_waiting.setText(f"{count} more waiting")
        self.more_waiting.setVisible(count > 0)
        self.setWindowTitle(self.presentation.title + (f" — {count} more waiting" if count else ""))

    def _buttons(self) -> QHBoxLayout:
        self.deny_button = QPushButton("Deny")
        self.deny_button.setDefault(True)
        self.deny_button.setAccessibleName("Deny this call")
        self.deny_button.setToolTip("Enter or Escape")
        self.deny_always_button = QPushButton("Deny always")
        self.deny_always_button.setAccessibleName("Deny this tool on this server from now on")
        self.minutes = QSpinBox()
        self.minutes.setRange(1, 24 * 60)
        self.minutes.setValue(DEFAULT_MINUTES)
        self.minutes.setSuffix(" min")
        self.minutes.setAccessibleName("Minutes to allow this tool for")
        self.allow_minutes_button = QPushButton()
        self.allow_session_button = QPushButton("Allow for this session")
        self.allow_session_button.setAccessibleName("Allow this tool on this server until MCP Approver stops")
        self.always_allow_button = QPushButton("Always allow…")
        self.always_allow_button.setAccessibleName("Always allow calls like this: edit and save a rule")
        self.allow_once_button = QPushButton("Allow once")
        self.allow_once_button.setAccessibleName("Allow this call once")
        self.allow_once_button.setToolTip("Ctrl+Return")
        for button in (
            self.deny_always_button,
            self.allow_minutes_button,
            self.allow_session_button,
            self.always_allow_button,
            self.allow_once_button,
        ):
            button.setAutoDefault(False)  # Enter on a focused Allow button goes to the default: Deny
        self._label_minutes_button(self.minutes.value())
        self.minutes.valueChanged.connect(self._label_minutes_button)
        self.deny_button.clicked.connect(lambda: self._answer(Decision.DENY))
        self.deny_always_button.clicked.connect(self._deny_always)
        self.allow_once_button.clicked.connect(lambda: self._answer(Decision.ALLOW))
        self.allow_session_button.clicked.connect(lambda: self._answer(Decision.ALLOW, Scope.SESSION))
        self.allow_minutes_button.clicked.connect(
            lambda: self._answer(Decision.ALLOW, Scope.MINUTES, minutes=self.minutes.value())
        )
        self.always_allow_button.clicked.connect(self.open_rule_draft)
        row = QHBoxLayout()
        row.addWidget(self.deny_button)
        row.addWidget(self.deny_always_button)
        row.addStretch(1)
        row.addWidget(self.minutes)
        row.addWidget(self.allow_minutes_button)
        row.addWidget(self.allow_session_button)
        row.addWidget(self.always_allow_button)
        row.addWidget(self.allow_once_button)
        return row

    def _label_minutes_button(self, minutes: int) -> None:
        self.allow_minutes_button.setText(f"Allow for {minutes} min")
        self.allow_minutes_button.setAccessibleName(f"Allow this tool on this server for {minutes} minutes")

    # -- behaviour -------------------------------------------------------------------------------------------

    @property
    def armed(self) -> bool:
        return self.allow_once_button.isEnabled()

    def rearm(self) -> None:
        """Disable the Allow buttons for the arming delay: whenever the dialog appears or comes to the front, a
        click or key press meant for another window must not allow the call."""
        for button in self._allow_buttons:
            button.setEnabled(False)
        self._arm_timer.start()

    def _arm(self) -> None:
        if not self._settled:
            for button in self._allow_buttons:
                button.setEnabled(True)

    def refresh_countdown(self) -> None:
        left = max(0.0, self.request.deadline_at - self._clock())
        whole = int(left + 0.999)
        verb = "Denying" if self.request.deadline_action is Decision.DENY else "Allowing"
        self.countdown.setText(f"{verb} automatically in {whole // 60}:{whole % 60:02d}")
        self.countdown_bar.setValue(round(1000 * min(1.0, left / self._total_seconds)))

    def copy_json(self) -> None:
        QGuiApplication.clipboard().setText(self.presentation.raw_json)

    def open_rule_draft(self) -> None:
        if not self.armed or self._settled:
            return
        self._draft = RuleDraftDialog(self.request, self)
        self._draft.confirmed.connect(self._always)
        self._draft.open()  # window-modal without a nested event loop

    def _always(self, rule: dict[str, object]) -> None:
        decision = Decision.ALLOW if rule.get("effect") == Effect.ALLOW.value else Decision.DENY
        self._answer(decision, Scope.ALWAYS, rule=rule)

    def _deny_always(self) -> None:
        self._answer(Decision.DENY, Scope.ALWAYS, rule=rule_draft(self.request, Effect.DENY))

    def _allow_once_by_key(self) -> None:
        if self.armed:
            self._answer(Decision.ALLOW)

    def _answer(
        self,
        decision: Decision,
        scope: Scope = Scope.ONCE,
        *,
        minutes: int | None = None,
        rule: dict[str, object] | None = None,
    ) -> None:
        if self._settled:
            return
        presence = self.presence
        # A synthetic click (any program of the user can send one) must not allow what the settings guard.
        critical = self.request.risk.level is RiskLevel.CRITICAL
        if (
            decision is Decision.ALLOW
            and presence is not None
            and presence.required(critical=critical, widening=scope is not Scope.ONCE)
        ):
            if self._cancel_proof is None:  # one proof at a time; more presses while it is asked do nothing
                more = "" if scope is Scope.ONCE else ", and more calls like it"
                self._cancel_proof = presence.prove(
                    self,
                    f"You are allowing this: {self.presentation.headline} ({self.presentation.risk_level.value} "
                    f"risk){more}.",
                    lambda proof: self._proved(proof, decision, scope, minutes, rule),
                )
            return
        self._settle(decision, scope, minutes, rule)

    def _proved(
        self,
        proof: Proof | None,
        decision: Decision,
        scope: Scope,
        minutes: int | None,
        rule: dict[str, object] | None,
    ) -> None:
        self._cancel_proof = None
        if proof is not None:
            self._settle(decision, scope, minutes, rule, proof)

    def _settle(
        self,
        decision: Decision,
        scope: Scope,
        minutes: int | None,
        rule: dict[str, object] | None,
        proof: Proof | None = None,
    ) -> None:
        if self._settled:
            return
        self._settled = True
        self._ticker.stop()
        self._stop_proof()
        answer = HumanAnswer(
            decision=decision,
            scope=scope,
            minutes=minutes,
            rule=rule,
            shown_digest=self.shown_digest,
            presence=proof.value if proof is not None else None,
        )
        self.hide()
        self.answered.emit(answer)

    def dismiss(self) -> None:
        """Taken down without an answer from here (the deadline passed, the call was withdrawn, or answered)."""
        self._settled = True
        self._ticker.stop()
        self._stop_proof()
        if self._draft is not None:
            self._draft.close()
        self.hide()

    def _stop_proof(self) -> None:
        if self._cancel_proof is not None:
            cancel, self._cancel_proof = self._cancel_proof, None
            cancel()

    def reject(self) -> None:  # Escape
        self._answer(Decision.DENY)

    def closeEvent(self, event: QCloseEvent) -> None:  # the window's close button
        self._answer(Decision.DENY)
        super().closeEvent(event)

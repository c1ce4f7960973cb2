"""Kinds of request the support team handles (P2), with the labels shown to requesters."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """A request's problem type, as the policy's services list names them (P2)."""

    ACCOUNT_ACTIVATION = "account_activation"
    PASSWORD_RECOVERY = "password_recovery"
    LOGIN = "login"
    CONTENT_LOADING = "content_loading"
    ATTENDANCE_CERTIFICATE = "attendance_certificate"
    COMPLAINT = "complaint"
    SUGGESTION = "suggestion"
    OTHER = "other"

    @property
    def clause(self) -> str:
        """The policy clause that covers this kind of request."""
        return _CLAUSES[self]

    def label(self, language: str = "ar") -> str:
        """The label shown to a requester in `language` (`ar` or `en`)."""
        arabic, english = _LABELS[self]
        return arabic if language == "ar" else english

    @property
    def is_suggestion(self) -> bool:
        """Suggestions go to the competent management, not to a solution (P3.5)."""
        return self is Category.SUGGESTION


_CLAUSES = {
    Category.ACCOUNT_ACTIVATION: "P2.1",
    Category.PASSWORD_RECOVERY: "P2.1",
    Category.LOGIN: "P2.2",
    Category.CONTENT_LOADING: "P2.2",
    Category.ATTENDANCE_CERTIFICATE: "P2.3",
    Category.COMPLAINT: "P2.4",
    Category.SUGGESTION: "P2.5",
    Category.OTHER: "P2",
}

_LABELS = {
    Category.ACCOUNT_ACTIVATION: ("تفعيل حساب جديد", "Activating a new account"),
    Category.PASSWORD_RECOVERY: ("استعادة كلمة المرور", "Recovering a password"),
    Category.LOGIN: ("مشكلة في تسجيل الدخول", "Problem signing in"),
    Category.CONTENT_LOADING: ("مشكلة في تحميل الورش والدروس", "Workshops or lessons not loading"),
    Category.ATTENDANCE_CERTIFICATE: (
        "شهادة الحضور الإلكترونية",
        "Electronic attendance certificate",
    ),
    Category.COMPLAINT: ("شكوى أو ملاحظة فنية", "Complaint or technical remark"),
    Category.SUGGESTION: ("اقتراح لتحسين تجربة المستخدم", "Suggestion to improve the experience"),
    Category.OTHER: ("أخرى", "Other"),
}

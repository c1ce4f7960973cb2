"""`supportdesk demo`: sample tickets in every state, to try the desk with."""

from __future__ import annotations

from datetime import timedelta

import click

from application.bootstrap import bootstrap
from application.desk import SupportDesk
from domain.categories import Category
from domain.escalation import EscalationReason
from domain.request import Channel
from domain.sla import Complexity

AGENT = "demo.agent"

_SAMPLES: list[tuple[Category, str, str, str, str]] = [
    (
        Category.LOGIN,
        "ar",
        "التربية الإيجابية",
        "لا أستطيع تسجيل الدخول",
        "تظهر رسالة أن كلمة المرور خاطئة.",
    ),
    (
        Category.PASSWORD_RECOVERY,
        "en",
        "Positive Parenting 101",
        "Reset link expired",
        "The link says it expired.",
    ),
    (
        Category.CONTENT_LOADING,
        "ar",
        "ورشة النوم الهادئ",
        "الدرس الثالث لا يعمل",
        "يبقى الفيديو أسود.",
    ),
    (
        Category.ATTENDANCE_CERTIFICATE,
        "en",
        "Calm Sleep Workshop",
        "No certificate yet",
        "I finished every lesson.",
    ),
    (
        Category.ACCOUNT_ACTIVATION,
        "ar",
        "أساسيات الرضاعة",
        "لم يصلني بريد التفعيل",
        "سجلت قبل يومين.",
    ),
    (Category.COMPLAINT, "en", "Toddler Talk", "Site is slow", "Pages take ten seconds to open."),
    (
        Category.SUGGESTION,
        "ar",
        "التربية الإيجابية",
        "اقتراح: وضع ليلي",
        "أتمنى إضافة وضع ليلي للموقع.",
    ),
    (
        Category.SUGGESTION,
        "en",
        "Toddler Talk",
        "Offline lessons",
        "Please let us download lessons.",
    ),
]


def _load(desk: SupportDesk) -> list[str]:
    references = []
    for number, (category, language, course, subject, description) in enumerate(_SAMPLES):
        outcome = desk.submit(
            channel=Channel.WEB_FORM if number % 2 else Channel.EMAIL,
            requester_email=f"learner{number + 1}@example.org",
            requester_name=f"Learner {number + 1}",
            category=category,
            course=course,
            subject=subject,
            description=description,
            language=language,
        )
        reference = outcome.reference
        references.append(reference)
        if number in (0, 1, 3):
            desk.respond(reference, message="We are looking into it.", actor=AGENT)
        if number == 1:
            desk.resolve(reference, summary="A new reset link was sent.", actor=AGENT)
        if number == 2:
            desk.classify(reference, complexity=Complexity.COMPLEX, actor=AGENT)
        if number == 3:
            due = outcome.ticket.resolution_due + timedelta(days=3)
            desk.extend_deadline(
                reference, resolution_due=due, reason="Waiting for the instructor.", actor=AGENT
            )
        if number == 5:
            desk.escalate(reference, reason=EscalationReason.AGENT, note="Site-wide", actor=AGENT)
        if number == 6:
            desk.forward_to_management(
                reference, department="Product", note="Often requested.", actor=AGENT
            )
    return references


@click.command("demo")
def demo() -> None:
    """Record sample tickets in both languages and several states; print their references."""
    container = bootstrap()
    try:
        for reference in _load(container.desk):
            click.echo(reference)
    finally:
        container.close()

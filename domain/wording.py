"""How the desk writes an instant for people: in its own time zone, in Arabic or English (P4)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

AR_DAYS = ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد")
AR_MONTHS = (
    "يناير",
    "فبراير",
    "مارس",
    "أبريل",
    "مايو",
    "يونيو",
    "يوليو",
    "أغسطس",
    "سبتمبر",
    "أكتوبر",
    "نوفمبر",
    "ديسمبر",
)


def zone_name(zone: ZoneInfo, language: str) -> str:
    """How the time zone is named after a time: 'Riyadh time' for the desk's own."""
    if zone.key == "Asia/Riyadh":
        return "بتوقيت الرياض" if language == "ar" else "Riyadh time"
    return f"({zone.key})"


def when(instant: datetime, language: str, zone: ZoneInfo) -> str:
    """The instant as a reader of `language` reads it, in the time zone `zone`."""
    local = instant.astimezone(zone)
    if language == "ar":
        return (
            f"{AR_DAYS[local.weekday()]} {local.day} {AR_MONTHS[local.month - 1]} "
            f"{local.year}، الساعة {local:%H:%M} {zone_name(zone, 'ar')}"
        )
    return f"{local:%A} {local.day} {local:%B %Y}, {local:%H:%M} {zone_name(zone, 'en')}"

"""The texts a requester reads, in Arabic and English: page wording, statuses, messages."""

from __future__ import annotations

from typing import Any

import marshmallow as ma

from domain.status import Status

# Arabic title and generic detail of each HTTP status a requester may meet; tools read `status`.
HTTP_STATUS_ARABIC = {
    400: ("طلب غير صالح", "تعذّرت قراءة الطلب."),
    401: ("يلزم تسجيل الدخول", "يلزم رمز دخول صالح."),
    403: ("غير مسموح", "دورك لا يسمح بهذا الإجراء."),
    404: ("غير موجود", "لا يوجد ما طلبته."),
    405: ("الطريقة غير مسموحة", "هذا العنوان لا يقبل هذه الطريقة."),
    409: ("تعارض مع حالة الطلب", "حالة التذكرة الحالية لا تسمح بهذا الإجراء."),
    412: ("تغيّرت التذكرة منذ قراءتها", "اقرأ التذكرة من جديد ثم أعد المحاولة."),
    413: ("الطلب أكبر من المسموح", "حجم الطلب يتجاوز الحد المسموح."),
    415: ("نوع المحتوى غير مدعوم", "أرسل البيانات بصيغة JSON."),
    422: ("بيانات الطلب غير صالحة", "بعض الحقول غير صالحة؛ انظر قائمة الأخطاء."),
    429: ("طلبات كثيرة، حاول لاحقاً", "تجاوزت عدد الطلبات المسموح به؛ أعد المحاولة لاحقاً."),
    500: ("خطأ داخلي", "حدث خطأ غير متوقع."),
    503: ("الخدمة غير متاحة مؤقتاً", "أعد المحاولة بعد قليل."),
}

# English message → Arabic message. Every message our schemas give is listed, so a requester
# writing in Arabic reads every field error in Arabic.
_FIELD_MESSAGES_ARABIC: dict[str, str] = {
    "Missing data for required field.": "هذا الحقل مطلوب.",
    "Field may not be null.": "هذا الحقل مطلوب.",
    "Unknown field.": "حقل غير معروف.",
    "Not a valid string.": "يجب أن تكون القيمة نصاً.",
    "Invalid input type.": "نوع البيانات غير صالح.",
    "Not a valid datetime.": "تاريخ ووقت غير صالحين.",
    "Not a valid aware datetime.": "يجب أن يتضمن الوقت المنطقة الزمنية.",
    "This field must not be empty.": "هذا الحقل مطلوب.",
    "Control characters are not allowed.": "لا يُسمح برموز التحكم في هذا الحقل.",
    "Enter a valid email address.": "أدخل بريداً إلكترونياً صحيحاً.",
    "Choose one of the listed categories.": "اختر نوعاً من الأنواع المدرجة.",
    "Choose ar or en.": "اختر ar أو en.",
    "Choose simple or complex.": "اختر simple أو complex.",
    "Choose a listed escalation reason.": "اختر سبب تصعيد من الأسباب المدرجة.",
    "Already used for a different request.": "استُخدم من قبل لطلب مختلف.",
    "Use 1 to 255 visible ASCII characters.": "استخدم من 1 إلى 255 حرفاً مرئياً من ASCII.",
    "Must be between the years 2000 and 2100.": "يجب أن يقع بين عامي 2000 و2100.",
    "Not a cursor of this list.": "ليس مؤشر صفحة من هذه القائمة.",
}


def limit_message(limit: int) -> str:
    """The message for text longer than `limit`, in English; its Arabic is kept beside it."""
    english = f"Must be at most {limit} characters."
    _FIELD_MESSAGES_ARABIC[english] = f"يجب ألا يزيد عن {limit} حرفاً."
    return english


def in_arabic(errors: Any) -> Any:
    """Field errors with every known message in Arabic; unknown ones stay as they are."""
    if isinstance(errors, dict):
        return {name: in_arabic(value) for name, value in errors.items()}
    if isinstance(errors, list):
        return [in_arabic(value) for value in errors]
    if isinstance(errors, str):
        return _FIELD_MESSAGES_ARABIC.get(errors, errors)
    return errors


# One answer for a reference + email lookup, whether the reference or the email was wrong.
NOT_FOUND_EN = "No ticket matches this reference and email."
NOT_FOUND_AR = "لا توجد تذكرة بهذا الرقم المرجعي وهذا البريد."

# The support pages' wording, by language.
PAGE_TEXT: dict[str, dict[str, str]] = {
    "ar": {
        "title": "نموذج الدعم الفني",
        "intro": "اكتب طلبك وسيرد عليك فريق الدعم خلال 24 ساعة عمل "
        "(من الأحد إلى الخميس، 9:00–17:00 بتوقيت الرياض).",
        "name": "الاسم (اختياري)",
        "email": "البريد الإلكتروني المسجل في الحساب",
        "category": "نوع الطلب",
        "choose": "اختر…",
        "course": "اسم الدورة أو الورشة",
        "subject": "الموضوع",
        "description": "وصف المشكلة أو الاقتراح",
        "send": "إرسال الطلب",
        "fix": "يرجى تصحيح الحقول المشار إليها.",
        "expired": "انتهت صلاحية النموذج أو لم يُرسل من هذا الموقع؛ يرجى إرساله مرة أخرى.",
        "sent": "تم استلام طلبك",
        "reference": "الرقم المرجعي",
        "first_response_due": "موعد الرد الأول المتوقع",
        "keep": "احتفظ بالرقم المرجعي لمتابعة طلبك؛ ستصلك رسالة تأكيد على بريدك الإلكتروني.",
        "status_title": "متابعة حالة طلب",
        "status_intro": "أدخل الرقم المرجعي والبريد الإلكتروني الذي أرسلت منه الطلب.",
        "show": "عرض الحالة",
        "status": "الحالة",
        "submitted_at": "تاريخ الاستلام",
        "resolution_due": "موعد الحل المتوقع",
        "not_found": NOT_FOUND_AR,
        "to_status": "متابعة طلب سابق",
        "to_form": "إرسال طلب جديد",
        "other_language": "English",
        "zone": "بتوقيت الرياض",
        "error": "تعذّر إتمام الطلب",
        "resent": "أُرسل هذا النموذج من قبل؛ لإرسال طلب جديد بهذه البيانات أرسله مرة أخرى.",
        "in_flight": "ما زال طلبك السابق قيد التسجيل؛ انتظر لحظة ثم أعد المحاولة.",
        "files": "ملفات مرفقة (اختياري)",
        "files_hint": "حتى 5 ملفات، 10 ميغابايت لكل ملف و25 ميغابايت للمجموع: "
        "صور (PNG أو JPEG أو WebP أو GIF) أو PDF أو نص.",
        "files_again": "لم تُحفظ الملفات المختارة: اخترها مرة أخرى قبل الإرسال.",
        "files_kept": "الملفات المحفوظة",
        "files_refused": "ملفات لم تُقبل",
        "file_over_limit": "لم يُسجَّل الطلب: الملف «{name}» لم يُقبل. {reason}",
        "link_expired": "انتهت صلاحية هذا الرابط. اطلب رابطاً جديداً بالرد على رسالتنا "
        "مع ذكر الرقم المرجعي.",
        "link_invalid": "هذا الرابط غير صالح أو لم يعد الملف متاحاً.",
    },
    "en": {
        "title": "Technical support form",
        "intro": "Tell us about your request; the support team replies within 24 working hours "
        "(Sunday to Thursday, 09:00–17:00 Riyadh time).",
        "name": "Name (optional)",
        "email": "Email registered on your account",
        "category": "Type of request",
        "choose": "Choose…",
        "course": "Course or workshop",
        "subject": "Subject",
        "description": "Describe the problem or suggestion",
        "send": "Send request",
        "fix": "Please correct the fields marked below.",
        "expired": "The form expired or was not sent from this site; please send it again.",
        "sent": "Your request was received",
        "reference": "Reference number",
        "first_response_due": "Expected first response by",
        "keep": "Keep this reference to follow up your request; "
        "a confirmation email is on its way.",
        "status_title": "Check a request's status",
        "status_intro": "Enter the reference number and the email you sent the request from.",
        "show": "Show status",
        "status": "Status",
        "submitted_at": "Received",
        "resolution_due": "Expected solution by",
        "not_found": NOT_FOUND_EN,
        "to_status": "Follow up an earlier request",
        "to_form": "Send a new request",
        "other_language": "العربية",
        "zone": "Riyadh time",
        "error": "The request could not be completed",
        "resent": "This form was sent before; to send a new request with these details, "
        "send it again.",
        "in_flight": "Your earlier request is still being recorded; wait a moment and try again.",
        "files": "Files (optional)",
        "files_hint": "Up to 5 files, 10 MB each and 25 MB in all: "
        "images (PNG, JPEG, WebP or GIF), PDF or text.",
        "files_again": "The files you chose were not kept: choose them again before sending.",
        "files_kept": "Files kept",
        "files_refused": "Files not accepted",
        "file_over_limit": "Nothing was recorded: the file “{name}” was not accepted. {reason}",
        "link_expired": "This link has expired. Ask for a new one by replying to our email "
        "with your reference number.",
        "link_invalid": "This link is not valid, or the file is no longer available.",
    },
}

# A ticket's status as its requester reads it: (Arabic, English).
STATUS_LABELS = {
    Status.NEW: ("جديد", "New"),
    Status.ACKNOWLEDGED: ("تم الاستلام", "Received"),
    Status.IN_PROGRESS: ("قيد المعالجة", "In progress"),
    Status.FORWARDED: ("أُحيل إلى الإدارة المختصة", "Referred to the competent management"),
    Status.RESOLVED: ("تم الحل", "Solved"),
}

# Monday first, as `datetime.weekday()` counts.
WEEKDAYS = {
    "ar": ("الاثنين", "الثلاثاء", "الأربعاء", "الخميس", "الجمعة", "السبت", "الأحد"),
    "en": ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday"),
}


def field_errors(error: ma.ValidationError, language: str) -> dict[str, list[str]]:
    """A form's refusal as each field's messages, in the page's language."""
    messages = error.messages if isinstance(error.messages, dict) else {"_": error.messages}
    shown = in_arabic(messages) if language == "ar" else messages
    return {k: list(v) if isinstance(v, list) else [str(v)] for k, v in shown.items()}

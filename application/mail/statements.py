"""What a request states in the text of an email: its type of problem and its course (P3.2).

Lines such as `Category: login` or `الفئة: تسجيل الدخول` are read in either language; failing a
label, words that name a type of problem are looked for.
"""

from __future__ import annotations

import re

from domain.categories import Category

_LABEL = r"^[ \t]*[-*•]?[ \t]*(?:{})[ \t]*[:：][ \t]*(?P<value>\S.*?)[ \t]*$"
_CATEGORY_LINE = re.compile(
    _LABEL.format("category|type of problem|problem type|type|الفئة|نوع المشكلة|التصنيف|نوع الطلب"),
    re.IGNORECASE | re.MULTILINE,
)
_COURSE_LINE = re.compile(
    _LABEL.format(
        "course or workshop|course/workshop|course|workshop|programme|program|"
        "اسم الدورة أو الورشة|الدورة أو الورشة|اسم الدورة|اسم الورشة|الدورة|الورشة|البرنامج"
    ),
    re.IGNORECASE | re.MULTILINE,
)

# Words that name each type of problem, in either language; the longest match wins.
_CATEGORY_WORDS: dict[Category, tuple[str, ...]] = {
    Category.ACCOUNT_ACTIVATION: (
        "account activation",
        "activate",
        "activation",
        "new account",
        "تفعيل",
        "حساب جديد",
    ),
    Category.PASSWORD_RECOVERY: (
        "password",
        "كلمة المرور",
        "كلمة السر",
        "استعادة",
    ),
    Category.LOGIN: (
        "login",
        "log in",
        "sign in",
        "signing in",
        "sign-in",
        "signin",
        "تسجيل الدخول",
        "الدخول",
    ),
    Category.CONTENT_LOADING: (
        "content loading",
        "loading",
        "load",
        "lesson",
        "workshops not",
        "تحميل",
        "الدروس",
    ),
    Category.ATTENDANCE_CERTIFICATE: ("certificate", "attendance", "شهادة", "الشهادة"),
    Category.COMPLAINT: ("complaint", "remark", "شكوى", "ملاحظة"),
    Category.SUGGESTION: ("suggestion", "suggest", "idea", "اقتراح", "مقترح"),
    Category.OTHER: ("other", "أخرى", "اخرى", "غير ذلك"),
}


def read_category(text: str) -> Category | None:
    """The type of problem a `Category:` / `الفئة:` line states, if one does (P2, P3.2)."""
    for match in _CATEGORY_LINE.finditer(unquoted(text)):
        value = " ".join(match["value"].replace("_", " ").split()).casefold()
        for category in Category:
            if value in (category.value.replace("_", " "), *map(str.casefold, _labels(category))):
                return category
        best: tuple[int, Category] | None = None
        for category, words in _CATEGORY_WORDS.items():
            for word in words:
                if word in value and (best is None or len(word) > best[0]):
                    best = (len(word), category)
        if best is not None:
            return best[1]
    return None


def read_course(text: str) -> str | None:
    """The course or workshop a `Course:` / `الدورة:` line names, if one does (P3.2)."""
    match = _COURSE_LINE.search(unquoted(text))
    return match["value"][:200] if match else None


def _labels(category: Category) -> tuple[str, str]:
    return category.label("ar"), category.label("en")


def unquoted(text: str) -> str:
    return "\n".join(line for line in text.splitlines() if not line.startswith(">"))

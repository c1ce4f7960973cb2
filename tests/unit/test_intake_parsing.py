"""Reading inbound email: fields of P3.2 in Arabic and English, odd MIME, charsets, robots."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from application.mail.message import MAX_MESSAGE_BYTES, MAX_TEXT_CHARS, MessageRefused, parse_email
from application.mail.statements import read_category, read_course
from domain.categories import Category


@pytest.mark.parametrize(
    ("line", "category"),
    [
        ("Category: login", Category.LOGIN),
        ("category: Problem signing in", Category.LOGIN),
        ("Type of problem: password recovery", Category.PASSWORD_RECOVERY),
        ("Category: account_activation", Category.ACCOUNT_ACTIVATION),
        ("Category: attendance certificate", Category.ATTENDANCE_CERTIFICATE),
        ("- Category: Suggestion", Category.SUGGESTION),
        ("الفئة: تسجيل الدخول", Category.LOGIN),
        ("الفئة: مشكلة في تسجيل الدخول", Category.LOGIN),
        ("نوع المشكلة: استعادة كلمة المرور", Category.PASSWORD_RECOVERY),
        ("الفئة: شهادة الحضور الإلكترونية", Category.ATTENDANCE_CERTIFICATE),
        ("الفئة: تفعيل حساب جديد", Category.ACCOUNT_ACTIVATION),
        ("الفئة: اقتراح", Category.SUGGESTION),
        ("الفئة : شكوى", Category.COMPLAINT),
    ],
)
def test_category_is_read_in_either_language(line: str, category: Category) -> None:
    assert read_category(f"Hello\n{line}\nThanks") is category


def test_no_category_line_or_an_unknown_one_states_nothing() -> None:
    assert read_category("I cannot sign in, please help.") is None
    assert read_category("Category: banana") is None
    assert read_category("> Category: login\nquoted from an earlier message") is None


@pytest.mark.parametrize(
    ("text", "course"),
    [
        ("Course: Positive Parenting 101", "Positive Parenting 101"),
        ("Workshop: Sleep for toddlers  ", "Sleep for toddlers"),
        ("الدورة: التربية الإيجابية", "التربية الإيجابية"),
        ("اسم الورشة: نوم الأطفال", "نوم الأطفال"),
    ],
)
def test_course_is_read_in_either_language(text: str, course: str) -> None:
    assert read_course(f"Hi\n{text}\n") == course


def message(**headers: str) -> EmailMessage:
    built = EmailMessage()
    built["From"] = headers.pop("From", "Sara <sara@example.org>")
    built["To"] = headers.pop("To", "support@captainmama.org")
    built["Subject"] = headers.pop("Subject", "Help")
    for name, value in headers.items():
        built[name.replace("_", "-")] = value
    return built


def test_plain_text_is_preferred_and_html_only_mail_is_read_as_text() -> None:
    html_only = message()
    html_only.set_content(
        "<p>Hello<br>I cannot <b>sign in</b></p><script>alert(1)</script>", subtype="html"
    )
    email = parse_email(html_only.as_bytes())
    assert email.text == "Hello\nI cannot sign in"
    assert (email.sender, email.sender_name) == ("sara@example.org", "Sara")


def test_an_unknown_charset_is_read_without_failing() -> None:
    raw = (
        b"From: a@example.org\r\nTo: support@captainmama.org\r\nSubject: x\r\n"
        b"Content-Type: text/plain; charset=x-no-such-charset\r\n\r\n"
        b"Category: login\r\n\xff\xfe\r\n"
    )
    email = parse_email(raw)
    assert "Category: login" in email.text
    assert read_category(email.text) is Category.LOGIN


def test_arabic_in_windows_1256_is_decoded() -> None:
    built = message()
    built.set_content("الفئة: تسجيل الدخول", charset="cp1256")
    assert read_category(parse_email(built.as_bytes()).text) is Category.LOGIN


def test_a_message_without_a_sender_is_refused() -> None:
    with pytest.raises(MessageRefused):
        parse_email(b"Subject: hi\r\n\r\nbody")
    with pytest.raises(MessageRefused):
        parse_email(b"\x00\x01\x02 not an email at all")


def test_a_message_over_the_size_limit_is_refused() -> None:
    with pytest.raises(MessageRefused):
        parse_email(b"From: a@example.org\r\n\r\n" + b"x" * MAX_MESSAGE_BYTES)


def test_a_very_long_text_is_cut() -> None:
    built = message()
    built.set_content("word " * MAX_TEXT_CHARS)
    assert len(parse_email(built.as_bytes()).text) <= MAX_TEXT_CHARS + 10


def test_broken_multipart_still_yields_the_sender() -> None:
    raw = (
        b"From: a@example.org\r\nTo: support@captainmama.org\r\nSubject: x\r\n"
        b'Content-Type: multipart/mixed; boundary="nope"\r\n\r\nno parts here at all\r\n'
    )
    assert parse_email(raw).sender == "a@example.org"


def test_language_follows_the_letters_used() -> None:
    arabic, english = message(), message()
    arabic.set_content("لا أستطيع الدخول إلى حسابي")
    english.set_content("I cannot sign in to my account")
    assert parse_email(arabic.as_bytes()).language == "ar"
    assert parse_email(english.as_bytes()).language == "en"


@pytest.mark.parametrize(
    "headers",
    [
        {"Auto_Submitted": "auto-replied"},
        {"Precedence": "junk"},
        {"X_Autorespond": "1"},
        {"From": "MAILER-DAEMON@mx.example.org"},
    ],
)
def test_automatic_mail_is_recognised(headers: dict[str, str]) -> None:
    built = message(**headers)
    built.set_content("Out of office")
    assert parse_email(built.as_bytes()).automatic


def test_ordinary_mail_is_not_automatic() -> None:
    built = message(Auto_Submitted="no")
    built.set_content("Hello")
    assert not parse_email(built.as_bytes()).automatic


def test_envelope_recipients_win_over_headers() -> None:
    built = message(To="someone@example.org")
    built.set_content("x")
    email = parse_email(built.as_bytes(), ["Info@CaptainMama.org"])
    assert email.recipients == frozenset({"info@captainmama.org"})

"""The console's words, in Arabic and English, and how it writes instants and business time."""

from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache
from http import HTTPStatus
from zoneinfo import ZoneInfo

from markupsafe import Markup

from domain.attachment import Refusal
from domain.categories import Category
from domain.wording import AR_MONTHS, zone_name
from interfaces.web.messages import HTTP_STATUS_ARABIC

_WORDS: dict[str, tuple[str, str]] = {
    # the frame
    "desk": ("مكتب الدعم الفني", "Support desk"),
    "skip": ("تخطَّ إلى المحتوى", "Skip to content"),
    "signed_in_as": ("مسجّل الدخول باسم", "Signed in as"),
    "sign_out": ("تسجيل الخروج", "Sign out"),
    "other_language": ("English", "العربية"),
    "switch_language": ("Switch to English", "التبديل إلى العربية"),
    "main_nav": ("التنقل الرئيسي", "Main navigation"),
    "queue": ("قائمة التذاكر", "Queue"),
    "templates": ("الردود الجاهزة", "Canned responses"),
    "escalated": ("التذاكر المصعّدة", "Escalated tickets"),
    # signing in
    "sign_in": ("تسجيل الدخول", "Sign in"),
    "name": ("اسم المستخدم", "User name"),
    "password": ("كلمة المرور", "Password"),
    "code": ("رمز التحقق من تطبيق المصادقة", "Code from your authenticator app"),
    "wrong_login": ("اسم المستخدم أو كلمة المرور غير صحيحة.", "Wrong user name or password."),
    "wrong_code": ("رمز التحقق غير صحيح.", "Wrong code."),
    "enter_code": ("أدخل رمز التحقق لإتمام الدخول.", "Enter your code to finish signing in."),
    "second_factor_required": (
        "يلزم المشرفين التحقق بخطوتين؛ اطلب من مسؤول النظام إعداده لك.",
        "Supervisors need a second factor; ask an administrator to set it up.",
    ),
    "too_many_attempts": (
        "محاولات كثيرة غير ناجحة؛ انتظر قليلاً ثم أعد المحاولة.",
        "Too many failed attempts; wait a while and try again.",
    ),
    "form_expired": (
        "انتهت صلاحية النموذج أو لم يُرسل من هذه الصفحة؛ لم يُسجَّل شيء. أعد المحاولة.",
        "The form expired or was not sent from this page; nothing was recorded. Try again.",
    ),
    "no_ticket": ("لا توجد تذكرة بهذا الرقم المرجعي.", "No ticket has this reference."),
    "forbidden": ("دورك لا يسمح بفتح هذه الصفحة.", "Your role may not open this page."),
    "back_to_queue": ("العودة إلى قائمة التذاكر", "Back to the queue"),
    # the queue
    "mine": ("تذاكري", "Mine"),
    "unassigned": ("غير مسندة", "Unassigned"),
    "all_open": ("كل المفتوحة", "All open"),
    "at_risk": ("معرّضة للتأخر", "At risk"),
    "breached": ("متأخرة", "Breached"),
    "on_track": ("في الموعد", "On track"),
    "search": ("بحث", "Search"),
    "search_label": (
        "ابحث برقم مرجعي أو بريد أو كلمات",
        "Search by reference, email or words",
    ),
    "filters": ("تصفية", "Filters"),
    "status": ("الحالة", "Status"),
    "category": ("نوع المشكلة", "Category"),
    "course": ("الدورة أو الورشة", "Course or workshop"),
    "owner": ("المسؤول", "Owner"),
    "any": ("الكل", "Any"),
    "nobody": ("لا أحد", "Nobody"),
    "apply": ("تطبيق", "Apply"),
    "reference": ("الرقم المرجعي", "Reference"),
    "subject": ("الموضوع", "Subject"),
    "requester": ("مقدم الطلب", "Requester"),
    "actor_system:mailer": ("نظام البريد", "Mail system"),
    "actor_system:sla-watch": ("مراقبة المواعيد", "Deadline watch"),
    "sla": ("الالتزام بالموعد", "SLA"),
    "next_due": ("الموعد التالي", "Next due"),
    "time_left": ("الوقت المتبقي (ساعات عمل)", "Time left (business hours)"),
    "overdue_by": ("متأخرة بمقدار", "Overdue by"),
    "no_tickets": ("لا توجد تذاكر هنا.", "No tickets here."),
    "next_page": ("الصفحة التالية", "Next page"),
    "first_page": ("الصفحة الأولى", "First page"),
    "refresh": ("تحديث", "Refresh"),
    "updated": ("حُدّثت القائمة.", "The list was updated."),
    "results_for": ("نتائج البحث عن", "Results for"),
    # canned responses
    "new_template": ("ردّ جاهز جديد", "New canned response"),
    "template_id": (
        "المعرّف (حروف لاتينية صغيرة وأرقام وشرطات)",
        "Id (lower-case letters, digits, hyphens)",
    ),
    "title": ("العنوان", "Title"),
    "text_ar": ("النص بالعربية", "Arabic text"),
    "text_en": ("النص بالإنجليزية", "English text"),
    "placeholders": ("المتغيرات المتاحة في النص", "Placeholders the text may use"),
    "sets_complexity": ("يصنّف التذكرة", "Classifies the ticket as"),
    "no_change": ("لا يغيّر", "No change"),
    "simple": ("بسيطة", "Simple"),
    "complex": ("معقدة", "Complex"),
    "resolves": ("يحلّ التذكرة عند استخدامه", "Resolves the ticket when used"),
    "reason": ("سبب التغيير", "Reason for the change"),
    "save": ("حفظ", "Save"),
    "saved": ("حُفظ.", "Saved."),
    "retire": ("إيقاف الاستخدام", "Retire"),
    "retire_reason": ("سبب إيقاف الاستخدام", "Why it is retired"),
    "retired": ("موقوف", "Retired"),
    "retired_done": ("أوقف استخدام الرد.", "The response was retired."),
    "history": ("سجل التغييرات", "History"),
    "version": ("الإصدار", "Version"),
    "changed_by": ("بواسطة", "By"),
    "when": ("الوقت", "When"),
    "change": ("التغيير", "Change"),
    "Created": ("أُنشئ", "Created"),
    "Revised": ("عُدّل", "Revised"),
    "Retired": ("أُوقف", "Retired"),
    "template_changed_first": (
        "غيّر شخص آخر هذا الرد قبلك؛ لم يُحفظ شيء. هذا هو نصه الآن.",
        "Someone changed this response first; nothing was saved. This is how it reads now.",
    ),
    "no_templates": ("لا توجد ردود جاهزة بعد.", "No canned responses yet."),
    "edit": ("تعديل", "Edit"),
    "open": ("فتح", "Open"),
    "none_escalated": ("لا توجد تذاكر مصعّدة مفتوحة.", "No open escalated tickets."),
    # a ticket
    "acted_first": (
        "تصرّف شخص آخر في هذه التذكرة بعد فتحك الصفحة؛ لم يُسجَّل شيء. "
        "هذا ما تغيّر، وما كتبته باقٍ في النموذج.",
        "Someone acted on this ticket after you opened the page; nothing was recorded. "
        "This is what changed, and what you typed is still in the form.",
    ),
    "template_unusable": (
        "هذا الرد الجاهز غير موجود أو أوقف استخدامه.",
        "This canned response does not exist or was retired.",
    ),
    "ticket": ("التذكرة", "Ticket"),
    "details": ("بيانات التذكرة", "Details"),
    "email": ("البريد الإلكتروني", "Email"),
    "channel": ("القناة", "Channel"),
    "web_form": ("نموذج الدعم", "Support form"),
    "complexity": ("درجة التعقيد", "Complexity"),
    "deadlines": ("المواعيد", "Deadlines"),
    "first_response": ("الرد الأول", "First response"),
    "resolution": ("الحل", "Resolution"),
    "met_or_done": ("انتهى", "Done"),
    "conversation": ("المحادثة", "Conversation"),
    "internal": ("داخلي — لا يراه مقدم الطلب", "Internal — the requester never sees this"),
    "seen_by_requester": ("يراه مقدم الطلب", "Seen by the requester"),
    "not_verified": ("لم يُتحقق من المرسل", "Sender not verified"),
    "from_template": ("من الرد الجاهز", "From the canned response"),
    "actions": ("الإجراءات", "Actions"),
    "respond": ("الرد على مقدم الطلب", "Reply to the requester"),
    "message": ("نص الرد", "Message"),
    "use_template": ("استخدام رد جاهز", "Use a canned response"),
    "choose_template": ("اختر رداً جاهزاً", "Choose a canned response"),
    "preview": ("معاينة", "Preview"),
    "preview_note": (
        "النص أدناه من الرد الجاهز بلغة التذكرة؛ عدّله إن شئت قبل الإرسال.",
        "The text below comes from the canned response in the ticket's language; edit it "
        "before sending if you wish.",
    ),
    "also_resolves": ("سيحلّ هذا الرد التذكرة أيضاً.", "This response also resolves the ticket."),
    "also_classifies": ("سيصنّف التذكرة أيضاً:", "It also classifies the ticket:"),
    "send": ("إرسال", "Send"),
    "note": ("ملاحظة داخلية", "Internal note"),
    "add_note": ("إضافة الملاحظة", "Add the note"),
    "ownership": ("المسؤولية عن التذكرة", "Ownership"),
    "take": ("تولَّ هذه التذكرة", "Take this ticket"),
    "release": ("تخلَّ عن التذكرة", "Release the ticket"),
    "assign": ("إسناد إلى", "Assign to"),
    "assign_button": ("إسناد", "Assign"),
    "classify": ("التصنيف", "Classify"),
    "classify_button": ("حفظ التصنيف", "Save the classification"),
    "extend": ("تمديد موعد الحل", "Extend the resolution time"),
    "new_due": ("الموعد الجديد (بتوقيت الرياض)", "New due time (Riyadh time)"),
    "extend_reason": ("السبب (يُرسل إلى مقدم الطلب)", "Reason (sent to the requester)"),
    "check_extension": ("عرض الموعد الجديد قبل الحفظ", "Show the new due time before saving"),
    "extension_shown": ("الموعد الجديد:", "The new due time:"),
    "business_from_now": ("ساعات عمل من الآن:", "Business hours from now:"),
    "confirm_extension": ("تأكيد التمديد", "Confirm the extension"),
    "escalate": ("التصعيد إلى الإدارة الإشرافية", "Escalate to supervisory management"),
    "escalate_reason": ("سبب التصعيد", "Why"),
    "agent": ("يحتاج قرار الإدارة", "Needs management's decision"),
    "requester_to_management": (
        "طلب مقدم الطلب رفعه للإدارة",
        "The requester asked for management",
    ),
    "escalate_note": ("ملاحظة للإدارة", "Note for management"),
    "escalate_button": ("تصعيد", "Escalate"),
    "forward": ("إحالة الاقتراح إلى الإدارة المختصة", "Forward the suggestion to management"),
    "department": ("الإدارة المختصة", "Department"),
    "forward_note": ("ملاحظة", "Note"),
    "forward_button": ("إحالة", "Forward"),
    "resolve": ("حل التذكرة", "Resolve"),
    "summary": (
        "ملخص الحل (يُرسل إلى مقدم الطلب)",
        "Summary of the solution (sent to the requester)",
    ),
    "resolve_button": ("حل التذكرة", "Resolve"),
    "reopen": ("إعادة فتح التذكرة", "Reopen"),
    "reopen_reason": ("سبب إعادة الفتح", "Why it is reopened"),
    "reopen_button": ("إعادة الفتح", "Reopen"),
    "done_respond": ("أُرسل الرد.", "The reply was sent."),
    "done_resolve": ("حُلّت التذكرة.", "The ticket was resolved."),
    "done_note": ("أضيفت الملاحظة.", "The note was added."),
    "done_take": ("أصبحت مسؤولاً عن التذكرة.", "You own this ticket now."),
    "done_release": ("لم تعد التذكرة مسندة.", "The ticket is unassigned."),
    "done_assign": ("أُسندت التذكرة.", "The ticket was assigned."),
    "done_classify": ("حُفظ التصنيف.", "The classification was saved."),
    "done_extend": ("مُدّد الموعد وأُبلغ مقدم الطلب.", "Extended; the requester is told."),
    "done_escalate": ("صُعّدت التذكرة.", "The ticket was escalated."),
    "done_forward": ("أحيل الاقتراح.", "The suggestion was forwarded."),
    "done_reopen": ("أعيد فتح التذكرة.", "The ticket was reopened."),
    "behind": (
        "المحادثة تُحدَّث؛ قد لا يظهر آخر ما سُجّل إلا بعد لحظات.",
        "The conversation is catching up; the newest entries may take a moment to appear.",
    ),
    "changed_since": ("ما تغيّر منذ فتحت الصفحة", "What changed since you opened the page"),
    # conversation kinds
    "kind_submitted": ("الطلب", "The request"),
    "kind_acknowledged": ("أُرسل إشعار الاستلام", "Receipt sent"),
    "kind_follow_up_received": ("متابعة من مقدم الطلب", "Follow-up from the requester"),
    "kind_details_supplied": ("استكمل مقدم الطلب البيانات", "The requester completed the details"),
    "kind_responded": ("رد", "Reply"),
    "kind_classified": ("صُنّفت", "Classified"),
    "kind_deadline_extended": ("مُدّد موعد الحل", "Resolution time extended"),
    "kind_escalated": ("صُعّدت", "Escalated"),
    "kind_forwarded_to_management": ("أحيلت إلى الإدارة", "Forwarded to management"),
    "kind_resolved": ("حُلّت", "Resolved"),
    "kind_reopened": ("أعيد فتحها", "Reopened"),
    "kind_assigned": ("أُسندت إلى", "Assigned to"),
    "kind_unassigned": ("لم تعد مسندة", "Unassigned"),
    "kind_note_added": ("ملاحظة داخلية", "Internal note"),
    "kind_deadline_at_risk": ("تنبيه: موعد معرّض للتأخر", "Warning: a deadline at risk"),
    "kind_files_attached": ("ملفات مرفقة", "Files attached"),
    "files_refused": ("لم تُحفظ", "Not kept"),
    "kilobytes": ("ك.ب", "KB"),
    "thumbnail_of": ("صورة مصغّرة من", "Thumbnail of"),
    "file_scriptable": (
        "(ملف PDF يحوي برامج نصية: يُنزَّل فقط)",
        "(a PDF with scripts: download only)",
    ),
    "attach_files": ("إرفاق ملفات (اختياري، حتى 5)", "Attach files (optional, up to 5)"),
    "file_over_limit": (
        "لم يُسجَّل شيء: الملف «{name}» لم يُقبل. {reason}",
        "Nothing was recorded: the file “{name}” was not accepted. {reason}",
    ),
    # statuses
    "status_new": ("جديدة", "New"),
    "status_acknowledged": ("تم الاستلام", "Acknowledged"),
    "status_in_progress": ("قيد المعالجة", "In progress"),
    "status_forwarded_to_management": ("أحيلت إلى الإدارة", "Forwarded to management"),
    "status_resolved": ("تم الحل", "Resolved"),
}


class Wording:
    """The console's words in one language: `t.queue`, `t.http_error(404)`, …"""

    def __init__(self, language: str) -> None:
        self.language = language
        self._index = 0 if language == "ar" else 1

    def __getattr__(self, key: str) -> str:
        try:
            return _WORDS[key][self._index]
        except KeyError:
            raise AttributeError(key) from None

    def word(self, key: str) -> str:
        """The word of `key`, or the key itself when the console has none (a new status)."""
        found = _WORDS.get(key)
        return found[self._index] if found else key

    def refusal(self, reason: str) -> str:
        """Why a file was not kept, in the viewer's language."""
        return Refusal(reason).explained("ar" if self._index == 0 else "en")

    def actor(self, name: str) -> str:
        """Who acted, as the viewer reads it: the requester and the desk's own processes in
        words, a member of the team by name."""
        if name == "requester":
            return self.requester
        return self.word(f"actor_{name}") if name.startswith("system:") else name

    def status(self, value: str) -> str:
        """A ticket status in words."""
        return self.word(f"status_{value}")

    def category(self, value: str | None) -> str:
        """A category in words; a dash when the requester did not say."""
        return Category(value).label(self.language) if value else "—"

    def http_error(self, code: int) -> str:
        """A short explanation of an HTTP error."""
        if self.language == "ar" and code in HTTP_STATUS_ARABIC:
            return HTTP_STATUS_ARABIC[code][1]
        try:
            return HTTPStatus(code).description or HTTPStatus(code).phrase
        except ValueError:
            return str(code)

    def when(self, instant: datetime | str | None, zone: ZoneInfo) -> Markup:
        """An instant (or its ISO 8601 text, as read models keep it) in the desk's time zone,
        as a `<time>` element; Arabic month names."""
        if instant is None:
            return Markup("—")
        if isinstance(instant, str):
            instant = datetime.fromisoformat(instant)
        local = instant.astimezone(zone)
        if self.language == "ar":
            words = f"{local.day} {AR_MONTHS[local.month - 1]} {local.year}، {local:%H:%M}"
        else:
            words = f"{local.day} {local:%b %Y}, {local:%H:%M}"
        return Markup('<time datetime="{}">{}</time>').format(local.isoformat(), words)

    def zone(self, zone: ZoneInfo) -> str:
        """How the time zone is named after a time."""
        return zone_name(zone, self.language)

    def hours(self, span: timedelta) -> str:
        """A span of business time in hours and minutes, e.g. `5 س 20 د` or `5 h 20 min`."""
        minutes = int(abs(span).total_seconds() // 60)
        h, m = divmod(minutes, 60)
        return f"{h} س {m:02d} د" if self.language == "ar" else f"{h} h {m:02d} min"


@cache
def wording(language: str) -> Wording:
    """The console's words in `language` ('ar' or 'en')."""
    return Wording("en" if language == "en" else "ar")

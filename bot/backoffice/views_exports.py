"""Case file PDF export."""
from __future__ import annotations

import asyncio
from types import ModuleType
from typing import TYPE_CHECKING

from aiohttp import web

from bot.backoffice import audit
from bot.backoffice.answers import answer_rows, checklist_key
from bot.backoffice.texts import staff_text as t
from bot.backoffice.views_cases import case_documents, case_pilgrim, checklist_view, load_case
from bot.backoffice.web_common import bo, current_staff, now_utc, path_int
from dialogues.case_letters import ITEM_PREFIX, templates_for

if TYPE_CHECKING:
    from bot.backoffice.pdf_export import ExportDocument

REGISTRY_FIELDS = ("nomor_porsi", "nama", "nik", "tanggal_lahir", "jenis_kelamin", "kecamatan", "kab_kota",
                   "provinsi", "status", "estimasi_tahun", "bank", "tanggal_daftar")


def pdf_export() -> ModuleType:
    """bot/backoffice/pdf_export, imported with the first export: pypdf and reportlab (~20 MB) are not loaded
    by a serving process whose staff never export a case file."""
    from bot.backoffice import pdf_export as module

    return module


def _fmt(value: object) -> str:
    if value is None or value == "":
        return "-"
    if isinstance(value, (list, tuple)):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_fmt(v)}" for k, v in value.items())
    return str(value)


async def case_pdf(request: web.Request) -> web.StreamResponse:
    context = bo(request)
    staff = current_staff(request)
    case_id = path_int(request, "case_id")
    now = now_utc()
    async with context.services.db.session() as session:
        case = await load_case(session, case_id)
        documents = await case_documents(session, case.id)
        pilgrim = await case_pilgrim(session, case)
        audit.record(session, f"staff:{staff.username}", "export.case_pdf", case_id=case.id)
        await session.commit()
    items = context.rules.checklist(case.service, case.variant, checklist_key(case.answers))
    checklist = checklist_view(items, documents)
    tz = context.rules.tz
    export = pdf_export()
    summary = export.CaseSummary(
        title=t("pdf_title", ticket=case.ticket),
        footer=t("pdf_generated", at=now.astimezone(tz).strftime("%d-%m-%Y %H.%M"), staff=staff.display_name,
                 office=context.services.settings.config.office.name),
        sections=[
            (t("pdf_case"), [(t("label_ticket"), case.ticket), (t("label_service"), case.service),
                             (t("label_variant"), _fmt(case.variant)), (t("label_status"), case.status),
                             (t("label_porsi"), _fmt(case.nomor_porsi)), (t("label_applicant"), _fmt(case.applicant_name)),
                             (t("label_submitted"), case.submitted_at.astimezone(tz).strftime("%d-%m-%Y %H.%M")
                              if case.submitted_at else "-"),
                             (t("label_closed"), case.closed_at.astimezone(tz).strftime("%d-%m-%Y %H.%M")
                              if case.closed_at else "-")]),
            (t("pdf_answers"), answer_rows(case.answers)),
            (t("pdf_registry"), [(f, _fmt(getattr(pilgrim, f))) for f in REGISTRY_FIELDS] if pilgrim else []),
            (t("pdf_checklist"), [(str(item["name"]), ", ".join(f"#{d.id} {d.status}" + (f" ({d.reject_reason})"
                                                                                        if d.reject_reason else "")
                                                               for d in item["docs"]) or t("label_none"))
                                  for item in checklist]),
        ])
    names = {str(item["key"]): str(item["name"]) for item in checklist}
    names.update({f"{ITEM_PREFIX}{t.key}": t.name for t in templates_for(context.services.engine, case)})
    exports: list[ExportDocument] = []
    for doc in documents:
        if doc.status == "replaced":
            continue
        try:
            data: bytes | None = await context.services.files.read(doc.sha256)
        except (OSError, ValueError):
            data = None
        exports.append(export.ExportDocument(t("pdf_doc_title", item=names.get(doc.item_key, doc.item_key),
                                        status=doc.status, id=doc.id), doc.content_type, data))
    pdf = await asyncio.to_thread(export.build_case_pdf, summary, exports, t("pdf_missing_file"), t("pdf_unreadable"))
    name = "".join(c for c in case.ticket if c.isalnum() or c in "-_")
    return web.Response(body=pdf, content_type="application/pdf", headers={
        "Content-Disposition": f'attachment; filename="berkas-{name}.pdf"'})

"""JSON shapes of cases and documents, shared by the integration API and the webhook."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from storage.models import Case, CaseDocument


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def document_json(doc: CaseDocument) -> dict[str, Any]:
    return {"id": doc.id, "item_key": doc.item_key, "content_type": doc.content_type, "size": doc.size,
            "sha256": doc.sha256, "page_count": doc.page_count, "status": doc.status,
            "reject_reason": doc.reject_reason, "created_at": iso(doc.created_at)}


def case_json(case: Case, documents: list[CaseDocument] | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "ticket": case.ticket, "service": case.service, "variant": case.variant, "status": case.status,
        "nomor_porsi": case.nomor_porsi, "applicant_name": case.applicant_name, "answers": case.answers or {},
        "assigned_staff_id": case.assigned_staff_id, "created_at": iso(case.created_at),
        "updated_at": iso(case.updated_at), "submitted_at": iso(case.submitted_at),
        "first_staff_action_at": iso(case.first_staff_action_at), "closed_at": iso(case.closed_at),
    }
    if documents is not None:
        data["documents"] = [document_json(d) for d in documents]
    return data

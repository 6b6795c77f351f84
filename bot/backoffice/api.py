"""Integration API (JSON, bearer tokens scoped read or write), mounted at /api/v1.

    GET  /api/v1/cases?status=&service=&updated_since=&limit=&offset=   (read)  with documents' metadata
    GET  /api/v1/cases/{ticket}                                         (read)  with documents' metadata
    GET  /api/v1/cases/{ticket}/documents/{id}                          (read)  the file, as an attachment
    POST /api/v1/cases/{ticket}/status  {"action": "approve"} or {"status": "approved"}, "text": "..." (write)
"""
from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timezone

from aiohttp import web
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.backoffice import audit
from bot.backoffice.case_actions import ActionError, change_status
from bot.backoffice.context import BACKOFFICE_KEY, Backoffice
from bot.backoffice.notify import wake_outbox
from bot.backoffice.serialize import case_json
from bot.backoffice.staff_accounts import token_hash
from bot.backoffice.states import STATUSES, TRANSITIONS, IllegalTransition, action_for_target
from bot.backoffice.views_documents import document_headers
from storage.models import ApiToken, Case, CaseDocument, Conversation

MAX_LIMIT = 500
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
TOKEN_KEY: web.RequestKey[ApiToken] = web.RequestKey("api_token", ApiToken)


def _error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def _bo(request: web.Request) -> Backoffice:
    return request.config_dict[BACKOFFICE_KEY]


@web.middleware
async def bearer_auth(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every API call needs an active token; writes need the write scope."""
    header = request.headers.get("Authorization", "")
    if not header.startswith("Bearer ") or len(header) > 200:
        return _error(401, "bearer token required")
    async with _bo(request).services.db.session() as session:
        token = (await session.execute(select(ApiToken).where(ApiToken.token_hash == token_hash(header[7:].strip()),
                                                              ApiToken.active.is_(True)))).scalar_one_or_none()
        if token is None:
            return _error(401, "invalid token")
        now = datetime.now(timezone.utc)
        if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
            token.last_used_at = now
            await session.commit()
    if request.method not in ("GET", "HEAD") and token.scope != "write":
        return _error(403, "token scope is read; write scope required")
    request[TOKEN_KEY] = token
    response = await handler(request)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _case_by_ticket(session: AsyncSession, ticket: str, lock: bool = False) -> Case:
    query = select(Case).where(Case.ticket == ticket[:20])
    if lock and session.bind is not None and session.bind.dialect.name == "postgresql":
        query = query.with_for_update()
    case = (await session.execute(query)).scalar_one_or_none()
    if case is None:
        raise web.HTTPNotFound(text=json.dumps({"error": "case not found"}), content_type="application/json")
    return case


async def list_cases(request: web.Request) -> web.Response:
    q = request.query
    query = select(Case)
    if q.get("status"):
        if q["status"] not in STATUSES:
            return _error(400, f"status must be one of {', '.join(STATUSES)}")
        query = query.where(Case.status == q["status"])
    if q.get("service"):
        query = query.where(Case.service == q["service"][:30])
    if q.get("updated_since"):
        try:
            since = datetime.fromisoformat(q["updated_since"])
        except ValueError:
            return _error(400, "updated_since must be an ISO 8601 date-time")
        if since.tzinfo is None:
            return _error(400, "updated_since needs a time zone offset")
        query = query.where(Case.updated_at >= since)
    try:
        limit = min(MAX_LIMIT, max(1, int(q.get("limit", "100"))))
        offset = max(0, int(q.get("offset", "0")))
    except ValueError:
        return _error(400, "limit and offset must be integers")
    async with _bo(request).services.db.session() as session:
        cases = (await session.execute(query.order_by(Case.id).limit(limit).offset(offset))).scalars().all()
        docs: dict[int, list[CaseDocument]] = {c.id: [] for c in cases}
        if cases:
            for doc in (await session.execute(select(CaseDocument).where(CaseDocument.case_id.in_(list(docs)))
                                              .order_by(CaseDocument.id))).scalars():
                docs[doc.case_id or 0].append(doc)
    return web.json_response({"cases": [case_json(c, docs[c.id]) for c in cases], "limit": limit, "offset": offset})


async def get_case(request: web.Request) -> web.Response:
    async with _bo(request).services.db.session() as session:
        case = await _case_by_ticket(session, request.match_info["ticket"])
        docs = (await session.execute(select(CaseDocument).where(CaseDocument.case_id == case.id)
                                      .order_by(CaseDocument.id))).scalars().all()
    return web.json_response({"case": case_json(case, list(docs))})


async def get_document(request: web.Request) -> web.StreamResponse:
    try:
        doc_id = int(request.match_info["doc_id"])
    except ValueError:
        return _error(404, "document not found")
    context = _bo(request)
    async with context.services.db.session() as session:
        case = await _case_by_ticket(session, request.match_info["ticket"])
        doc = await session.get(CaseDocument, doc_id)
    if doc is None or doc.case_id != case.id:
        return _error(404, "document not found")
    try:
        data = await context.services.files.read(doc.sha256)
    except (OSError, ValueError):
        return _error(404, "file missing from store")
    async with context.services.db.session() as session:
        audit.record(session, f"api:{request[TOKEN_KEY].name}", "document.download", case_id=case.id,
                     document_id=doc.id)
        await session.commit()
    return web.Response(body=data, headers=document_headers(doc, download=True))


async def change_case_status(request: web.Request) -> web.Response:
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "body is not valid JSON")
    if not isinstance(body, dict):
        return _error(400, "body must be a JSON object")
    action, target, text = body.get("action"), body.get("status"), body.get("text", "")
    if not isinstance(text, str):
        return _error(400, "text must be a string")
    slot = None
    if body.get("slot") is not None:
        try:
            slot = datetime.fromisoformat(str(body["slot"]))
        except ValueError:
            return _error(400, "slot must be an ISO 8601 date-time")
    context = _bo(request)
    token = request[TOKEN_KEY]
    async with context.services.db.session() as session:
        case = await _case_by_ticket(session, request.match_info["ticket"], lock=True)
        if action is None and isinstance(target, str):
            action = action_for_target(case.status, target)
            if action is None:
                return _error(409, f"cannot change status from {case.status} to {target}")
        if not isinstance(action, str) or action not in TRANSITIONS:
            return _error(400, f"action must be one of {', '.join(TRANSITIONS)}")
        try:
            await change_status(context, session, case, action, f"api:{token.name}", text=text, slot=slot)
        except IllegalTransition:
            return _error(409, f"action {action} not allowed from status {case.status}")
        except ActionError as exc:
            return _error(400, exc.code)
        await session.commit()
        conversation = await session.get(Conversation, case.conversation_id) if case.conversation_id else None
    wake_outbox(context.services, conversation)
    return web.json_response({"case": case_json(case)})


def create_api_app(context: Backoffice) -> web.Application:
    api = web.Application(middlewares=[bearer_auth])
    api[BACKOFFICE_KEY] = context
    api.router.add_get("/cases", list_cases)
    api.router.add_get("/cases/{ticket}", get_case)
    api.router.add_get("/cases/{ticket}/documents/{doc_id}", get_document)
    api.router.add_post("/cases/{ticket}/status", change_case_status)
    return api

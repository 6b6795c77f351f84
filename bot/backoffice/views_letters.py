"""Staff make a case's ready-to-sign letters again (after a correction of the answers, the registry or the
office letterhead): the new PDFs replace the old ones on the case and are sent to the pilgrim in the chat."""
from __future__ import annotations

import logging

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from bot.backoffice.notify import queue_replies, wake_outbox
from bot.backoffice.states import CLOSED_STATUSES
from bot.backoffice.views_cases import load_case
from bot.backoffice.web_common import PREFIX, bo, current_staff, form, now_utc, path_int, redirect
from dialogues.case_letters import letters_message, make_letters, templates_for
from dialogues.replies import Reply
from storage.models import Conversation

log = logging.getLogger(__name__)


async def regenerate_letters(request: web.Request) -> web.Response:
    context = bo(request)
    staff = current_staff(request)
    case_id = path_int(request, "case_id")
    await form(request)  # the CSRF check
    back = f"{PREFIX}/cases/{case_id}"
    engine = context.services.engine
    conversation: Conversation | None = None
    async with context.services.db.session() as session:
        case = await load_case(session, case_id, lock=True)
        if case.status in CLOSED_STATUSES or not templates_for(engine, case):
            return redirect(back, err="letters_unavailable")
        try:
            letters = await make_letters(engine, session, context.services.files, case, now_utc(),
                                         f"staff:{staff.username}")
        except SQLAlchemyError:
            raise
        except Exception as exc:  # noqa: BLE001 - rendering/storing comes before any write
            log.error("letters for case %s could not be made: %s", case.id, type(exc).__name__)
            return redirect(back, err="letters_failed")
        if case.conversation_id:
            conversation = await session.get(Conversation, case.conversation_id)
        if conversation is not None:
            reply = Reply(letters_message(engine, case, letters, "letters_regenerated"),
                          attachments=[g.attachment for g in letters])
            queue_replies(session, conversation, [reply], staff_id=staff.id)
        await session.commit()
    wake_outbox(context.services, conversation)
    return redirect(back, msg="done_letters" if conversation is not None else "done_letters_no_chat")

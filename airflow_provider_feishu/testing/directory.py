"""Two read-only lookups for ``call_api`` examples: one user (contact/v3) and the bot's chats (im/v1).

GET /open-apis/contact/v3/users/:user_id answers ``data.user``; GET /open-apis/im/v1/chats lists
the chats the app's bot is in, paged with ``page_size`` (default 20, at most 100) and
``page_token`` (Feishu docs: contact-v3/user/get, im-v1/chat/list).
"""

from __future__ import annotations

from .world import E_PARAM, USER_ID_TYPES, Result, World, im_error

# UNCONFIRMED: the code Feishu gives for a user outside the app's contact scope; 41050 is the one seen
# in public client logs ("no user authority error").
E_NO_USER_AUTHORITY = (41050, "no user authority error")
MAX_CHAT_PAGE = 100


def op_contact_user(world: World, user_id: str, query: dict[str, list[str]]) -> Result:
    id_type = query.get("user_id_type", ["open_id"])[0]
    if id_type not in USER_ID_TYPES:
        return im_error(E_PARAM, "user_id_type is invalid.")
    user = world.tenant.resolve_user(id_type, user_id)
    if user is None:
        return im_error(E_NO_USER_AUTHORITY)
    public = {k: user.get(k) for k in ("open_id", "user_id", "union_id", "name", "email", "department_ids")}
    return 200, {"code": 0, "msg": "success", "data": {"user": public}}


def op_chat_list(world: World, app_id: str, query: dict[str, list[str]]) -> Result:
    size_text = query.get("page_size", ["20"])[0]
    token = query.get("page_token", ["0"])[0] or "0"
    if not size_text.isdigit() or not 1 <= int(size_text) <= MAX_CHAT_PAGE or not token.isdigit():
        return im_error(E_PARAM, "page_size must be 1-100 and page_token one this API returned.")
    chats = [c for c in world.tenant.chats.values() if world.tenant.bot_in_chat(c, app_id)]
    start, size = int(token), int(size_text)
    page = chats[start : start + size]
    has_more = start + size < len(chats)
    items = [{"chat_id": c["chat_id"], "name": c.get("name", ""), "tenant_key": "emulator-tenant"} for c in page]
    data = {"items": items, "has_more": has_more, "page_token": str(start + size) if has_more else ""}
    return 200, {"code": 0, "msg": "success", "data": data}

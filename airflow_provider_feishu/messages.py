"""Message builders: text, rich-text post and interactive card, shaped for each Feishu API.

The same message travels in different shapes (Feishu docs: 发送消息内容结构, whose examples apply to im/v1
only, and 批量发送消息 for batch_send):

* ``message/v4/batch_send`` and custom-bot webhooks take JSON *objects*: text and post go in
  ``content`` (post wrapped as ``{"post": {lang: ...}}``), a card goes in a top-level ``card``.
* ``im/v1/messages`` takes ``content`` as a JSON *string*, with the post's language map directly
  (no ``post`` wrapper) and the card JSON itself.

Build a message once with :func:`text_message`, :func:`post_message` or :func:`card_message`
and ask it for the shape you need: :meth:`Message.batch_payload` / :meth:`Message.webhook_payload`
or :meth:`Message.im_content`. Pure functions and frozen dataclasses; no I/O, no Airflow.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from html import escape
from typing import Any, Literal

#: Card header colours Feishu accepts in ``header.template``.
CARD_TEMPLATES = (
    "blue",
    "wathet",
    "turquoise",
    "green",
    "yellow",
    "orange",
    "red",
    "carmine",
    "violet",
    "purple",
    "indigo",
    "grey",
    "default",
)

MsgType = Literal["text", "post", "interactive", "image", "share_chat"]


# --- mentions and post elements --------------------------------------------------------------


def mention(user_id: str, name: str = "") -> str:
    """An @mention for a text message: ``<at user_id="ou_x">Name</at>``; ``"all"`` mentions everyone."""
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValueError("mention needs a user id (an open_id such as ou_..., or 'all').")
    if user_id == "all":
        return f'<at user_id="all">{escape(name or "所有人", quote=False)}</at>'
    return f'<at user_id="{escape(user_id)}">{escape(name, quote=False)}</at>'


def mention_all(name: str = "所有人") -> str:
    """``<at user_id="all">所有人</at>``: @everyone in a group chat."""
    return mention("all", name)


def text_element(text: str, *, un_escape: bool = False) -> dict[str, Any]:
    """A plain-text run inside a post paragraph."""
    element: dict[str, Any] = {"tag": "text", "text": text}
    if un_escape:
        element["un_escape"] = True
    return element


def link_element(text: str, href: str) -> dict[str, Any]:
    """A hyperlink inside a post paragraph."""
    return {"tag": "a", "text": text, "href": href}


def at_element(user_id: str, user_name: str | None = None) -> dict[str, Any]:
    """An @mention inside a post paragraph (``"all"`` for everyone)."""
    if not isinstance(user_id, str) or not user_id.strip():
        raise ValueError("at_element needs a user id (an open_id such as ou_..., or 'all').")
    element: dict[str, Any] = {"tag": "at", "user_id": user_id}
    if user_name:
        element["user_name"] = user_name
    return element


def image_element(image_key: str) -> dict[str, Any]:
    """An image (uploaded earlier, by key) inside a post paragraph."""
    return {"tag": "img", "image_key": image_key}


# --- the message -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Message:
    """One message in a shape-neutral form: ``msg_type`` and its body object.

    ``body`` is the object as im/v1 wants it once decoded (``{"text": ...}``, the post language map,
    the card). The ``*_payload`` / ``im_content`` methods add the API-specific wrapping.
    """

    msg_type: MsgType
    body: Mapping[str, Any] = field(default_factory=dict)

    def batch_payload(self) -> dict[str, Any]:
        """Keyword arguments for batch_send: ``{"msg_type", "content"}`` or ``{"msg_type", "card"}``."""
        if self.msg_type == "interactive":
            return {"msg_type": "interactive", "card": dict(self.body)}
        if self.msg_type == "post":
            return {"msg_type": "post", "content": {"post": dict(self.body)}}
        return {"msg_type": self.msg_type, "content": dict(self.body)}

    def webhook_payload(self) -> dict[str, Any]:
        """A custom-bot webhook body (same object shapes as batch_send)."""
        return self.batch_payload()

    def im_content(self) -> str:
        """im/v1 ``content``: the body as a JSON string (post without a ``post`` wrapper)."""
        return json.dumps(dict(self.body), ensure_ascii=False, separators=(",", ":"))


def text_message(text: str, *, mentions: Iterable[str] = (), mention_everyone: bool = False) -> Message:
    """A text message; ``mentions`` (open_ids) and ``mention_everyone`` prepend @mentions."""
    if not isinstance(text, str):
        raise ValueError(f"text must be a string, got {type(text).__name__}.")
    prefix = [mention(uid) for uid in mentions]
    if mention_everyone:
        prefix.append(mention_all())
    full = " ".join([*prefix, text]) if prefix else text
    if not full.strip():
        raise ValueError("a text message needs some text.")
    return Message("text", {"text": full})


Paragraph = Sequence[Mapping[str, Any] | str]


def _paragraph(items: Paragraph) -> list[dict[str, Any]]:
    if isinstance(items, str):
        return [text_element(items)]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append(text_element(item))
        elif isinstance(item, Mapping) and isinstance(item.get("tag"), str):
            if item["tag"] == "md":
                raise ValueError("post elements may not use the 'md' tag (batch_send rejects it); use a card.")
            out.append(dict(item))
        else:
            raise ValueError(f"a post element must be a string or a dict with a 'tag', got {item!r:.60}.")
    return out


def post_message(
    title: str = "",
    paragraphs: Sequence[Paragraph] = (),
    *,
    language: str = "zh_cn",
    translations: Mapping[str, tuple[str, Sequence[Paragraph]]] | None = None,
) -> Message:
    """A rich-text post: paragraphs of elements (strings become text runs) per language.

    ``translations`` maps more languages (``en_us``, ``ja_jp``) to ``(title, paragraphs)``.
    """
    languages: dict[str, Any] = {}
    for lang, (lang_title, lang_paragraphs) in {language: (title, paragraphs), **(translations or {})}.items():
        content = [_paragraph(p) for p in lang_paragraphs]
        if not content and not lang_title:
            raise ValueError(f"post language {lang!r} has neither a title nor any paragraph.")
        languages[lang] = {"title": lang_title, "content": content}
    return Message("post", languages)


def card_message(
    title: str,
    lines: Iterable[str] = (),
    *,
    template: str = "blue",
    wide_screen: bool = True,
    extra_elements: Sequence[Mapping[str, Any]] = (),
) -> Message:
    """An interactive card: a coloured header and one markdown block per line (``lark_md``).

    :param template: header colour, one of :data:`CARD_TEMPLATES`.
    :param extra_elements: raw card elements appended after the markdown (buttons, notes...).
    """
    if template not in CARD_TEMPLATES:
        raise ValueError(f"card template must be one of {', '.join(CARD_TEMPLATES)}; got {template!r}.")
    if not isinstance(title, str) or not title.strip():
        raise ValueError("a card needs a title.")
    elements: list[dict[str, Any]] = [{"tag": "div", "text": {"tag": "lark_md", "content": line}} for line in lines]
    elements.extend(dict(e) for e in extra_elements)
    card = {
        "config": {"wide_screen_mode": wide_screen},
        "header": {"title": {"tag": "plain_text", "content": title}, "template": template},
        "elements": elements,
    }
    return Message("interactive", card)


def image_message(image_key: str) -> Message:
    """An image uploaded earlier, by its ``image_key``."""
    return Message("image", {"image_key": image_key})


def share_chat_message(chat_id: str) -> Message:
    """A group business card (``share_chat_id``)."""
    return Message("share_chat", {"share_chat_id": chat_id})


def raw_card_message(card: Mapping[str, Any] | str) -> Message:
    """A card given as JSON (a dict, or a JSON string as a template renders it), or a template
    reference ``{"type": "template", "data": {...}}``."""
    if isinstance(card, str):
        try:
            card = json.loads(card)
        except ValueError:
            raise ValueError("card must be a dict or a JSON object string.") from None
    if not isinstance(card, Mapping):
        raise ValueError(f"card must be a JSON object, got {type(card).__name__}.")
    return Message("interactive", dict(card))

"""Message builders: one message, the right shape for batch_send / webhooks and for im/v1."""

from __future__ import annotations

import json

import pytest

from airflow_provider_feishu import messages


def test_text_with_mentions():
    msg = messages.text_message("please read", mentions=["ou_a"], mention_everyone=True)
    assert msg.batch_payload() == {
        "msg_type": "text",
        "content": {"text": '<at user_id="ou_a"></at> <at user_id="all">所有人</at> please read'},
    }
    assert json.loads(msg.im_content()) == msg.batch_payload()["content"]
    assert messages.mention("ou_b", "Li <Wei>") == '<at user_id="ou_b">Li &lt;Wei&gt;</at>'


def test_post_shapes_differ_per_api():
    msg = messages.post_message(
        "Title",
        [["Hello ", messages.at_element("ou_a", "Li"), messages.link_element("docs", "https://x")], "second"],
        translations={"en_us": ("Title", ["hi"])},
    )
    batch = msg.batch_payload()
    assert batch["msg_type"] == "post"
    assert set(batch["content"]) == {"post"}  # batch_send / webhook wrap the language map
    zh = batch["content"]["post"]["zh_cn"]
    assert zh["content"][0][1] == {"tag": "at", "user_id": "ou_a", "user_name": "Li"}
    assert zh["content"][1] == [{"tag": "text", "text": "second"}]
    im = json.loads(msg.im_content())
    assert set(im) == {"zh_cn", "en_us"}  # im/v1: the language map itself, as a JSON string
    assert msg.webhook_payload() == batch


def test_post_rejects_md_and_empty():
    with pytest.raises(ValueError, match="md"):
        messages.post_message("T", [[{"tag": "md", "text": "**x**"}]])
    with pytest.raises(ValueError):
        messages.post_message("", [])


def test_card_is_top_level_for_batch_and_content_for_im():
    msg = messages.card_message("Build failed", ["**dag** x", "see log"], template="red")
    batch = msg.batch_payload()
    assert set(batch) == {"msg_type", "card"}
    card = batch["card"]
    assert card["header"] == {"title": {"tag": "plain_text", "content": "Build failed"}, "template": "red"}
    assert card["elements"][0] == {"tag": "div", "text": {"tag": "lark_md", "content": "**dag** x"}}
    assert json.loads(msg.im_content()) == card
    with pytest.raises(ValueError, match="template"):
        messages.card_message("T", template="pink")


def test_raw_card_from_rendered_json_string():
    msg = messages.raw_card_message('{"type": "template", "data": {"template_id": "ctp_1"}}')
    assert msg.batch_payload()["card"]["data"]["template_id"] == "ctp_1"
    with pytest.raises(ValueError):
        messages.raw_card_message("not json")


def test_image_and_share_chat():
    assert messages.image_message("img_1").batch_payload() == {"msg_type": "image", "content": {"image_key": "img_1"}}
    assert messages.share_chat_message("oc_1").batch_payload()["content"] == {"share_chat_id": "oc_1"}

"""FeishuSendFileOperator: upload a local file (or image) and send it to a chat or a person.

Two calls: the upload (im/v1 images or files) and the send (im/v1 messages) with an idempotency
``uuid`` derived from the task instance. A retried task may upload again (Feishu keeps an unused
copy, nobody sees it) but delivers the message at most once within the hour.
Only ``airflow.sdk`` and light modules are imported at module level (DAG files import this).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_feishu.version_compat import AirflowFailException

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_feishu.hooks.feishu import FeishuHook

UPLOAD_KEY_XCOM = "upload_key"


class FeishuSendFileOperator(BaseOperator):
    """Uploads a local file and sends it as a file (or image) message; returns the ``message_id``.

    The key Feishu gave the upload (``file_...`` or ``img_...``) is pushed to XCom under
    ``upload_key``. Files are at most 30 MB and images at most 10 MB (JPEG, PNG, WEBP, GIF, BMP,
    ICO, TIFF, HEIC); both are checked before anything is sent.

    :param file_path: the local file to send (templated).
    :param receive_id: the user (open_id, user_id, union_id, email) or chat (chat_id) id (templated).
    :param receive_id_type: which kind of id ``receive_id`` is (templated).
    :param as_image: upload it as an image and send an image message (shown inline) instead of a file.
    :param file_name: the name recipients see (templated); default: the file's own name.
    :param file_type: Feishu's file type (opus, mp4, pdf, doc, xls, ppt, stream); default: from the
        extension (``stream`` for anything else, such as csv or zip).
    :param duration: length in milliseconds, for opus and mp4 files.
    :param uuid: an explicit idempotency key (<= 50 chars); ``None`` derives one from the task instance.
    :param feishu_conn_id: the ``feishu`` connection.
    """

    template_fields: Sequence[str] = ("file_path", "receive_id", "receive_id_type", "file_name", "uuid")
    ui_color = "#d6ecff"

    def __init__(
        self,
        *,
        file_path: str | os.PathLike[str] | Any,
        receive_id: str,
        receive_id_type: str = "open_id",
        as_image: bool = False,
        file_name: str | None = None,
        file_type: str | None = None,
        duration: int | None = None,
        uuid: str | None = None,
        feishu_conn_id: str = "feishu_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if as_image and (file_type is not None or duration is not None):
            raise ValueError("file_type and duration are for files; an image (as_image=True) takes neither.")
        self.file_path = file_path  # may be an XComArg or a template until rendered
        self.receive_id = receive_id
        self.receive_id_type = receive_id_type
        self.as_image = as_image
        self.file_name = file_name
        self.file_type = file_type
        self.duration = duration
        self.uuid = uuid
        self.feishu_conn_id = feishu_conn_id

    @cached_property
    def hook(self) -> FeishuHook:
        from airflow_provider_feishu.hooks.feishu import FeishuHook

        return FeishuHook(feishu_conn_id=self.feishu_conn_id)

    def execute(self, context: Context) -> str:
        from airflow_provider_feishu.api.errors import FeishuError
        from airflow_provider_feishu.api.uploads import file_type_for, msg_type_for_file
        from airflow_provider_feishu.operators.send import task_instance_uuid
        from airflow_provider_feishu.threshold import is_permanent_error

        uuid = self.uuid or task_instance_uuid(context)
        if not isinstance(self.file_path, (str, os.PathLike)) or not str(self.file_path).strip():
            raise AirflowFailException(f"file_path rendered to {self.file_path!r:.100}; pass the path of a local file.")
        path = os.fspath(self.file_path)
        name = self.file_name or os.path.basename(path)
        try:
            if self.as_image:
                key = self.hook.upload_image(path)
                msg_type, content = "image", {"image_key": key}
            else:
                file_type = self.file_type or file_type_for(name)
                key = self.hook.upload_file(path, file_type, file_name=name, duration=self.duration)
                msg_type, content = msg_type_for_file(file_type), {"file_key": key}
            self.log.info("Uploaded %s as %s; sending it to %s %s", name, key, self.receive_id_type, self.receive_id)
            context["ti"].xcom_push(key=UPLOAD_KEY_XCOM, value=key)
            sent = self.hook.send_message(
                self.receive_id, msg_type, content, receive_id_type=self.receive_id_type, uuid=uuid
            )
        except FeishuError as err:
            if is_permanent_error(err):
                raise AirflowFailException(str(err)) from None
            raise
        self.log.info("Message %s sent", sent.message_id)
        return sent.message_id

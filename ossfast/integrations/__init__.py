"""ossfast as the backend of the official OSS SDKs.

``ossfast.integrations.oss2``: oss2's ``Service.write_get_object_response`` through
ossfast, and ``patch()``/``unpatch()`` to make it the process default.
``ossfast.integrations.oss_v2``: ``SignerV1``/``SignerV4`` for alibabacloud-oss-v2,
and the WriteGetObjectResponse that SDK lacks.

Each submodule imports its SDK (install ``ossfast[oss2]`` or ``ossfast[oss-v2]``);
this package itself imports neither, and ``import ossfast`` never imports it.
"""

__all__ = ["oss2", "oss_v2"]

"""ossfast as the backend of the official OSS SDKs.

``ossfast.integrations.oss2``: oss2's ``Service.write_get_object_response`` through
ossfast, ``patch()``/``unpatch()`` to make it the process default, and ``Session()``: any
oss2 operation over ossfast's transport.
``ossfast.integrations.oss_v2``: ``HttpClient``/``AsyncHttpClient`` (any alibabacloud-oss-v2
operation over ossfast's transport), ``SignerV1``/``SignerV4``, and the
WriteGetObjectResponse that SDK lacks.

Each submodule imports its SDK (install ``ossfast[oss2]`` or ``ossfast[oss-v2]``);
this package itself imports neither, and ``import ossfast`` never imports it.
"""

__all__ = ["oss2", "oss_v2"]

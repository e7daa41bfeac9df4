"""Start moto's server with two S3 response fixes that aws-sdk-rust needs.

moto 5.2.5 serializes a few S3 responses under the root element
`<Operation>Response` when its service model has no result wrapper for them.
botocore ignores the root element's name; aws-sdk-rust checks it and fails to
parse. This launcher renames the root element for the operations s3seal uses,
then runs `moto.server.main()` with the command-line arguments it was given
(for example `-H 127.0.0.1 -p PORT -c server.pem -k server.key`).

Used by scripts/local-aws.sh; see docs/LOCAL-AWS.md.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping
from typing import Any

# Operation name -> root element name that the S3 API (and aws-sdk-rust) uses.
S3_ROOT_ELEMENTS = {
    "GetBucketVersioning": "VersioningConfiguration",
    "ListParts": "ListPartsResult",
}


def patch_s3_serializer() -> None:
    from moto.core import serialize

    serializer = getattr(serialize, "S3Serializer", None)
    original = getattr(serializer, "_serialize_body", None)
    if serializer is None or original is None:
        # A moto that no longer has these names needs this launcher revisited.
        sys.exit("moto_launcher: moto.core.serialize.S3Serializer._serialize_body not found")

    def _serialize_body(self: Any, body: Any) -> str:
        operation = getattr(getattr(self, "operation_model", None), "name", None)
        root = S3_ROOT_ELEMENTS.get(operation or "")
        wrong = f"{operation}Response"
        if root is not None and isinstance(body, Mapping) and list(body) == [wrong]:
            body = {root: body[wrong]}
        return original(self, body)

    serializer._serialize_body = _serialize_body


def main() -> None:
    patch_s3_serializer()
    import moto.server

    print(f"moto_launcher: patched S3 root elements {S3_ROOT_ELEMENTS}", flush=True)
    moto.server.main(sys.argv[1:])


if __name__ == "__main__":
    main()

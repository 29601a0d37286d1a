"""Signs requests with Huawei's official SDK signer (huaweicloudsdkcore) as an oracle.

Reads a JSON list of requests on stdin, prints a JSON list of Authorization values.
"""
import json
import sys

from huaweicloudsdkcore.sdk_request import SdkRequest
from huaweicloudsdkcore.signer.signer import Signer


class Credentials:
    def __init__(self, ak, sk):
        self.ak = ak
        self.sk = sk


out = []
for case in json.load(sys.stdin):
    request = SdkRequest(
        method=case["method"],
        schema="https",
        host=case["host"],
        resource_path=case["path"],
        query_params=[tuple(p) for p in case["query"]],
        header_params=dict(case["headers"]),
        body=case["body"].encode() if case["body"] else None,
    )
    Signer(Credentials(case["ak"], case["sk"])).sign(request)
    out.append(request.header_params["Authorization"])
json.dump(out, sys.stdout)

"""Prints the region tables of Huawei's official SDK for RDS and IAM as JSON.

{"rds": {"<region>": ["<endpoint>", ...]}, "iam": {...}, "versions": {...}}: each
service's static table as the SDK ships it (`static_fields`), not what environment
variables or profiles would override at run time.
"""
import json
from importlib.metadata import version

from huaweicloudsdkiam.v3.region.iam_region import IamRegion
from huaweicloudsdkrds.v3.region.rds_region import RdsRegion

tables = {
    name: {region: list(entry.endpoints) for region, entry in cls.static_fields.items()}
    for name, cls in (("rds", RdsRegion), ("iam", IamRegion))
}
tables["versions"] = {p: version(p) for p in ("huaweicloudsdkrds", "huaweicloudsdkiam")}
print(json.dumps(tables))

"""Huawei's official Python SDK as an independent client of hwrds-emulator.

Usage: emulator_client.py URL AK SK PROJECT_ID INSTANCE_ID
Lists instances, submits a minor upgrade, follows the job to Completed (every response
parsed into the SDK's own models), then checks that a wrong secret is refused with 401.
Prints one JSON object with what it saw.
"""
import json
import sys
import time

from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions import exceptions
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkrds.v3 import (
    ListInstancesRequest,
    ListTasksRequest,
    RdsClient,
    ListJobInfoRequest,
    UpgradeDbVersionNewRequest,
    CustomerUpgradeDatabaseVersionReqNew,
)

url, ak, sk, project_id, instance_id = sys.argv[1:6]


def client(secret):
    config = HttpConfig.get_default_config()
    config.retry_times = 0
    return (
        RdsClient.new_builder()
        .with_http_config(config)
        .with_credentials(BasicCredentials(ak, secret, project_id))
        .with_endpoints([url])
        .build()
    )


rds = client(sk)
seen = {}
listed = rds.list_instances(ListInstancesRequest())
seen["instances"] = [i.id for i in listed.instances]
seen["total_count"] = listed.total_count
target = [i for i in listed.instances if i.id == instance_id][0]
seen["version_before"] = target.datastore.complete_version
seen["nodes"] = [(n.role, n.availability_zone) for n in target.nodes]

body = CustomerUpgradeDatabaseVersionReqNew(is_delayed=False)
job_id = rds.upgrade_db_version_new(
    UpgradeDbVersionNewRequest(instance_id=instance_id, body=body)
).job_id
seen["job_id"] = job_id

statuses = []
for _ in range(200):
    job = rds.list_job_info(ListJobInfoRequest(id=job_id)).job
    statuses.append(job.status)
    if job.status in ("Completed", "Failed"):
        break
    time.sleep(0.1)
seen["statuses"] = statuses
tasks = rds.list_tasks(ListTasksRequest(instance_id=instance_id))
seen["tasks"] = [(t.id, t.status) for t in tasks.tasks]
after = rds.list_instances(ListInstancesRequest(id=instance_id)).instances[0]
seen["version_after"] = after.datastore.complete_version

try:
    client("wrong-secret").list_instances(ListInstancesRequest())
    seen["wrong_secret"] = "accepted"
except exceptions.ClientRequestException as e:
    seen["wrong_secret"] = [e.status_code, e.error_code]

json.dump(seen, sys.stdout)

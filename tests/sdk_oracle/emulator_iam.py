"""Huawei's official Python SDK (huaweicloudsdkiam) getting temporary credentials from
hwrds-emulator's IAM, then calling RDS with them (huaweicloudsdkrds).

Usage: emulator_iam.py URL AK SK DOMAIN_ID PROJECT_ID ID_TOKEN
Assumes the agency `rds-upgrader` of account `ops` with the main AK/SK (domain-level
credentials, as the SDK signs IAM calls), then exchanges ID_TOKEN (identity provider
`github`) for an IAM token and that for temporary keys; with each set of temporary keys
lists the RDS instances. Every answer is parsed by the SDK's own models (its strict
`expires_at` parsing included). Prints one JSON object with what it saw.
"""
import json
import sys

from huaweicloudsdkcore.auth.credentials import BasicCredentials, GlobalCredentials
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkiam.v3 import (
    AgencyAuth,
    AgencyAuthIdentity,
    CreateTemporaryAccessKeyByAgencyRequest,
    CreateTemporaryAccessKeyByAgencyRequestBody,
    CreateTemporaryAccessKeyByTokenRequest,
    CreateTemporaryAccessKeyByTokenRequestBody,
    CreateTokenWithIdTokenRequest,
    GetIdTokenAuthParams,
    GetIdTokenIdTokenBody,
    GetIdTokenRequestBody,
    IamClient,
    IdentityAssumerole,
    IdentityToken,
    TokenAuth,
    TokenAuthIdentity,
)
from huaweicloudsdkrds.v3 import ListInstancesRequest, RdsClient

url, ak, sk, domain_id, project_id, id_token = sys.argv[1:7]


def config():
    c = HttpConfig.get_default_config()
    c.retry_times = 0
    return c


iam = (
    IamClient.new_builder()
    .with_http_config(config())
    .with_credentials(GlobalCredentials(ak, sk, domain_id))
    .with_endpoints([url])
    .build()
)


def rds_with(credential):
    credentials = BasicCredentials(
        credential.access, credential.secret, project_id
    ).with_security_token(credential.securitytoken)
    return (
        RdsClient.new_builder()
        .with_http_config(config())
        .with_credentials(credentials)
        .with_endpoints([url])
        .build()
    )


seen = {}

agency = iam.create_temporary_access_key_by_agency(
    CreateTemporaryAccessKeyByAgencyRequest(
        body=CreateTemporaryAccessKeyByAgencyRequestBody(
            auth=AgencyAuth(
                identity=AgencyAuthIdentity(
                    methods=["assume_role"],
                    assume_role=IdentityAssumerole(
                        agency_name="rds-upgrader",
                        domain_name="ops",
                        duration_seconds=900,
                    ),
                )
            )
        )
    )
).credential
seen["agency_expires_at"] = agency.expires_at
listed = rds_with(agency).list_instances(ListInstancesRequest())
seen["agency_instances"] = [i.id for i in listed.instances]

federated = iam.create_token_with_id_token(
    CreateTokenWithIdTokenRequest(
        x_idp_id="github",
        body=GetIdTokenRequestBody(
            auth=GetIdTokenAuthParams(id_token=GetIdTokenIdTokenBody(id=id_token))
        ),
    )
)
seen["token_methods"] = federated.token.methods
oidc = iam.create_temporary_access_key_by_token(
    CreateTemporaryAccessKeyByTokenRequest(
        body=CreateTemporaryAccessKeyByTokenRequestBody(
            auth=TokenAuth(
                identity=TokenAuthIdentity(
                    methods=["token"],
                    token=IdentityToken(id=federated.x_subject_token, duration_seconds=900),
                )
            )
        )
    )
).credential
seen["oidc_expires_at"] = oidc.expires_at
listed = rds_with(oidc).list_instances(ListInstancesRequest())
seen["oidc_instances"] = [i.id for i in listed.instances]

json.dump(seen, sys.stdout)

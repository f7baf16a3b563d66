"""Service Quotas for the quotas a failover uses up: EFS file systems and mount targets.

moto answers Service Quotas for the `vpc` service code only (NoSuchResourceException for
any other). The emulator answers GetServiceQuota and GetAWSDefaultServiceQuota for the
EFS quotas the preflight reads (controller.preflight), per account and region, with
AWS's published defaults; a test sets an applied value (`Emulator.set_service_quota`,
`POST /_emulator/service-quotas`) to stand for an account whose quota is nearly used up.
An unknown EFS quota code is NoSuchResourceException, as AWS answers; every other
service code goes on to moto untouched. This module must not count usage: Service
Quotas reports limits, and the caller counts what it holds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsError, AwsRequest, Reply, json_reply
from controller.emulator.sagemaker_store import partition_of

SERVICE = "service-quotas"
EFS_CODE = "elasticfilesystem"


@dataclass(frozen=True)
class KnownQuota:
    name: str
    default: float
    adjustable: bool


# AWS's defaults (Service Quotas, "Amazon Elastic File System (EFS)").
KNOWN: dict[tuple[str, str], KnownQuota] = {
    (EFS_CODE, "L-848C634D"): KnownQuota("File systems per account", 1000.0, True),
    (EFS_CODE, "L-7391004C"): KnownQuota("Mount targets per VPC", 400.0, False),
}


class ServiceQuotas:
    """GetServiceQuota / GetAWSDefaultServiceQuota for the quotas in KNOWN."""

    def __init__(self, gateway: MotoGateway) -> None:
        self.gateway = gateway
        self._applied: dict[tuple[str, str, str, str], float] = {}
        self._lock = threading.Lock()

    def handle(self, request: AwsRequest) -> Reply | None:
        if request.service != SERVICE or request.operation not in (
                "GetServiceQuota", "GetAWSDefaultServiceQuota"):
            return None
        body = request.json()
        service_code, quota_code = str(body.get("ServiceCode")), str(body.get("QuotaCode"))
        if service_code != EFS_CODE:
            return None  # moto's (vpc), or its NoSuchResourceException
        known = KNOWN.get((service_code, quota_code))
        if known is None:
            raise AwsError("NoSuchResourceException",
                           f"The request failed because the specified quota {quota_code} "
                           f"does not exist for service {service_code}.")
        account = self.gateway.account_of(request.access_key,
                                          request.headers.get("x-moto-account-id"))
        value = known.default
        if request.operation == "GetServiceQuota":
            with self._lock:
                value = self._applied.get((account, request.region, service_code, quota_code),
                                          known.default)
        return json_reply({"Quota": _quota(account, request.region, service_code, quota_code,
                                           known, value)})

    def set_applied(self, account: str, region: str, service_code: str, quota_code: str,
                    value: float) -> None:
        if (service_code, quota_code) not in KNOWN:
            raise ValueError(f"the emulator knows no quota {service_code}/{quota_code}; "
                             f"it answers {sorted('/'.join(k) for k in KNOWN)}")
        if value < 0:
            raise ValueError("a quota value must be >= 0")
        with self._lock:
            self._applied[(account, region, service_code, quota_code)] = float(value)

    def reset(self) -> None:
        with self._lock:
            self._applied.clear()


def _quota(account: str, region: str, service_code: str, quota_code: str, known: KnownQuota,
           value: float) -> dict[str, Any]:
    return {
        "ServiceCode": service_code,
        "ServiceName": "Amazon Elastic File System (EFS)",
        "QuotaArn": f"arn:{partition_of(region)}:servicequotas:{region}:{account}:{service_code}/"
                    f"{quota_code}",
        "QuotaCode": quota_code,
        "QuotaName": known.name,
        "Value": value,
        "Unit": "None",
        "Adjustable": known.adjustable,
        "GlobalQuota": False,
    }

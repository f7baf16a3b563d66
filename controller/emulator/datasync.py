"""AWS DataSync for EFS-to-EFS transfers, answered by the emulator (moto's own DataSync
backend is never reached for the operations listed here).

Locations are EFS locations only, created in their file system's region (the file
system, subnet, security groups and access point must exist there; an access point or a
file system access role needs InTransitEncryption TLS1_2). A task lives in one region;
one of its two locations must be in that region, the other may be in another region of
the same account (a transfer across regions). Options are checked against the model's
enums (validation.py) and here against the documented combinations. At most 100 tasks
per account and region (the service quota), one execution running per task. An
execution really copies between the locations' folders in a background thread
(datasync_copy.py) and moves QUEUED, LAUNCHING, PREPARING, TRANSFERRING, VERIFYING, then
SUCCESS or ERROR (a cancelled one ends in ERROR too). Every error is
InvalidRequestException, the only client error the API declares. This module must not
copy files itself.
"""

from __future__ import annotations

import re
import secrets
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from controller.emulator.datasync_run import Execution, ExecutionRunner
from controller.emulator.efs_store import EfsFolders
from controller.emulator.lifecycle import EmulatorConfig, epoch
from controller.emulator.moto_gateway import MotoGateway
from controller.emulator.protocol import AwsError, AwsRequest, Reply, json_reply

TASK_QUOTA = 100
_EFS_ARN = re.compile(r"arn:aws[a-z-]*:elasticfilesystem:([a-z0-9-]+):(\d{12}):"
                      r"(file-system/fs-[0-9a-f]+|access-point/fsap-[0-9a-f]+)")
_EC2_ARN = re.compile(r"arn:aws[a-z-]*:ec2:([a-z0-9-]+):(\d{12}):(subnet|security-group)/(.+)")
# A role ARN as IAM makes it (path and name of IAM's characters; the name 1..64 long):
# the model's pattern, role/.*, would take "role/" alone.
_ROLE_ARN = re.compile(r"arn:aws[a-z-]*:iam::(\d{12}):role/(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}")
_DS_ARN = re.compile(r"arn:aws[a-z-]*:datasync:([a-z0-9-]+):(\d{12}):"
                     r"(location/loc-|task/task-)[0-9a-f]{17}(/execution/exec-[0-9a-f]{17})?")
OPERATIONS = {"CreateLocationEfs", "DescribeLocationEfs", "ListLocations", "DeleteLocation",
              "CreateTask", "DescribeTask", "ListTasks", "DeleteTask", "StartTaskExecution",
              "DescribeTaskExecution", "ListTaskExecutions", "CancelTaskExecution",
              "TagResource", "UntagResource", "ListTagsForResource"}
OPTION_DEFAULTS = {
    "VerifyMode": "POINT_IN_TIME_CONSISTENT", "OverwriteMode": "ALWAYS", "Atime": "BEST_EFFORT",
    "Mtime": "PRESERVE", "Uid": "INT_VALUE", "Gid": "INT_VALUE", "PreserveDeletedFiles":
    "PRESERVE", "PreserveDevices": "NONE", "PosixPermissions": "PRESERVE", "BytesPerSecond": -1,
    "TaskQueueing": "ENABLED", "LogLevel": "OFF", "TransferMode": "CHANGED",
    "SecurityDescriptorCopyFlags": "NONE", "ObjectTags": "PRESERVE"}


def bad(message: str) -> AwsError:
    return AwsError("InvalidRequestException", message)


@dataclass
class DataSyncState:
    lock: threading.Lock = field(default_factory=threading.Lock)
    locations: dict[str, dict[str, Any]] = field(default_factory=dict)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    executions: dict[str, Execution] = field(default_factory=dict)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)


class DataSync:
    def __init__(self, config: EmulatorConfig, gateway: MotoGateway, folders: EfsFolders,
                 region_down: Callable[[str, str], bool] = lambda region, service: False):
        self.config = config
        self.gateway = gateway
        self.state = DataSyncState()
        self.runner = ExecutionRunner(config, folders, self.state.lock, region_down)

    def executions(self) -> list[dict[str, Any]]:
        """Every execution since the last reset, as DescribeTaskExecution answers it."""
        with self.state.lock:
            return [e.describe() for e in self.state.executions.values()]

    def handle(self, request: AwsRequest) -> Reply | None:
        if request.service != "datasync" or request.operation not in OPERATIONS:
            return None
        account = self.gateway.account_of(request.access_key,
                                          request.headers.get("x-moto-account-id"))
        answer = getattr(self, "_" + request.operation)(account, request.region, request.json())
        return json_reply(answer)

    def reset(self) -> None:
        with self.state.lock:
            for execution in self.state.executions.values():
                execution.cancel = True
            self.state.locations.clear()
            self.state.tasks.clear()
            self.state.executions.clear()
            self.state.tags.clear()
        self.runner.bytes_per_second = 0.0

    # -- locations -------------------------------------------------------------------------
    def _CreateLocationEfs(self, account: str, region: str, body: dict[str, Any]) -> Any:
        fs_arn = body["EfsFilesystemArn"]
        fs_id = self._own(_EFS_ARN, fs_arn, account, region, "EFS file system").rpartition("/")[2]
        efs = self.gateway.client("efs", region, account)
        try:
            efs.describe_file_systems(FileSystemId=fs_id)
        except efs.exceptions.FileSystemNotFound:
            raise bad(f"EFS filesystem {fs_arn} not found.") from None
        targets = efs.describe_mount_targets(FileSystemId=fs_id)["MountTargets"]
        config = body["Ec2Config"]
        subnet = self._own(_EC2_ARN, config["SubnetArn"], account, region, "subnet")
        groups = [self._own(_EC2_ARN, arn, account, region, "security group")
                  for arn in config["SecurityGroupArns"]]
        ec2 = self.gateway.client("ec2", region, account)
        found = ec2.describe_subnets(Filters=[{"Name": "subnet-id",
                                               "Values": [subnet.rpartition("/")[2]]}])["Subnets"]
        if not found:
            raise bad(f"Subnet {config['SubnetArn']} not found.")
        zones = {t["AvailabilityZoneName"] for t in targets}
        vpcs = {t["VpcId"] for t in targets}
        if found[0]["VpcId"] not in vpcs or found[0]["AvailabilityZone"] not in zones:
            raise bad("The subnet must be in the VPC of the EFS file system and in the "
                      "Availability Zone of one of its mount targets.")
        ids = [g.rpartition("/")[2] for g in groups]
        known = ec2.describe_security_groups(Filters=[{"Name": "group-id", "Values": ids}])
        if {g["GroupId"] for g in known["SecurityGroups"]} != set(ids):
            raise bad(f"Security groups {config['SecurityGroupArns']} not found.")
        point, role = body.get("AccessPointArn"), body.get("FileSystemAccessRoleArn")
        if role:
            match = _ROLE_ARN.fullmatch(role)
            if match is None:
                raise bad(f"Invalid FileSystemAccessRoleArn: {role}")
            if match.group(1) != account:
                raise bad(f"The role {role} belongs to another account: DataSync assumes a "
                          "role of the location's account.")
        if (point or role) and body.get("InTransitEncryption") != "TLS1_2":
            raise bad("InTransitEncryption must be TLS1_2 when an access point or a file "
                      "system access role is specified.")
        if point:
            point_id = self._own(_EFS_ARN, point, account, region, "access point")
            points = efs.describe_access_points(FileSystemId=fs_id)["AccessPoints"]
            if point_id.rpartition("/")[2] not in {p["AccessPointId"] for p in points}:
                raise bad(f"Access point {point} not found for {fs_arn}.")
        subdirectory = "/" + "/".join(p for p in body.get("Subdirectory", "/").split("/") if p)
        if ".." in subdirectory.split("/"):
            raise bad("Subdirectory must not contain '..'.")
        arn = f"arn:aws:datasync:{region}:{account}:location/loc-{secrets.token_hex(9)[:17]}"
        location = {
            "LocationArn": arn, "Ec2Config": config, "CreationTime": epoch(self.config.clock()),
            "LocationUri": f"efs://{region}.{fs_id}{subdirectory.rstrip('/')}/",
            "InTransitEncryption": body.get("InTransitEncryption", "NONE"),
            **({"AccessPointArn": point} if point else {}),
            **({"FileSystemAccessRoleArn": role} if role else {}),
            "_account": account, "_region": region, "_fs": fs_id, "_subdirectory": subdirectory}
        with self.state.lock:
            self.state.locations[arn] = location
            self.state.tags[arn] = {t["Key"]: t.get("Value", "") for t in body.get("Tags", [])}
        return {"LocationArn": arn}

    def _DescribeLocationEfs(self, account: str, region: str, body: dict[str, Any]) -> Any:
        return _public(self._location(account, region, body["LocationArn"]))

    def _ListLocations(self, account: str, region: str, body: dict[str, Any]) -> Any:
        with self.state.lock:
            found = [{"LocationArn": arn, "LocationUri": loc["LocationUri"]}
                     for arn, loc in self.state.locations.items()
                     if (loc["_account"], loc["_region"]) == (account, region)
                     and all(_matches(f, {"LocationUri": loc["LocationUri"],
                                          "LocationType": "EFS"})
                             for f in body.get("Filters", []))]
        return _page(found, "Locations", body)

    def _DeleteLocation(self, account: str, region: str, body: dict[str, Any]) -> Any:
        arn = body["LocationArn"]
        self._location(account, region, arn)
        with self.state.lock:
            users = [t for t in self.state.tasks.values()
                     if arn in (t["SourceLocationArn"], t["DestinationLocationArn"])]
            if users:
                raise bad(f"Location {arn} is used by task {users[0]['TaskArn']}.")
            del self.state.locations[arn]
            self.state.tags.pop(arn, None)
        return {}

    # -- tasks -----------------------------------------------------------------------------
    def _CreateTask(self, account: str, region: str, body: dict[str, Any]) -> Any:
        source = self._location(account, None, body["SourceLocationArn"])
        target = self._location(account, None, body["DestinationLocationArn"])
        if region not in (source["_region"], target["_region"]):
            raise bad("One of the task's locations must be in the Region where the task is "
                      f"created ({region}).")
        if body.get("TaskMode", "BASIC") != "BASIC":
            raise bad("Enhanced mode supports only Amazon S3 locations.")
        options = {**OPTION_DEFAULTS, **body.get("Options", {})}
        _check_options(options)
        arn = f"arn:aws:datasync:{region}:{account}:task/task-{secrets.token_hex(9)[:17]}"
        with self.state.lock:
            mine = [t for t in self.state.tasks.values()
                    if (t["_account"], t["_region"]) == (account, region)]
            if len(mine) >= TASK_QUOTA:
                raise bad(f"You have reached the maximum number of tasks ({TASK_QUOTA}) "
                          "allowed in this Region for your account.")
            self.state.tasks[arn] = {
                "TaskArn": arn, "Status": "AVAILABLE", "Name": body.get("Name", ""),
                "SourceLocationArn": source["LocationArn"],
                "DestinationLocationArn": target["LocationArn"], "Options": options,
                "Excludes": body.get("Excludes", []), "Includes": body.get("Includes", []),
                "CreationTime": epoch(self.config.clock()), "TaskMode": "BASIC",
                "_account": account, "_region": region, "_executions": []}
            self.state.tags[arn] = {t["Key"]: t.get("Value", "") for t in body.get("Tags", [])}
        return {"TaskArn": arn}

    def _DescribeTask(self, account: str, region: str, body: dict[str, Any]) -> Any:
        task = self._task(account, region, body["TaskArn"])
        with self.state.lock:
            answer = _public(task)
            running = self._running(task)
            answer["Status"] = "RUNNING" if running else "AVAILABLE"
            if running:
                answer["CurrentTaskExecutionArn"] = running.arn
        return answer

    def _ListTasks(self, account: str, region: str, body: dict[str, Any]) -> Any:
        with self.state.lock:
            found = [{"TaskArn": arn, "Name": t["Name"], "TaskMode": "BASIC",
                      "Status": "RUNNING" if self._running(t) else "AVAILABLE"}
                     for arn, t in self.state.tasks.items()
                     if (t["_account"], t["_region"]) == (account, region)
                     and all(_matches(f, {"LocationId": t["SourceLocationArn"]})
                             or _matches(f, {"LocationId": t["DestinationLocationArn"]})
                             for f in body.get("Filters", []))]
        return _page(found, "Tasks", body)

    def _DeleteTask(self, account: str, region: str, body: dict[str, Any]) -> Any:
        task = self._task(account, region, body["TaskArn"])
        with self.state.lock:
            if self._running(task):
                raise bad(f"Task {task['TaskArn']} has an execution running; cancel it first.")
            del self.state.tasks[task["TaskArn"]]
            self.state.tags.pop(task["TaskArn"], None)
        return {}

    # -- executions ------------------------------------------------------------------------
    def _StartTaskExecution(self, account: str, region: str, body: dict[str, Any]) -> Any:
        task = self._task(account, region, body["TaskArn"])
        options = {**task["Options"], **body.get("OverrideOptions", {})}
        _check_options(options)
        with self.state.lock:
            running = self._running(task)
            if running is not None:
                raise bad(f"Task {task['TaskArn']} already has an execution running "
                          f"({running.arn}); only one can run at a time.")
            source = self.state.locations[task["SourceLocationArn"]]
            target = self.state.locations[task["DestinationLocationArn"]]
            arn = f"{task['TaskArn']}/execution/exec-{secrets.token_hex(9)[:17]}"
            execution = Execution(arn, options, dict(source), dict(target),
                                  epoch(self.config.clock()))
            self.state.executions[arn] = execution
            task["_executions"].append(arn)
        self.runner.start(execution, self.gateway)
        return {"TaskExecutionArn": arn}

    def _DescribeTaskExecution(self, account: str, region: str, body: dict[str, Any]) -> Any:
        execution = self._execution(account, region, body["TaskExecutionArn"])
        with self.state.lock:
            return execution.describe()

    def _ListTaskExecutions(self, account: str, region: str, body: dict[str, Any]) -> Any:
        with self.state.lock:
            if body.get("TaskArn"):
                arns = self._task(account, region, body["TaskArn"], locked=True)["_executions"]
            else:
                arns = [a for a in self.state.executions if _DS_ARN.fullmatch(a) and
                        a.split(":")[3:5] == [region, account]]
            found = [{"TaskExecutionArn": a, "Status": self.state.executions[a].status,
                      "TaskMode": "BASIC"} for a in arns]
        return _page(found, "TaskExecutions", body)

    def _CancelTaskExecution(self, account: str, region: str, body: dict[str, Any]) -> Any:
        execution = self._execution(account, region, body["TaskExecutionArn"])
        with self.state.lock:
            if execution.done:
                raise bad(f"Task execution {execution.arn} is not running.")
            execution.cancel = True
            execution.status = "CANCELLING"
        return {}

    # -- tags ------------------------------------------------------------------------------
    def _TagResource(self, account: str, region: str, body: dict[str, Any]) -> Any:
        arn = self._resource(account, region, body["ResourceArn"])
        with self.state.lock:
            self.state.tags[arn].update({t["Key"]: t.get("Value", "") for t in body["Tags"]})
        return {}

    def _UntagResource(self, account: str, region: str, body: dict[str, Any]) -> Any:
        arn = self._resource(account, region, body["ResourceArn"])
        with self.state.lock:
            for key in body["Keys"]:
                self.state.tags[arn].pop(key, None)
        return {}

    def _ListTagsForResource(self, account: str, region: str, body: dict[str, Any]) -> Any:
        arn = self._resource(account, region, body["ResourceArn"])
        with self.state.lock:
            found = [{"Key": k, "Value": v} for k, v in sorted(self.state.tags[arn].items())]
        return _page(found, "Tags", body)

    # -- lookups ---------------------------------------------------------------------------
    def _own(self, pattern: re.Pattern[str], arn: str, account: str, region: str,
             what: str) -> str:
        match = pattern.fullmatch(arn)
        if match is None:
            raise bad(f"Invalid {what} ARN: {arn}")
        if match.group(2) != account:
            raise bad(f"The {what} {arn} belongs to another account.")
        if match.group(1) != region:
            raise bad(f"The {what} {arn} is not in {region}: create the location in the "
                      "Region of its file system.")
        return arn.split(":", 5)[5]

    def _location(self, account: str, region: str | None, arn: str) -> dict[str, Any]:
        with self.state.lock:
            location = self.state.locations.get(arn)
        if location is None or location["_account"] != account or (
                region is not None and location["_region"] != region):
            raise bad(f"Location {arn} not found.")
        return location

    def _task(self, account: str, region: str, arn: str,
              locked: bool = False) -> dict[str, Any]:
        task = self.state.tasks.get(arn) if locked else self._locked_get(arn)
        if task is None or (task["_account"], task["_region"]) != (account, region):
            raise bad(f"Task {arn} not found.")
        return task

    def _locked_get(self, arn: str) -> dict[str, Any] | None:
        with self.state.lock:
            return self.state.tasks.get(arn)

    def _execution(self, account: str, region: str, arn: str) -> Execution:
        self._task(account, region, arn.partition("/execution/")[0])
        with self.state.lock:
            execution = self.state.executions.get(arn)
        if execution is None:
            raise bad(f"Task execution {arn} not found.")
        return execution

    def _resource(self, account: str, region: str, arn: str) -> str:
        with self.state.lock:
            known = arn in self.state.tags
        if not known or f":{region}:{account}:" not in arn:
            raise bad(f"Resource {arn} not found.")
        return arn

    def _running(self, task: dict[str, Any]) -> Execution | None:
        for arn in task["_executions"]:
            execution = self.state.executions[arn]
            if not execution.done:
                return execution
        return None


def _check_options(options: dict[str, Any]) -> None:
    """The combinations the Options documentation forbids."""
    if options["Atime"] == "BEST_EFFORT" and options["Mtime"] != "PRESERVE":
        raise bad("Atime BEST_EFFORT requires Mtime PRESERVE.")
    if options["Mtime"] == "NONE" and options["Atime"] != "NONE":
        raise bad("Mtime NONE requires Atime NONE.")
    if options["PreserveDeletedFiles"] == "REMOVE" and options["TransferMode"] == "ALL":
        raise bad("PreserveDeletedFiles REMOVE cannot be used with TransferMode ALL.")


def _matches(rule: dict[str, Any], values: dict[str, str]) -> bool:
    value = values.get(rule["Name"])
    if value is None:
        return False
    wanted, operator = rule["Values"], rule["Operator"]
    if operator in ("Equals", "In"):
        return value in wanted
    if operator == "NotEquals":
        return value not in wanted
    if operator == "BeginsWith":
        return any(value.startswith(w) for w in wanted)
    if operator == "Contains":
        return any(w in value for w in wanted)
    raise bad(f"Operator {operator} is not supported for {rule['Name']}.")


def _page(items: list[dict[str, Any]], key: str, body: dict[str, Any]) -> dict[str, Any]:
    start = int(body.get("NextToken") or 0)
    limit = int(body.get("MaxResults", 100))
    answer: dict[str, Any] = {key: items[start:start + limit]}
    if start + limit < len(items):
        answer["NextToken"] = str(start + limit)
    return answer


def _public(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if not k.startswith("_")}

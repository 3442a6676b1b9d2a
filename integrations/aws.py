"""AWS CloudWatch through boto3: one client per account/region, ``GetMetricData`` with pagination.

Credentials come from the AWS chain (environment variables, a named profile, the
instance or task role), optionally exchanged for an assumed ``role_arn``: several accounts
and regions side by side, nothing secret in Beacon's database. botocore's own retries are
off: throttling surfaces as ``Throttled`` so the Celery task backs off with jitter, in one place.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)

from .http_json import Point, SourceError, Throttled, TransientSourceError

THROTTLING_CODES = {
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestLimitExceeded",
    "TooManyRequestsException",
    "RequestThrottled",
    "RequestThrottledException",
}
TRANSIENT_CODES = {"InternalFailure", "InternalServiceError", "ServiceUnavailable", "InternalServerError"}


# Assumed-role credentials per (profile, role, region, STS endpoint), reused until shortly
# before they expire: one AssumeRole call an hour per role, not one per poll.
_ROLE_CREDENTIALS: dict[tuple, dict] = {}
_ROLE_LOCK = threading.Lock()
REFRESH_BEFORE_EXPIRY = timedelta(minutes=5)


def _assumed_credentials(session, *, role_arn: str, region: str, sts_endpoint_url: str, config) -> dict:
    key = (session.profile_name, role_arn, region, sts_endpoint_url)
    with _ROLE_LOCK:
        cached = _ROLE_CREDENTIALS.get(key)
    if cached and cached["Expiration"] - REFRESH_BEFORE_EXPIRY > datetime.now(UTC):
        return cached
    # STS has its own endpoint: the CloudWatch endpoint_url (a VPC endpoint, a test server)
    # does not answer AssumeRole.
    sts = session.client("sts", endpoint_url=sts_endpoint_url or None, config=config)
    creds = sts.assume_role(RoleArn=role_arn, RoleSessionName="beacon-metrics")["Credentials"]
    with _ROLE_LOCK:
        _ROLE_CREDENTIALS[key] = creds
    return creds


def cloudwatch_client(
    *,
    region: str,
    endpoint_url: str = "",
    profile: str = "",
    role_arn: str = "",
    sts_endpoint_url: str = "",
    timeout: float = 10,
):
    """A CloudWatch client for one account and region (``role_arn``: through that role)."""
    config = Config(
        region_name=region,
        connect_timeout=timeout,
        read_timeout=timeout,
        retries={"mode": "standard", "total_max_attempts": 1},
    )
    try:
        session = boto3.session.Session(profile_name=profile or None, region_name=region)
        if role_arn:
            creds = _assumed_credentials(
                session, role_arn=role_arn, region=region, sts_endpoint_url=sts_endpoint_url, config=config
            )
            session = boto3.session.Session(
                aws_access_key_id=creds["AccessKeyId"],
                aws_secret_access_key=creds["SecretAccessKey"],
                aws_session_token=creds["SessionToken"],
                region_name=region,
            )
        return session.client("cloudwatch", endpoint_url=endpoint_url or None, config=config)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc) from None


def get_metric_points(
    client,
    *,
    namespace: str,
    metric_name: str,
    dimensions: dict[str, str],
    statistic: str,
    period: int,
    start: datetime,
    end: datetime,
) -> list[Point]:
    """Datapoints of one metric over ``[start, end)``, oldest first. No datapoints is ``[]``, not zero."""
    query = {
        "Id": "m0",
        "MetricStat": {
            "Metric": {
                "Namespace": namespace,
                "MetricName": metric_name,
                "Dimensions": [{"Name": k, "Value": v} for k, v in sorted(dimensions.items())],
            },
            "Period": period,
            "Stat": statistic,
        },
        "ReturnData": True,
    }
    points: dict[datetime, float] = {}
    try:
        paginator = client.get_paginator("get_metric_data")
        for page in paginator.paginate(
            MetricDataQueries=[query], StartTime=start, EndTime=end, ScanBy="TimestampAscending"
        ):
            for result in page.get("MetricDataResults", []):
                for ts, value in zip(result.get("Timestamps", []), result.get("Values", []), strict=False):
                    points[ts.astimezone(UTC)] = float(value)
    except (ClientError, BotoCoreError) as exc:
        raise _translate(exc) from None
    except (ValueError, KeyError, TypeError) as exc:  # botocore could not parse what came back
        raise SourceError(f"CloudWatch sent a malformed response: {exc}") from None
    return sorted(points.items())


def _translate(exc: Exception) -> SourceError:
    if isinstance(exc, ClientError):
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "") or str(exc)
        if code in THROTTLING_CODES:
            return Throttled(f"CloudWatch throttled the request ({code}): {message}")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0
        if code in TRANSIENT_CODES or status >= 500:
            return TransientSourceError(f"CloudWatch {code or status}: {message}")
        return SourceError(f"CloudWatch {code}: {message}")
    if isinstance(exc, (EndpointConnectionError, ConnectTimeoutError, ReadTimeoutError)):
        return TransientSourceError(f"CloudWatch unreachable: {exc}")
    if isinstance(exc, NoCredentialsError):
        return SourceError("no AWS credentials found (set them in the environment, a profile or an instance role)")
    if isinstance(exc, ProfileNotFound):
        return SourceError(f"AWS profile not found: {exc}")
    return SourceError(f"CloudWatch: {exc}")

"""Isolate a host: finds the device with the indicator's address or name in the EDR and contains it."""
from app.workflows.context import WorkflowContext, WorkflowResult

# Your EDR's device API. Its token is the workflow secret EDR_API_TOKEN, which an admin stores
# and grants to this workflow.
EDR_URL = "https://edr.example.com/api/v1"


async def run(ctx: WorkflowContext) -> WorkflowResult:
    if ctx.indicator.type not in ("ip", "domain"):
        return WorkflowResult.fail(f"A host is found by its IP or name, not by {ctx.indicator.type}")
    try:
        token = ctx.secrets["EDR_API_TOKEN"]
    except Exception as exc:
        return WorkflowResult.fail(f"The workflow secret EDR_API_TOKEN cannot be read: {exc}")
    headers = {"Authorization": f"Bearer {token}"}
    field = "ip_address" if ctx.indicator.type == "ip" else "hostname"
    found = await ctx.http.get(f"{EDR_URL}/devices", params={field: ctx.indicator.value}, headers=headers)
    if not found.is_success:
        return WorkflowResult.fail(f"The device lookup failed: HTTP {found.status_code}")
    devices = found.json().get("devices", [])
    if len(devices) != 1:
        return WorkflowResult.fail(f"Expected one device for {ctx.indicator.value}, found {len(devices)}")
    device_id = devices[0]["id"]
    contained = await ctx.http.post(f"{EDR_URL}/devices/{device_id}/contain", json={"reason": "Calseta"}, headers=headers)
    if not contained.is_success:
        ctx.log.error("containment refused", device_id=device_id, status=contained.status_code)
        return WorkflowResult.fail(f"The EDR refused to isolate {device_id}: HTTP {contained.status_code}")
    ctx.log.info("host isolated", device_id=device_id)
    return WorkflowResult.ok(f"Host {ctx.indicator.value} ({device_id}) isolated", data={"device_id": device_id})
